// kubectl logs -f / exec / attach / port-forward through a real kube-apiserver to cocolet (root:
// real control plane from scripts/build-cluster, real containerd + runc, one cocolet node serving
// its HTTPS API with client certificates from the cluster CA and Webhook authorization by
// SubjectAccessReview). kubectl 1.34 speaks WebSocket to the API server, which talks SPDY to the
// kubelet; cocolet proxies that to containerd's streaming server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason } from '../support/containerd.js';
import { clusterSkipReason, kubectl, kubectlJson, kubectlRun, startCluster } from '../support/cluster.js';
import type { ControlPlane } from '../../host/cluster/controlplane.js';
import { ensureClientCert, type CertFiles } from '../../host/cluster/pki.js';
import { writeKubeconfig } from '../../host/cluster/kubeconfig.js';
import { ensureRuntimeClass } from '../../host/cluster/admin.js';
import { prepareShim } from '../shim/support.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import type { Kubelet } from '../../host/kubelet/kubelet.js';
import { startKubelet } from '../support/kubelet.js';
import { ContainerState } from '../../shared/gen/cri/runtime/v1/api_pb.js';

const NODE = 'stream-node';
const POD = 'streamer';
const SHIM_POD = 'through-the-shim';
const h = new Harness();
const skip = clusterSkipReason() ?? containerdSkipReason() ?? (have('curl') ? undefined : 'curl is not installed');
const run = promisify(execFile);
let cp: ControlPlane;
let cri: CriClient;
let kubelet: Kubelet;
let dir: string;

before(async () => {
  if (skip) return;
  dir = h.tempDir('ccl-e2e-cstream-');
  cp = (await startCluster(h))!;
  // The cocolet shim (fake hypervisor: its agent runs as a local process) for the `cocolet` pod.
  const shim = prepareShim(h);
  process.env.COCOLET_SHIM_CONFIG = shim.configPath;
  const ctd = (await startContainerd(h, undefined, { shimDir: shim.shimDir }))!;
  cri = new CriClient({ endpoint: ctd.address });
  h.defer('cri client', () => cri.close());
  kubelet = await startKubelet(h, {
    dir,
    containerd: ctd,
    cri,
    nodeName: NODE,
    config: { authentication: { x509: { clientCAFile: cp.pki.caFile }, webhook: { enabled: true }, anonymous: { enabled: false } }, authorization: { mode: 'Webhook' } },
    // The API server reaches the kubelet at the Node's InternalIP; everything here is on loopback.
    settings: { kubeconfig: await cp.nodeKubeconfig(NODE), nodeIp: '127.0.0.1' },
  });
  // `main` serves /www on 8080 and sleeps; `writer` prints a line per trigger file, then exits.
  const writer = 'for n in 1 2 3; do echo line-$n; while [ ! -f /tmp/go-$n ]; do sleep 0.05; done; done; echo last-line';
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: POD, namespace: 'default' },
    spec: {
      nodeName: NODE,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      restartPolicy: 'Never',
      containers: [
        { name: 'main', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', 'mkdir -p /www && echo served-by-httpd > /www/index.html && httpd -p 8080 -h /www && exec sleep 3600'] },
        { name: 'writer', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', writer] },
      ],
    },
  };
  await ensureRuntimeClass(cp.adminKubeconfig);
  const shimPod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: SHIM_POD, namespace: 'default' },
    spec: {
      nodeName: NODE,
      runtimeClassName: 'cocolet',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sleep', '3600'] }],
    },
  };
  await kubectl(cp, ['create', '-f', '-'], { input: JSON.stringify(pod) });
  await kubectl(cp, ['create', '-f', '-'], { input: JSON.stringify(shimPod) });
  await waitFor(
    async () => {
      const p = await kubectlJson<{ status: { containerStatuses?: { name: string; state: { running?: unknown } }[] } }>(cp, ['pod', POD]);
      return p.status.containerStatuses?.find((c) => c.name === 'main')?.state.running !== undefined;
    },
    { what: `pod ${POD} main running (API status)`, timeoutMs: 120_000, intervalMs: 500 },
  ).catch(async (e: unknown) => {
    throw new Error(`${(e as Error).message}; the pod: ${await kubectl(cp, ['get', 'pod', POD, '-o', 'json']).catch((x: unknown) => String(x))}`);
  });
});

