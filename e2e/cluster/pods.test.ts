// cocolet as a node of a real control plane (etcd, kube-apiserver with Node,RBAC + NodeRestriction,
// controller-manager, scheduler v1.34) on real containerd + runc + CNI: a Deployment of 3 reaches
// Running with the status fields upstream writes and the kubelet's events; configMap / secret /
// projected token volumes appear and update in place, the token is bound to the pod and has its
// audience (TokenReview); the pod watch survives a dropped connection, an API server restart and a
// forced 410 without losing or duplicating a pod; `kubectl delete` is graceful with a preStop hook.
// The kubelet reaches the API server through a TCP proxy the test can cut.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { createLogger } from '../../shared/log/logger.js';
import { startContainerd, containerdSkipReason } from '../support/containerd.js';
import { clusterSkipReason, kubectl, kubectlJson, kubectlRun, startCluster } from '../support/cluster.js';
import type { ControlPlane } from '../../host/cluster/controlplane.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import type { PodStatus } from '../../host/kubelet/api/types.js';

const NODE = 'cocolet-e2e';
const NS = 'e2e';
const skip = containerdSkipReason() ?? clusterSkipReason();
const h = new Harness();
let cp: ControlPlane;
let cri: CriClient;
let kubelet: Kubelet;
let proxy: TcpProxy;
let dir: string;
let manifests: string;

interface TcpProxy {
  port: number;
  /** Cuts every open connection (the kubelet's watch drops mid-stream). */
  dropAll(): number;
  close(): Promise<void>;
}

function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        dropAll: () => {
          const n = open.size;
          for (const s of open) s.destroy();
          open.clear();
          return n;
        },
        close: () =>
          new Promise<void>((r) => {
            for (const s of open) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

interface ApiPod {
  metadata: {
    name: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: { nodeName?: string };
  status: PodStatus & { hostIPs?: { ip: string }[] };
}

const webPods = async (): Promise<ApiPod[]> => (await kubectlJson<{ items: ApiPod[] }>(cp, ['pods', '-n', NS, '-l', 'app=web'])).items;
const containerId = (p: ApiPod): string => p.status.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
const cat = async (p: ApiPod, path: string): Promise<string> => {
  const r = await cri.execSync(containerId(p), ['cat', path], 10);
  return Buffer.from(r.stdout).toString('utf8');
};

/**
 * The API's live web pods, the kubelet's pods and the runtime's ready sandboxes are the same set
 * of `n` UIDs, one sandbox each, all Running: nothing lost, nothing duplicated.
 */
async function converged(n: number): Promise<ApiPod[] | undefined> {
  const api = (await webPods()).filter((p) => !p.metadata.deletionTimestamp);
  if (api.length !== n || !api.every((p) => p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.ready)) return undefined;
  const uids = api.map((p) => p.metadata.uid).sort();
  const mine = [...kubelet.pods.values()].filter((p) => p.metadata.namespace === NS && p.metadata.labels?.app === 'web').map((p) => p.metadata.uid!).sort();
  const sandboxes = (await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.namespace': NS } })).filter((s) => s.state === 0 && s.labels['app'] === 'web');
  const sbUids = sandboxes.map((s) => s.metadata!.uid).sort();
  if (mine.join() !== uids.join() || sbUids.join() !== uids.join()) return undefined;
  return api;
}
const until = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000): Promise<NonNullable<T>> =>
  waitFor(fn as () => Promise<T>, { what, timeoutMs, intervalMs: 500 }) as Promise<NonNullable<T>>;

const DEPLOYMENT = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: NS },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        terminationGracePeriodSeconds: 3,
        containers: [
          {
            name: 'main',
            image: BUSYBOX_IMAGE,
            command: ['sh', '-c', 'exec sleep 3600'],
            volumeMounts: [
              { name: 'conf', mountPath: '/etc/conf' },
              { name: 'sec', mountPath: '/etc/sec' },
              { name: 'vault-token', mountPath: '/var/run/vault' },
            ],
          },
        ],
        volumes: [
          { name: 'conf', configMap: { name: 'conf' } },
          { name: 'sec', secret: { secretName: 'sec', defaultMode: 0o400 } },
          { name: 'vault-token', projected: { sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 600, path: 'token' } }] } },
        ],
      },
    },
  },
};

