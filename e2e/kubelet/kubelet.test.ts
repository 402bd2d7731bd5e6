// The kubelet against real containerd 1.6 + runc + CNI bridge: static pod lifecycle, init
// containers, restarts with back-off, probes failing and recovering, preStop + grace period,
// RuntimeClass routing, status conditions, a broken manifest beside good ones, and a kubelet
// restart while pods run. One containerd and one kubelet for the whole file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason, type ContainerdFixture } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import type { PodRecord } from '../../host/kubelet/status/manager.js';
import { cmdLogs, cmdStatus } from '../../host/kubelet/cli/inspect.js';

const NODE = 'e2e';
const h = new Harness();
const skip = containerdSkipReason();
let c: ContainerdFixture | undefined;
let cri: CriClient;
let kubelet: Kubelet;
let dir: string;
let manifests: string;

function newKubelet(o: { evented?: boolean; logMaxSize?: string } = {}): Kubelet {
  return new Kubelet({
    eventedPleg: o.evented ?? false,
    settings: {
      config: {
        ...defaultKubeletConfiguration(),
        staticPodPath: manifests,
        podLogsDir: join(dir, 'logs'),
        containerRuntimeEndpoint: c!.address,
        ...(o.logMaxSize ? { containerLogMaxSize: o.logMaxSize, containerLogMaxFiles: 3 } : {}),
      },
      rootDir: join(dir, 'root'),
      nodeName: NODE,
      runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES, 'runc-class': 'runc' },
    },
    cri,
    images: cri,
  });
}

before(async () => {
  if (skip) return;
  c = await startContainerd(h);
  cri = new CriClient({ endpoint: c!.address });
  dir = h.tempDir('ccl-e2e-');
  manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  kubelet = newKubelet();
  await kubelet.start();
});

after(async () => {
  if (kubelet) {
    await kubelet.stopAllPods(0);
    await kubelet.stop();
  }
  cri?.close();
  await h.dispose();
});

const podName = (n: string): string => `${n}-${NODE}`;
const record = (n: string): PodRecord | undefined => kubelet.status.all().find((r) => r.pod.metadata.name === podName(n));
const cs = (n: string, container: string) =>
  [...(record(n)?.status.initContainerStatuses ?? []), ...(record(n)?.status.containerStatuses ?? [])].find((x) => x.name === container);
const cond = (n: string, type: string): string | undefined => record(n)?.status.conditions.find((x) => x.type === type)?.status;
const until = <T>(what: string, fn: () => T, timeoutMs = 60_000): Promise<NonNullable<T>> => waitFor(fn, { what, timeoutMs, intervalMs: 50 });

function pod(name: string, spec: Record<string, unknown>, extraMeta: Record<string, unknown> = {}): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, ...extraMeta }, spec: { terminationGracePeriodSeconds: 2, ...spec } });
}

const bb = (name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  image: BUSYBOX_IMAGE,
  command: ['/bin/sh', '-c', script],
  ...extra,
});

async function exec(container: string, pod: string, cmd: string): Promise<void> {
  const id = cs(pod, container)!.containerID!.replace('containerd://', '');
  await cri.execSync(id, ['/bin/sh', '-c', cmd], 5);
}

test('static pod lifecycle: create, update, delete', { skip, timeout: 120_000 }, async () => {
  writeFileSync(join(manifests, 'life.yaml'), pod('life', { containers: [bb('main', 'echo v1; exec sleep 3600')] }));
  await until('life Running', () => record('life')?.status.phase === 'Running');
  const uid1 = record('life')!.pod.metadata.uid!;
  for (const t of ['PodScheduled', 'PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) assert.equal(cond('life', t), 'True', t);
  assert.match(record('life')!.status.podIP ?? '', /^10\./);

  writeFileSync(join(manifests, 'life.yaml'), pod('life', { containers: [bb('main', 'echo v2; exec sleep 3600')] }));
  await until('life updated', () => record('life')?.pod.metadata.uid !== uid1 && record('life')?.status.phase === 'Running');
  await until('old sandbox removed', async () => (await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid1 } })).length === 0);

  const uid2 = record('life')!.pod.metadata.uid!;
  rmSync(join(manifests, 'life.yaml'));
  await until('life removed', () => !record('life'));
  await until('sandbox removed', async () => (await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid2 } })).length === 0);
});

test('init containers run in order before the app; logs are readable', { skip, timeout: 120_000 }, async () => {
  writeFileSync(
    join(manifests, 'init.yaml'),
    pod('init', {
      initContainers: [bb('first', 'echo first >> /w/order'), bb('second', 'echo second >> /w/order')].map((x) => ({ ...x, volumeMounts: [{ name: 'w', mountPath: '/w' }] })),
      containers: [{ ...bb('main', 'cat /w/order; exec sleep 3600'), volumeMounts: [{ name: 'w', mountPath: '/w' }] }],
      volumes: [{ name: 'w', emptyDir: {} }],
    }),
  );
  await until('init Running', () => record('init')?.status.phase === 'Running');
  assert.equal(cond('init', 'Initialized'), 'True');
  assert.equal(cs('init', 'first')?.state.terminated?.reason, 'Completed');
  kubelet.status.flush();
  const lines: string[] = [];
  await until('main logged', () => {
    lines.length = 0;
    cmdLogs({ rootDir: join(dir, 'root'), pod: 'init', container: 'main', previous: false, timestamps: false }, (l) => lines.push(l));
    return lines.length >= 2;
  });
  assert.deepEqual(lines, ['first', 'second']);
  const table: string[] = [];
  assert.equal(cmdStatus(join(dir, 'root'), false, (l) => table.push(l)), 0);
  assert.match(table.join('\n'), /init-e2e\s+1\/1\s+Running/);
  rmSync(join(manifests, 'init.yaml'));
  await until('init removed', () => !record('init'));
});