after(() => h.dispose());

async function containerId(name: string, pod = POD): Promise<string> {
  // By pod too: the shim pod's container is also called `main`.
  const list = await cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': pod, 'io.kubernetes.container.name': name },
    state: { state: ContainerState.CONTAINER_RUNNING },
  });
  assert.ok(list[0], `container ${name} running`);
  return list[0].id;
}

/** A user with a client certificate from the cluster CA and a kubeconfig for it. */
async function user(name: string): Promise<{ cert: CertFiles; kubeconfig: string }> {
  const cert = await ensureClientCert(cp.pki, name, name);
  const kubeconfig = writeKubeconfig(join(dir, `${name}.kubeconfig`), { server: cp.server, caFile: cp.pki.caFile, user: name, credentials: { clientCertificate: cert.certFile, clientKey: cert.keyFile } });
  return { cert, kubeconfig };
}

test('kubectl logs -f shows each line as it is written and ends when the container exits', { skip, timeout: 120_000 }, async () => {
  const p = h.start(cp.kubectl, [`--kubeconfig=${cp.adminKubeconfig}`, 'logs', '-f', POD, '-c', 'writer']);
  let out = '';
  p.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const id = await containerId('writer');
  for (const n of [1, 2, 3]) {
    await waitFor(() => out.includes(`line-${n}\n`), { what: `line-${n} from kubectl logs -f (got ${JSON.stringify(p.output())})`, timeoutMs: 30_000, intervalMs: 50 });
    assert.ok(!out.includes(n === 3 ? 'last-line' : `line-${n + 1}`), 'nothing is shown before it is written');
    await cri.execSync(id, ['touch', `/tmp/go-${n}`], 10);
  }
  assert.equal(await p.exited, 0, p.output());
  assert.equal(out, 'line-1\nline-2\nline-3\nlast-line\n');
});