before(async () => {
  if (skip) return;
  const c = await startContainerd(h);
  cri = new CriClient({ endpoint: c!.address });
  h.defer('cri client', () => cri.close());
  cp = (await startCluster(h, undefined, { nodeMonitorGracePeriod: '40s' }))!;
  proxy = await tcpProxy(cp.ports.apiserver);
  h.defer('api proxy', () => proxy.close());
  dir = h.tempDir('ccl-cluster-');
  manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  // The node's credentials, through the proxy.
  const kubeconfig = join(dir, 'kubelet.kubeconfig');
  writeFileSync(kubeconfig, readFileSync(await cp.nodeKubeconfig(NODE), 'utf8').replaceAll(cp.server, `https://127.0.0.1:${proxy.port}`));
  kubelet = new Kubelet({
    settings: {
      config: { ...defaultKubeletConfiguration(), podLogsDir: join(dir, 'logs'), containerRuntimeEndpoint: c!.address, syncFrequency: '5s', staticPodPath: manifests, fileCheckFrequency: '5s' },
      rootDir: join(dir, 'root'),
      nodeName: NODE,
      kubeconfig,
      runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
    },
    cri,
    images: cri,
    // COCOLET_E2E_LOG=<file>: the kubelet's log, for when this test fails.
    ...(process.env.COCOLET_E2E_LOG ? { logger: createLogger({ component: 'kubelet', level: 'debug', destination: openSync(process.env.COCOLET_E2E_LOG, 'a') }) } : {}),
  });
  await kubelet.start();
  h.defer('kubelet', async () => {
    await kubelet.stopAllPods(0);
    await kubelet.stop();
  });
  await until('node Ready', async () => {
    const n = await kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>(cp, ['node', NODE]).catch(() => undefined);
    return n?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True');
  });
  await kubectl(cp, ['create', 'namespace', NS]);
  await until('default ServiceAccount in the namespace', () => kubectlRun(cp, ['get', 'serviceaccount', 'default', '-n', NS]).then((r) => r.code === 0 || undefined));
  await kubectl(cp, ['create', 'configmap', 'conf', '-n', NS, '--from-literal=greeting=hello']);
  await kubectl(cp, ['create', 'secret', 'generic', 'sec', '-n', NS, '--from-literal=password=s3cret']);
});

after(() => h.dispose());

test('a Deployment of 3 reaches Running on cocolet with the status upstream writes', { skip, timeout: 300_000 }, async () => {
  await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify(DEPLOYMENT) });
  const pods = await until('3 web pods Running', () => converged(3), 240_000);
  const node = await kubectlJson<{ status: { addresses?: { type: string; address: string }[] } }>(cp, ['node', NODE]);
  const internal = node.status.addresses?.find((a) => a.type === 'InternalIP')?.address;
  for (const p of pods) {
    const s = p.status;
    assert.equal(p.spec.nodeName, NODE);
    assert.equal(s.phase, 'Running');
    for (const type of ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']) {
      const c = s.conditions?.find((x) => x.type === type);
      assert.equal(c?.status, 'True', `${p.metadata.name} condition ${type}`);
      assert.ok(c?.lastTransitionTime, `${type} has a lastTransitionTime`);
    }
    assert.match(s.podIP ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.deepEqual(s.podIPs, [{ ip: s.podIP }]);
    if (internal) {
      assert.equal(s.hostIP, internal);
      assert.deepEqual(s.hostIPs, [{ ip: internal }]);
    }
    assert.ok(s.startTime && Date.parse(s.startTime) > 0);
    assert.equal(s.qosClass, 'BestEffort');
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.name, 'main');
    assert.equal(cs.ready, true);
    assert.equal(cs.started, true);
    assert.equal(cs.restartCount, 0);
    assert.equal(cs.image, BUSYBOX_IMAGE);
    assert.ok(cs.imageID, 'imageID set');
    assert.match(cs.containerID ?? '', /^containerd:\/\/[0-9a-f]{64}$/);
    assert.ok(cs.state.running?.startedAt);
  }
  // Events: the scheduler's Scheduled, then the kubelet's own, in the pod's namespace.
  const uid = pods[0]!.metadata.uid;
  const events = await until('kubelet events recorded', async () => {
    const all = (await kubectlJson<{ items: { reason: string; source?: { component?: string; host?: string }; involvedObject: { uid: string; kind: string } }[] }>(cp, ['events', '-n', NS])).items;
    const mine = all.filter((e) => e.involvedObject.uid === uid);
    return ['Scheduled', 'Pulled', 'Created', 'Started'].every((r) => mine.some((e) => e.reason === r)) ? mine : undefined;
  });
  for (const e of events.filter((x) => x.reason !== 'Scheduled')) {
    assert.equal(e.source?.component, 'kubelet');
    assert.equal(e.source?.host, NODE);
    assert.equal(e.involvedObject.kind, 'Pod');
  }
});

