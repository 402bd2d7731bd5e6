// The kubelet's HTTPS API against real peers: curl over real TLS with client certificates from a
// CA made here, and (as root) one containerd + one kubelet + one small pod for /pods,
// /containerLogs and /stats/summary. Authentication cases that need no pod use a bare server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason, type ContainerdFixture } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { issueCert, type Pem } from '../../host/kubelet/server/certs.js';
import { serveKubeApi, type KubeApiServer } from '../../host/kubelet/server/kubeapi.js';

const NODE = 'e2e-api';
const h = new Harness();
const noCurl = have('curl') ? undefined : 'curl is not installed';
const skip = noCurl ?? containerdSkipReason();
const run = promisify(execFile);
let dir: string;
let ca: Pem;
let caFile: string;
let clientCert: string;
let clientKey: string;
let c: ContainerdFixture | undefined;
let kubelet: Kubelet | undefined;

before(async () => {
  dir = h.tempDir('ccl-e2e-api-');
  ca = await issueCert({ cn: 'e2e-ca', isCa: true });
  caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.cert);
  const client = await issueCert({ cn: 'ops-alice', o: ['ops'], client: true, issuer: ca });
  clientCert = join(dir, 'client.crt');
  clientKey = join(dir, 'client.key');
  writeFileSync(clientCert, client.cert);
  writeFileSync(clientKey, client.key, { mode: 0o600 });
  if (skip) return;
  c = await startContainerd(h);
  const runtime = new CriClient({ endpoint: c!.address });
  h.defer('cri client', () => runtime.close());
  mkdirSync(join(dir, 'manifests'));
  kubelet = new Kubelet({
    settings: {
      config: {
        ...defaultKubeletConfiguration(),
        staticPodPath: join(dir, 'manifests'),
        podLogsDir: join(dir, 'logs'),
        containerRuntimeEndpoint: c!.address,
        authentication: { x509: { clientCAFile: caFile }, anonymous: { enabled: false } },
        authorization: { mode: 'AlwaysAllow' },
      },
      rootDir: join(dir, 'root'),
      nodeName: NODE,
      runtimeClassHandlers: DEFAULT_RUNTIME_CLASSES,
    },
    cri: runtime,
    images: runtime,
    server: { address: '127.0.0.1', port: 0 },
  });
  const k = kubelet;
  h.defer('kubelet and its pods', async () => {
    await k.stopAllPods(0);
    await k.stop();
  });
  await k.start();
});

// Teardown runs in reverse: kubelet (pods first), CRI client, containerd, temp dirs.
after(() => h.dispose());

/** curl over TLS, verifying the kubelet's serving certificate; with the test client certificate if asked. */
async function curl(s: KubeApiServer, path: string, o: { cert?: boolean } = {}): Promise<{ status: number; body: string }> {
  const args = ['-sS', '--cacert', s.certFile, '-w', '\n%{http_code}', ...(o.cert ? ['--cert', clientCert, '--key', clientKey] : []), `https://localhost:${s.port}${path}`];
  const { stdout } = await run('curl', args, { maxBuffer: 16 << 20 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

async function bareServer(o: { anonymous: boolean; authzMode: 'AlwaysAllow' | 'Webhook'; root: string }): Promise<KubeApiServer> {
  const s = await serveKubeApi({
    address: '127.0.0.1',
    port: 0,
    webhookAuthn: true,
    clientCAFile: caFile,
    nodeName: NODE,
    rootDir: join(dir, o.root),
    checks: [],
    registry: new Registry(),
    pods: () => [],
    podLogsDir: join(dir, 'logs'),
    ...o,
  });
  h.defer('kubelet API server', () => s.close());
  return s;
}

test('anonymous enabled: no certificate is system:anonymous and the authorizer decides', { skip: noCurl }, async () => {
  const open = await bareServer({ anonymous: true, authzMode: 'AlwaysAllow', root: 'open' });
  const r = await curl(open, '/pods');
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] });
  const webhook = await bareServer({ anonymous: true, authzMode: 'Webhook', root: 'webhook' });
  const denied = await curl(webhook, '/pods');
  assert.equal(denied.status, 403);
  assert.match(denied.body, /^Forbidden \(user=system:anonymous, verb=get, resource=nodes, subresource=pods\): authorization\.mode is Webhook but no API server is configured \(--kubeconfig\)/);
  const alice = await curl(webhook, '/stats/summary', { cert: true });
  assert.equal(alice.status, 403);
  assert.match(alice.body, /^Forbidden \(user=ops-alice, verb=get, resource=nodes, subresource=stats\)/);
});