test('a crashing container is restarted, then backs off', { skip, timeout: 120_000 }, async () => {
  writeFileSync(join(manifests, 'crash.yaml'), pod('crash', { containers: [bb('main', 'echo boom; exit 3')] }));
  await until('CrashLoopBackOff', () => cs('crash', 'main')?.state.waiting?.reason === 'CrashLoopBackOff');
  const s = cs('crash', 'main')!;
  assert.ok(s.restartCount >= 1);
  assert.equal(s.lastState.terminated?.exitCode, 3);
  assert.equal(record('crash')!.status.phase, 'Running');
  assert.equal(cond('crash', 'Ready'), 'False');
  rmSync(join(manifests, 'crash.yaml'));
  await until('crash removed', () => !record('crash'));
});

test('probes: exec liveness fails and the container recovers; httpGet + tcpSocket readiness follow the server', { skip, timeout: 120_000 }, async () => {
  const liveScript =
    'if [ ! -f /d/once ]; then touch /d/once; touch /tmp/ok; (sleep 2; rm /tmp/ok) & else touch /tmp/ok; fi; exec sleep 3600';
  const webScript = 'mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 8080 -h /www';
  writeFileSync(
    join(manifests, 'probe.yaml'),
    pod('probe', {
      containers: [
        { ...bb('live', liveScript), volumeMounts: [{ name: 'd', mountPath: '/d' }], livenessProbe: { exec: { command: ['cat', '/tmp/ok'] }, periodSeconds: 1, failureThreshold: 1 } },
        { ...bb('web', webScript), ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path: '/index.html', port: 'http' }, periodSeconds: 1, failureThreshold: 1 } },
        { ...bb('tcp', 'exec sleep 3600'), readinessProbe: { tcpSocket: { port: 9090 }, periodSeconds: 1, failureThreshold: 1 } },
      ],
      volumes: [{ name: 'd', emptyDir: {} }],
    }),
  );
  await until('liveness restart', () => cs('probe', 'live')?.restartCount === 1 && cs('probe', 'live')?.state.running);
  await until('web ready, tcp not (nothing listens)', () => cs('probe', 'web')?.ready === true && cs('probe', 'tcp')?.state.running);
  assert.equal(cs('probe', 'tcp')?.ready, false);
  await exec('tcp', 'probe', 'httpd -p 9090 -h /');
  await until('all ready', () => cond('probe', 'Ready') === 'True');
  await exec('tcp', 'probe', 'killall httpd');
  await until('tcp not ready', () => cs('probe', 'tcp')?.ready === false);
  await exec('tcp', 'probe', 'httpd -p 9090 -h /');
  await until('tcp ready again', () => cs('probe', 'tcp')?.ready === true);
  await exec('web', 'probe', 'rm /www/index.html');
  await until('web not ready', () => cs('probe', 'web')?.ready === false && cond('probe', 'Ready') === 'False');
  await exec('web', 'probe', 'echo hi > /www/index.html');
  await until('web ready again', () => cond('probe', 'Ready') === 'True');
  assert.equal(cs('probe', 'live')?.restartCount, 1, 'recovered: no further restarts');
  assert.ok(kubelet.events.list({ reason: 'Unhealthy' }).length >= 2);
  rmSync(join(manifests, 'probe.yaml'));
  await until('probe removed', () => !record('probe'));
});

test('preStop runs and a container that ignores SIGTERM is killed after the grace period', { skip, timeout: 120_000 }, async () => {
  const out = join(dir, 'prestop');
  mkdirSync(out);
  writeFileSync(
    join(manifests, 'grace.yaml'),
    pod('grace', {
      terminationGracePeriodSeconds: 3,
      containers: [
        {
          ...bb('main', "trap '' TERM; while true; do sleep 1; done"),
          volumeMounts: [{ name: 'out', mountPath: '/out' }],
          lifecycle: { preStop: { exec: { command: ['/bin/sh', '-c', 'echo prestop > /out/ran'] } } },
        },
      ],
      volumes: [{ name: 'out', hostPath: { path: out, type: 'Directory' } }],
    }),
  );
  await until('grace Running', () => record('grace')?.status.phase === 'Running');
  const id = cs('grace', 'main')!.containerID!.replace('containerd://', '');
  const t0 = Date.now();
  rmSync(join(manifests, 'grace.yaml'));
  await until('grace removed', () => !record('grace'));
  assert.equal(readFileSync(join(out, 'ran'), 'utf8').trim(), 'prestop');
  assert.ok(Date.now() - t0 >= 2000, 'the kill waited for the remaining grace (floored at 2 s)');
  assert.equal(await cri.containerStatus(id).catch(() => undefined), undefined, 'container removed');
});