test('configMap, secret and projected token volumes appear and update in place; the token is bound and has its audience', { skip, timeout: 240_000 }, async () => {
  const pods = await until('3 web pods', () => converged(3));
  const p = pods[0]!;
  assert.equal(await cat(p, '/etc/conf/greeting'), 'hello');
  assert.equal(await cat(p, '/etc/sec/password'), 's3cret');
  assert.equal(await cat(p, '/var/run/secrets/kubernetes.io/serviceaccount/namespace'), NS);
  assert.match(await cat(p, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt'), /BEGIN CERTIFICATE/);
  const saToken = await cat(p, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  const token = await cat(p, '/var/run/vault/token');
  const review = async (t: string, audiences?: string[]) =>
    JSON.parse(
      await kubectl(cp, ['create', '-o', 'json', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: t, ...(audiences ? { audiences } : {}) } }),
      }),
    ) as { status: { authenticated?: boolean; audiences?: string[]; user?: { username?: string; extra?: Record<string, string[]> } } };
  const r = await review(token, ['vault']);
  assert.equal(r.status.authenticated, true);
  assert.deepEqual(r.status.audiences, ['vault']);
  assert.equal(r.status.user?.username, `system:serviceaccount:${NS}:default`);
  assert.deepEqual(r.status.user?.extra?.['authentication.kubernetes.io/pod-name'], [p.metadata.name]);
  assert.deepEqual(r.status.user?.extra?.['authentication.kubernetes.io/pod-uid'], [p.metadata.uid]);
  assert.notEqual((await review(token)).status.authenticated, true, 'the vault token is not accepted for the API server audience');
  assert.equal((await review(saToken)).status.authenticated, true, 'the kube-api-access token works for the API server');
  // Mode from defaultMode, through the ..data symlink.
  const mode = await cri.execSync(containerId(p), ['stat', '-L', '-c', '%a', '/etc/sec/password'], 10);
  assert.equal(Buffer.from(mode.stdout).toString().trim(), '400');

  await kubectl(cp, ['create', 'configmap', 'conf', '-n', NS, '--from-literal=greeting=bonjour', '--dry-run=client', '-o', 'json']).then((j) => kubectl(cp, ['replace', '-f', '-'], { input: j }));
  await until('configMap update visible in every running container', async () => {
    for (const q of pods) if ((await cat(q, '/etc/conf/greeting').catch(() => '')) !== 'bonjour') return undefined;
    return true;
  });
  const after = await until('same pods', () => converged(3));
  assert.deepEqual(after.map(containerId).sort(), pods.map(containerId).sort(), 'updated in place: no container restarted');
  // Watched (configMapAndSecretChangeDetectionStrategy: Watch), one watch per object for all 3 pods;
  // the update reached the pods through it (a change after the first list).
  const watched = kubelet.api!.objects!.watched();
  assert.equal(watched.get(`configmaps/${NS}/conf`)?.pods, 3);
  assert.ok((watched.get(`configmaps/${NS}/conf`)?.changes ?? 0) >= 2, 'the update came by the watch');
  assert.equal(watched.get(`secrets/${NS}/sec`)?.pods, 3);
  assert.ok((watched.get(`configmaps/${NS}/kube-root-ca.crt`)?.pods ?? 0) >= 3, 'the kube-api-access volume');
});

test('the pod watch survives a dropped connection, an API server restart and a forced 410: no pod lost or duplicated', { skip, timeout: 400_000 }, async () => {
  const reflector = kubelet.api!.source.reflector;
  const first = await until('3 web pods', () => converged(3));
  const ids = new Set(first.map(containerId));

  // 1. A dropped watch: the connection is cut while the Deployment grows.
  const watches = reflector.stats.watches;
  assert.ok(proxy.dropAll() > 0, 'connections were open');
  await kubectl(cp, ['scale', 'deployment', 'web', '-n', NS, '--replicas=4']);
  const four = await until('4 web pods after the drop', () => converged(4));
  assert.ok(reflector.stats.watches > watches, 'watched again');
  assert.ok(first.every((p) => four.some((q) => q.metadata.uid === p.metadata.uid)), 'the first 3 kept');

  // 2. The API server restarts (same data): the kubelet watches again and follows a scale-down.
  const lists = reflector.stats.lists;
  await cp.restart('kube-apiserver');
  await kubectl(cp, ['scale', 'deployment', 'web', '-n', NS, '--replicas=2']);
  const two = await until('2 web pods after the API server restart', () => converged(2), 180_000);
  assert.ok(two.every((p) => p.status.containerStatuses![0]!.restartCount === 0));

  // 3. A forced 410: the next watch asks for a resourceVersion long compacted away.
  const expired = reflector.stats.expired;
  reflector.resumeFrom('1');
  await until('410 seen and relisted', () => (reflector.stats.expired > expired && reflector.stats.lists > lists + 0 ? true : undefined));
  const victim = two[0]!;
  await kubectl(cp, ['delete', 'pod', victim.metadata.name, '-n', NS, '--wait=false']);
  const again = await until('2 web pods after the 410 and a replaced pod', async () => {
    const c = await converged(2);
    return c && !c.some((p) => p.metadata.uid === victim.metadata.uid) ? c : undefined;
  });
  // Survivors were never restarted or duplicated through all of it.
  for (const p of again) if (ids.has(containerId(p))) assert.equal(p.status.containerStatuses![0]!.restartCount, 0);
});