test('x509: a CA-signed client certificate is admitted, no certificate is 401', { skip, timeout: 60_000 }, async () => {
  const s = kubelet!.apiServer!;
  const ok = await curl(s, '/healthz', { cert: true });
  assert.deepEqual(ok, { status: 200, body: 'ok' });
  const none = await curl(s, '/healthz');
  assert.equal(none.status, 401);
  assert.match(none.body, /^Unauthorized: no client certificate or bearer token, and authentication\.anonymous\.enabled is false/);
  const metrics = await curl(s, '/metrics', { cert: true });
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /kubelet_pleg_relist_duration_seconds/);
});

test('a running pod: in /pods, its log lines from /containerLogs, its CPU in /stats/summary', { skip, timeout: 120_000 }, async () => {
  const s = kubelet!.apiServer!;
  const script = 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; for n in 1 2 3 4 5; do echo line-$n; done; exec sleep 3600';
  writeFileSync(
    join(dir, 'manifests', 'api.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api' }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', script] }] } }),
  );
  const name = `api-${NODE}`;
  type PodList = { items: { metadata: { name: string }; status: { phase: string } }[] };
  await waitFor(
    async () => {
      const r = await curl(s, '/pods', { cert: true });
      return r.status === 200 && (JSON.parse(r.body) as PodList).items.some((p) => p.metadata.name === name && p.status.phase === 'Running');
    },
    { what: `${name} Running in /pods`, timeoutMs: 60_000, intervalMs: 200 },
  );
  const logs = await waitFor(
    async () => {
      const r = await curl(s, `/containerLogs/default/${name}/main?tailLines=2`, { cert: true });
      return r.status === 200 && r.body.includes('line-5') ? r : undefined;
    },
    { what: 'log lines', timeoutMs: 30_000, intervalMs: 200 },
  );
  assert.equal(logs.body, 'line-4\nline-5\n');
  const stamped = await curl(s, `/containerLogs/default/${name}/main?tailLines=1&timestamps=true`, { cert: true });
  assert.match(stamped.body, /^\d{4}-\d\d-\d\dT\S+ line-5\n$/);
  const previous = await curl(s, `/containerLogs/default/${name}/main?previous=true`, { cert: true });
  assert.equal(previous.status, 400);
  assert.match(previous.body, /previous terminated container "main" in pod "api-e2e-api" not found/);

  type Summary = { node: { cpu: { usageCoreNanoSeconds: number }; memory: { workingSetBytes: number } }; pods: { podRef: { name: string }; containers: { name: string; cpu: { usageCoreNanoSeconds: number }; memory: { workingSetBytes: number } }[] }[] };
  const sum = await waitFor(
    async () => {
      const r = await curl(s, '/stats/summary', { cert: true });
      const doc = JSON.parse(r.body) as Summary;
      return doc.pods.find((p) => p.podRef.name === name)?.containers.length ? doc : undefined;
    },
    { what: 'pod in /stats/summary', timeoutMs: 30_000, intervalMs: 200 },
  );
  assert.ok(sum.node.cpu.usageCoreNanoSeconds > 0);
  assert.ok(sum.node.memory.workingSetBytes > 0);
  const main = sum.pods.find((p) => p.podRef.name === name)!.containers.find((x) => x.name === 'main');
  assert.ok(main, 'container main in the summary');
  assert.ok(main.cpu.usageCoreNanoSeconds > 0, `cpu ${main.cpu.usageCoreNanoSeconds}`);
  assert.ok(main.memory.workingSetBytes > 0, `memory ${main.memory.workingSetBytes}`);
});