test("kubectl exec -- sh -c 'echo hi; exit 3' prints hi and returns 3", { skip, timeout: 60_000 }, async () => {
  const r = await kubectlRun(cp, ['exec', POD, '-c', 'main', '--', 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
  assert.equal(r.stdout, 'hi\n');
  assert.match(r.stderr, /oops/);
  assert.equal(r.code, 3, r.stderr);
});

test('kubectl exec -i: stdin reaches the process and its end ends cat', { skip, timeout: 60_000 }, async () => {
  const r = await kubectlRun(cp, ['exec', '-i', POD, '-c', 'main', '--', 'cat'], { input: 'through-stdin\nsecond line\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'through-stdin\nsecond line\n');
});

test('kubectl exec into a pod of the cocolet shim: output, exit code and stdin through its end (issue 14)', { skip, timeout: 120_000 }, async () => {
  await waitFor(
    async () => {
      const p = await kubectlJson<{ status: { containerStatuses?: { name: string; state: { running?: unknown } }[] } }>(cp, ['pod', SHIM_POD]);
      return p.status.containerStatuses?.[0]?.state.running !== undefined;
    },
    { what: `pod ${SHIM_POD} running`, timeoutMs: 90_000, intervalMs: 500 },
  );
  const r = await kubectlRun(cp, ['exec', SHIM_POD, '--', 'sh', '-c', 'echo from-the-shim; exit 5']);
  assert.equal(r.stdout, 'from-the-shim\n');
  assert.equal(r.code, 5, r.stderr);
  const cat = await kubectlRun(cp, ['exec', '-i', SHIM_POD, '--', 'cat'], { input: 'one\ntwo\n' });
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'one\ntwo\n');
});

test('kubectl attach shows what the container writes', { skip, timeout: 60_000 }, async () => {
  const p = h.start(cp.kubectl, [`--kubeconfig=${cp.adminKubeconfig}`, 'attach', POD, '-c', 'main']);
  // Attach is established once the container's own output reaches kubectl; write until it does.
  const id = await containerId('main');
  await waitFor(
    async () => {
      await cri.execSync(id, ['sh', '-c', 'echo attached-line > /proc/1/fd/1'], 10);
      return p.output().includes('attached-line');
    },
    { what: `attached output (got ${JSON.stringify(p.output())})`, timeoutMs: 30_000, intervalMs: 300 },
  );
  await p.stop();
});

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('kubectl port-forward reaches busybox httpd in the pod', { skip, timeout: 60_000 }, async () => {
  const id = await containerId('main');
  await waitFor(async () => (await cri.execSync(id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 10)).exitCode === 0, { what: 'httpd answering inside the pod', timeoutMs: 30_000, intervalMs: 200 });
  const p = h.start(cp.kubectl, [`--kubeconfig=${cp.adminKubeconfig}`, 'port-forward', `pod/${POD}`, ':8080', '--address=127.0.0.1']);
  const m = await p.waitForOutput(/Forwarding from 127\.0\.0\.1:(\d+) -> 8080/, { timeoutMs: 30_000 });
  const first = await httpGet(Number(m[1]), '/index.html');
  assert.deepEqual(first, { status: 200, body: 'served-by-httpd\n' });
  const second = await httpGet(Number(m[1]), '/index.html');
  assert.equal(second.body, 'served-by-httpd\n', 'a second connection over the same forward');
  await p.stop();
});

test('authorization: the API server refuses exec without RBAC; the kubelet asks the API server (SubjectAccessReview) for direct callers', { skip, timeout: 60_000 }, async () => {
  // RBAC for the admitted user first, so that no denial of it is ever cached (30 s) by the kubelet.
  const ops = await user('node-operator');
  await kubectl(cp, ['create', 'clusterrole', 'node-proxy-runner', '--verb=create,get', '--resource=nodes/proxy']);
  await kubectl(cp, ['create', 'clusterrolebinding', 'node-operator-proxy', '--clusterrole=node-proxy-runner', '--user=node-operator']);
  await waitFor(async () => (await kubectl(cp, ['auth', 'can-i', 'create', 'nodes', '--subresource=proxy', '--as=node-operator']).catch(() => 'no')).trim() === 'yes', { what: 'RBAC for node-operator', timeoutMs: 30_000, intervalMs: 200 });
  const nobody = await user('nobody');
  const viaApi = await kubectlRun(cp, ['exec', POD, '-c', 'main', '--', 'true'], { kubeconfig: nobody.kubeconfig });
  assert.notEqual(viaApi.code, 0);
  assert.match(viaApi.stderr, /forbidden: User "nobody" cannot (get|create) resource "pods\/exec"|cannot get resource "pods"/i);
  // Direct to the kubelet: the certificate is good (cluster CA), the SubjectAccessReview says no.
  const s = kubelet.apiServer!;
  const curl = async (cert: CertFiles, method: string, path: string): Promise<{ status: number; body: string }> => {
    const { stdout } = await run('curl', ['-sS', '-k', '-X', method, '--cert', cert.certFile, '--key', cert.keyFile, '-w', '\n%{http_code}', `https://127.0.0.1:${s.port}${path}`]);
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  };
  const denied = await curl(nobody.cert, 'POST', `/run/default/${POD}/main?cmd=id`);
  assert.equal(denied.status, 403);
  assert.match(denied.body, /^Forbidden \(user=nobody, verb=create, resource=nodes, subresource=proxy\)/);
  // A user bound to a role with nodes/proxy is admitted by the same check.
  const ran = await curl(ops.cert, 'POST', `/run/default/${POD}/main?cmd=echo+allowed`);
  assert.deepEqual(ran, { status: 200, body: 'allowed\n' });
});