test('env from the API: configMapKeyRef, secretKeyRef, envFrom, fieldRef (podIP, hostIP, nodeName) and resourceFieldRef; the pod\'s own object watches go with it', { skip, timeout: 180_000 }, async () => {
  await kubectl(cp, ['create', 'configmap', 'envcm', '-n', NS, '--from-literal=MODE=fast', '--from-literal=LEVEL=3']);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'envs', namespace: NS, labels: { app: 'envs' } },
    spec: {
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: BUSYBOX_IMAGE,
          command: ['sh', '-c', 'exec sleep 3600'],
          resources: { limits: { memory: '64Mi' } },
          envFrom: [{ configMapRef: { name: 'envcm' }, prefix: 'CM_' }],
          env: [
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'conf', key: 'greeting' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
            { name: 'MISSING', valueFrom: { secretKeyRef: { name: 'sec', key: 'nope', optional: true } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
        },
      ],
    },
  };
  await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
  const p = await until('envs Running', async () => {
    const x = await kubectlJson<ApiPod & { status: { podIP?: string; hostIP?: string } }>(cp, ['pod', 'envs', '-n', NS]).catch(() => undefined);
    return x?.status.phase === 'Running' && x.status.podIP && x.status.hostIP ? x : undefined;
  });
  const r = await cri.execSync(containerId(p), ['env'], 10);
  const env = new Map(Buffer.from(r.stdout).toString('utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]));
  assert.equal(env.get('CM_MODE'), 'fast');
  assert.equal(env.get('CM_LEVEL'), '3');
  assert.ok(['hello', 'bonjour'].includes(env.get('GREETING') ?? ''), `GREETING=${env.get('GREETING')}`);
  assert.equal(env.get('PASSWORD'), 's3cret');
  assert.equal(env.has('MISSING'), false);
  assert.equal(env.get('POD_NAME'), 'envs');
  assert.equal(env.get('POD_IP'), p.status.podIP, 'the sandbox IP, as the API shows it');
  assert.equal(env.get('HOST_IP'), p.status.hostIP);
  assert.equal(env.get('NODE'), NODE);
  assert.equal(env.get('MEM_MI'), '64');
  assert.equal(kubelet.api!.objects!.watched().get(`configmaps/${NS}/envcm`)?.pods, 1, 'its own ConfigMap is watched for it');
  await kubectl(cp, ['delete', 'pod', 'envs', '-n', NS, '--wait=true', '--timeout=90s']);
  await until('envcm no longer watched', () => (kubelet.api!.objects!.watched().has(`configmaps/${NS}/envcm`) ? undefined : true));
});

test('kubectl delete is graceful: the preStop hook runs before SIGTERM, then the kubelet deletes the pod', { skip, timeout: 180_000 }, async () => {
  const host = h.tempDir('ccl-prestop-');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'stopper', namespace: NS },
    spec: {
      nodeName: NODE,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 20,
      containers: [
        {
          name: 'main',
          image: BUSYBOX_IMAGE,
          command: ['sh', '-c', "trap 'echo term >> /h/log; exit 0' TERM; while true; do sleep 1; done"],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /h/log'] } } },
          volumeMounts: [{ name: 'h', mountPath: '/h' }],
        },
      ],
      volumes: [{ name: 'h', hostPath: { path: host, type: 'Directory' } }],
    },
  };
  await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
  const running = await until('stopper Running', async () => {
    const p = await kubectlJson<ApiPod>(cp, ['pod', 'stopper', '-n', NS]).catch(() => undefined);
    return p?.status.phase === 'Running' ? p : undefined;
  });
  // Without --force the object only goes once the kubelet deletes it (grace 0, uid precondition).
  const del = await kubectlRun(cp, ['delete', 'pod', 'stopper', '-n', NS, '--wait=true', '--timeout=90s'], { timeoutMs: 120_000 });
  assert.equal(del.code, 0, del.stderr);
  assert.equal((await kubectlRun(cp, ['get', 'pod', 'stopper', '-n', NS])).code, 1, 'gone from the API');
  assert.equal(readFileSync(join(host, 'log'), 'utf8'), 'prestop\nterm\n');
  const events = (await kubectlJson<{ items: { reason: string; message: string; involvedObject: { uid: string } }[] }>(cp, ['events', '-n', NS])).items;
  assert.ok(events.some((e) => e.involvedObject.uid === running.metadata.uid && e.reason === 'Killing' && e.message === 'Stopping container main'));
  assert.equal((await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': running.metadata.uid } })).length, 0, 'sandbox removed');
});

test('a static pod gets a mirror pod that carries its status; a deleted mirror comes back; no manifest, no mirror', { skip, timeout: 240_000 }, async () => {
  const name = `static-web-${NODE}`;
  writeFileSync(
    join(manifests, 'static-web.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'static-web', namespace: NS }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'exec sleep 3600'] }] } }),
  );
  const mirror = await until('mirror pod Running in the API', async () => {
    const p = await kubectlJson<ApiPod>(cp, ['pod', name, '-n', NS]).catch(() => undefined);
    return p?.status.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p : undefined;
  });
  const staticUid = [...kubelet.pods.values()].find((p) => p.metadata.name === name)!.metadata.uid!;
  assert.equal(mirror.metadata.annotations?.['kubernetes.io/config.mirror'], staticUid);
  const node = await kubectlJson<{ metadata: { uid: string } }>(cp, ['node', NODE]);
  assert.deepEqual(mirror.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]), [['Node', NODE, node.metadata.uid, true]]);
  // Deleting the mirror only makes the kubelet create it again; the static pod keeps running.
  await kubectl(cp, ['delete', 'pod', name, '-n', NS, '--wait=false']);
  const again = await until('mirror re-created', async () => {
    const p = await kubectlJson<ApiPod>(cp, ['pod', name, '-n', NS]).catch(() => undefined);
    return p && p.metadata.uid !== mirror.metadata.uid && !p.metadata.deletionTimestamp && p.status.phase === 'Running' ? p : undefined;
  });
  assert.equal(containerId(again), containerId(mirror), 'the static pod was not restarted');
  rmSync(join(manifests, 'static-web.json'));
  await until('mirror removed with its manifest', async () => ((await kubectlRun(cp, ['get', 'pod', name, '-n', NS])).code === 1 ? true : undefined));
});