test('RuntimeClass routing: the node map picks the CRI handler', { skip, timeout: 120_000 }, async () => {
  writeFileSync(join(manifests, 'rc-runc.yaml'), pod('rc-runc', { runtimeClassName: 'runc-class', containers: [bb('main', 'exec sleep 3600')] }));
  writeFileSync(join(manifests, 'rc-coco.yaml'), pod('rc-coco', { runtimeClassName: 'cocolet', containers: [bb('main', 'exec sleep 3600')] }));
  await until('rc-runc Running', () => record('rc-runc')?.status.phase === 'Running');
  const uid = record('rc-runc')!.pod.metadata.uid!;
  const [sb] = await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid } });
  assert.equal((await cri.podSandboxStatus(sb!.id))?.runtimeHandler, 'runc');
  // The confidential pod is routed to handler "cocolet"; whether it starts depends on the shim
  // binary being on containerd's PATH. Either it runs, or the sandbox failure names the handler.
  await until('rc-coco routed', () => {
    const ev = kubelet.events.list({ reason: 'FailedCreatePodSandBox' }).find((e) => e.object.endsWith(podName('rc-coco')));
    return (ev && /cocolet/.test(ev.message)) || record('rc-coco')?.status.phase === 'Running';
  });
  rmSync(join(manifests, 'rc-runc.yaml'));
  rmSync(join(manifests, 'rc-coco.yaml'));
  await until('rc pods removed', () => !record('rc-runc') && !record('rc-coco'));
});

test('a broken manifest is reported and skipped; its neighbours run', { skip, timeout: 120_000 }, async () => {
  writeFileSync(join(manifests, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: broken}\nspec: {containers: [{name: c}]}\n');
  writeFileSync(join(manifests, 'good.yaml'), pod('good', { containers: [bb('main', 'exec sleep 3600')] }));
  await until('good Running', () => record('good')?.status.phase === 'Running');
  const ev = await until('broken reported', () => kubelet.events.list({ reason: 'FailedToDecodeManifest' }).find((e) => e.object.endsWith('broken.yaml')));
  assert.match(ev.message, /spec\.containers\[0\]\.image/);
  rmSync(join(manifests, 'broken.yaml'));
});

test('kubelet restart while pods run: nothing restarted, state recovered; evented PLEG falls back on containerd 1.6', { skip, timeout: 120_000 }, async () => {
  await until('good Running', () => record('good')?.status.phase === 'Running');
  const before = cs('good', 'main')!.containerID;
  await kubelet.stop();
  kubelet = newKubelet({ evented: true, logMaxSize: '1Ki' });
  await kubelet.start();
  await until('fell back to generic relist', () => kubelet.pleg.mode === 'generic');
  await until('good Running again', () => record('good')?.status.phase === 'Running' && cond('good', 'Ready') === 'True');
  assert.equal(cs('good', 'main')!.containerID, before);
  assert.equal(cs('good', 'main')!.restartCount, 0);
  const sandboxes = await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': record('good')!.pod.metadata.uid! } });
  assert.equal(sandboxes.length, 1);
  assert.ok(existsSync(join(dir, 'root', 'status.json')));
});

test('memory-medium emptyDir is a tmpfs; container logs rotate through ReopenContainerLog', { skip, timeout: 120_000 }, async () => {
  writeFileSync(
    join(manifests, 'mem.yaml'),
    pod('mem', {
      containers: [
        {
          ...bb('main', 'grep " /m " /proc/mounts; i=0; while true; do i=$((i+1)); echo "line $i 0123456789012345678901234567890123456789"; sleep 0.05; done'),
          volumeMounts: [{ name: 'm', mountPath: '/m' }],
        },
      ],
      volumes: [{ name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }],
    }),
  );
  await until('mem Running', () => record('mem')?.status.phase === 'Running');
  const uid = record('mem')!.pod.metadata.uid!;
  const logPath = join(dir, 'logs', `default_${podName('mem')}_${uid}`, 'main', '0.log');
  await until('tmpfs line logged', () => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('tmpfs'));
  const { rotatedFiles, readContainerLog } = await import('../../host/kubelet/logs/crilog.js');
  await until('rotated', async () => {
    await kubelet.rotateLogs();
    return rotatedFiles(logPath).length >= 1 && existsSync(logPath) && readFileSync(logPath, 'utf8').length > 0;
  });
  const lines = readContainerLog(logPath, { withRotated: true }).map((e) => e.text);
  assert.match(lines[0]!, /tmpfs/);
  rmSync(join(manifests, 'mem.yaml'));
  await until('mem removed', () => !record('mem'));
  assert.equal(existsSync(join(dir, 'root', 'pods', uid)), false, 'pod dir (and its tmpfs) removed');
});