test('a confidential pod is refused its service-account token and Secret volume unless it opts in; the event says so in the API', { skip, timeout: 180_000 }, async () => {
  await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'cocolet' }, handler: 'cocolet' }) });
  const pod = (name: string, extra: Record<string, unknown>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName: NODE, runtimeClassName: 'cocolet', containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['sleep', '3600'] }], ...extra },
  });
  await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify(pod('cc-token', {})) });
  await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify(pod('cc-secret', { automountServiceAccountToken: false, volumes: [{ name: 's', secret: { secretName: 'sec' } }] })) });
  for (const [name, what] of [['cc-token', /service-account token in volume kube-api-access-\w+ refused for a confidential pod.*automountServiceAccountToken: false.*io\.cocolet\.allow-host-secrets/], ['cc-secret', /secret "sec" in volume s refused for a confidential pod/]] as const) {
    const p = await until(`${name} waiting with the refusal`, async () => {
      const x = await kubectlJson<ApiPod>(cp, ['pod', name, '-n', NS]).catch(() => undefined);
      return what.test(x?.status.containerStatuses?.[0]?.state.waiting?.message ?? '') ? x : undefined;
    });
    const events = await until(`${name} HostSecretRefused event`, async () => {
      const all = (await kubectlJson<{ items: { reason: string; message: string; type: string; involvedObject: { uid: string } }[] }>(cp, ['events', '-n', NS])).items;
      const e = all.filter((x) => x.involvedObject.uid === p.metadata.uid && x.reason === 'HostSecretRefused');
      return e.length ? e : undefined;
    });
    assert.equal(events[0]!.type, 'Warning');
    assert.match(events[0]!.message, what);
    assert.doesNotMatch(events[0]!.message, /s3cret/);
    assert.equal((await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': p.metadata.uid } })).length, 0, 'no sandbox (no VM) for a refused pod');
    await kubectl(cp, ['delete', 'pod', name, '-n', NS, '--wait=true', '--timeout=60s']);
  }
});
