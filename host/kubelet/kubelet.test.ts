// The sync loop, pod workers, PLEG, probes and status against the in-memory CRI and a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newFakeNode, testContainer, testPod, type FakeNode } from './testing.js';
import type { Pod } from './api/types.js';

const uid = (p: Pod): string => p.metadata.uid!;
const phase = (n: FakeNode, p: Pod): string | undefined => n.kubelet.status.get(uid(p))?.status.phase;
const cstatus = (n: FakeNode, p: Pod, name: string) =>
  [...(n.kubelet.status.get(uid(p))?.status.initContainerStatuses ?? []), ...(n.kubelet.status.get(uid(p))?.status.containerStatuses ?? [])].find((c) => c.name === name);
const cond = (n: FakeNode, p: Pod, type: string): string | undefined => n.kubelet.status.get(uid(p))?.status.conditions.find((c) => c.type === type)?.status;

async function withNode(fn: (n: FakeNode) => Promise<void>, o: Parameters<typeof newFakeNode>[0] = {}): Promise<void> {
  const n = await newFakeNode(o);
  try {
    await fn(n);
  } finally {
    await n.dispose();
  }
}

test('a pod reaches Running with Ready conditions', () =>
  withNode(async (n) => {
    const p = testPod('web');
    n.setPods([p]);
    await n.step(0);
    assert.equal(phase(n, p), 'Running');
    assert.ok(n.cri.running(uid(p), 'main'));
    for (const t of ['PodScheduled', 'PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) assert.equal(cond(n, p, t), 'True', t);
    assert.equal(cstatus(n, p, 'main')?.restartCount, 0);
    assert.ok(n.kubelet.status.get(uid(p))?.status.podIP);
  }));

test('init containers run one at a time, in order, before app containers', () =>
  withNode(async (n) => {
    const p = testPod('init', { initContainers: [testContainer('i1'), testContainer('i2')] });
    n.setPods([p]);
    await n.step(0);
    assert.ok(n.cri.running(uid(p), 'i1'));
    assert.equal(n.cri.containersOf(uid(p), 'i2').length, 0);
    assert.equal(cstatus(n, p, 'main')?.state.waiting?.reason, 'PodInitializing');
    assert.equal(cond(n, p, 'Initialized'), 'False');
    n.cri.exit(n.cri.running(uid(p), 'i1')!.id, 0);
    await n.step(1000);
    assert.ok(n.cri.running(uid(p), 'i2'));
    assert.equal(n.cri.containersOf(uid(p), 'main').length, 0);
    n.cri.exit(n.cri.running(uid(p), 'i2')!.id, 0);
    await n.step(1000);
    assert.ok(n.cri.running(uid(p), 'main'));
    assert.equal(cond(n, p, 'Initialized'), 'True');
    assert.equal(phase(n, p), 'Running');
  }));

test('a failing init container with restartPolicy Never fails the pod', () =>
  withNode(async (n) => {
    const p = testPod('initfail', { restartPolicy: 'Never', initContainers: [testContainer('i1')] });
    n.setPods([p]);
    await n.step(0);
    n.cri.exit(n.cri.running(uid(p), 'i1')!.id, 3);
    await n.step(1000);
    assert.equal(phase(n, p), 'Failed');
    assert.equal(n.cri.containersOf(uid(p), 'main').length, 0);
  }));

test('CrashLoopBackOff: immediate first restart, then 10 s, 20 s, 40 s', () =>
  withNode(async (n) => {
    const p = testPod('crash');
    n.setPods([p]);
    await n.step(0);
    const crash = async (): Promise<void> => {
      n.cri.exit(n.cri.running(uid(p), 'main')!.id, 1);
      await n.step(1000);
    };
    await crash();
    assert.equal(cstatus(n, p, 'main')?.restartCount, 1, 'first restart is immediate');
    for (const [i, delay] of [10, 20, 40].entries()) {
      await crash();
      const cs = cstatus(n, p, 'main')!;
      assert.equal(cs.state.waiting?.reason, 'CrashLoopBackOff', `crash ${i + 2} backs off`);
      assert.equal(cs.lastState.terminated?.exitCode, 1);
      assert.equal(phase(n, p), 'Running', 'restartPolicy Always keeps the pod Running');
      await n.step((delay - 3) * 1000);
      assert.equal(n.cri.running(uid(p), 'main'), undefined, `still backing off before ${delay}s`);
      await n.step(3000);
      assert.ok(n.cri.running(uid(p), 'main'), `restarted after ${delay}s`);
      assert.equal(cstatus(n, p, 'main')?.restartCount, i + 2);
    }
  }));

const terminalCases = [
  { name: 'Never + exit 0 → Succeeded', policy: 'Never' as const, code: 0, want: 'Succeeded' },
  { name: 'Never + exit 1 → Failed', policy: 'Never' as const, code: 1, want: 'Failed' },
  { name: 'OnFailure + exit 0 → Succeeded', policy: 'OnFailure' as const, code: 0, want: 'Succeeded' },
  { name: 'OnFailure + exit 1 → restarted, Running', policy: 'OnFailure' as const, code: 1, want: 'Running' },
];
for (const tc of terminalCases) {
  test(`restart policy: ${tc.name}`, () =>
    withNode(async (n) => {
      const p = testPod(`term-${tc.code}-${tc.policy.toLowerCase()}`, { restartPolicy: tc.policy });
      n.setPods([p]);
      await n.step(0);
      n.cri.exit(n.cri.running(uid(p), 'main')!.id, tc.code);
      await n.step(1000);
      assert.equal(phase(n, p), tc.want);
      if (tc.want !== 'Running') {
        assert.equal(cond(n, p, 'Ready'), 'False');
        assert.ok(n.cri.calls.some((c) => c.method === 'StopPodSandbox'), 'a terminal pod stops its sandbox');
      }
    }));
}

test('removing a pod stops containers with its grace period and removes the sandbox', () =>
  withNode(async (n) => {
    const p = testPod('gone', { terminationGracePeriodSeconds: 7 });
    n.setPods([p]);
    await n.step(0);
    n.setPods([]);
    await n.step(0);
    const stop = n.cri.calls.find((c) => c.method === 'StopContainer');
    assert.equal(stop?.detail, '7');
    assert.equal(n.cri.sandboxes.size, 0);
    assert.equal(n.kubelet.status.get(uid(p)), undefined);
  }));

test('preStop hook runs before StopContainer and counts against the grace period', () =>
  withNode(async (n) => {
    const p = testPod('hooks', {
      terminationGracePeriodSeconds: 5,
      containers: [testContainer('main', { lifecycle: { postStart: { exec: { command: ['post'] } }, preStop: { exec: { command: ['pre'] } } } })],
    });
    n.setPods([p]);
    await n.step(0);
    assert.ok(n.cri.calls.some((c) => c.method === 'ExecSync' && c.detail === 'post'));
    n.setPods([]);
    await n.step(0);
    const i = n.cri.calls.findIndex((c) => c.method === 'ExecSync' && c.detail === 'pre');
    const j = n.cri.calls.findIndex((c) => c.method === 'StopContainer');
    assert.ok(i >= 0 && j > i, 'preStop before StopContainer');
  }));

test('liveness exec probe failing restarts the container; recovering keeps it', () =>
  withNode(async (n) => {
    let healthy = false;
    n.cri.execHandler = () => ({ stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: healthy ? 0 : 1 });
    const p = testPod('live', { containers: [testContainer('main', { livenessProbe: { exec: { command: ['check'] }, periodSeconds: 1, failureThreshold: 2 } })] });
    n.setPods([p]);
    await n.step(0);
    const first = n.cri.running(uid(p), 'main')!.id;
    for (let i = 0; i < 4; i++) await n.step(1000);
    assert.notEqual(n.cri.running(uid(p), 'main')?.id ?? '', first, 'killed after failureThreshold failures');
    healthy = true;
    for (let i = 0; i < 15; i++) await n.step(1000);
    const second = n.cri.running(uid(p), 'main');
    assert.ok(second, 'running again');
    for (let i = 0; i < 5; i++) await n.step(1000);
    assert.equal(n.cri.running(uid(p), 'main')?.id, second.id, 'a passing probe leaves it alone');
    assert.ok(n.kubelet.events.list({ reason: 'Unhealthy' }).length >= 2);
  }));

test('readiness probe drives Ready and ContainersReady over time', () =>
  withNode(async (n) => {
    let ready = false;
    n.cri.execHandler = () => ({ stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: ready ? 0 : 1 });
    const p = testPod('ready', { containers: [testContainer('main', { readinessProbe: { exec: { command: ['r'] }, periodSeconds: 1, successThreshold: 2, failureThreshold: 1 } })] });
    n.setPods([p]);
    await n.step(0);
    assert.equal(cond(n, p, 'Ready'), 'False');
    ready = true;
    await n.step(1000);
    assert.equal(cond(n, p, 'Ready'), 'False', 'successThreshold 2 needs two successes');
    await n.step(1000);
    await n.step(1000);
    assert.equal(cond(n, p, 'Ready'), 'True');
    assert.equal(cond(n, p, 'ContainersReady'), 'True');
    ready = false;
    await n.step(1000);
    await n.step(1000);
    assert.equal(cond(n, p, 'Ready'), 'False');
    assert.equal(phase(n, p), 'Running');
  }));

test('startup probe gates liveness until it succeeds', () =>
  withNode(async (n) => {
    const seen: string[] = [];
    let startedOk = false;
    n.cri.execHandler = (_id, cmd) => {
      seen.push(cmd[0]!);
      return { stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: cmd[0] === 'startup' && !startedOk ? 1 : 0 };
    };
    const p = testPod('startup', {
      containers: [testContainer('main', { startupProbe: { exec: { command: ['startup'] }, periodSeconds: 1, failureThreshold: 30 }, livenessProbe: { exec: { command: ['live'] }, periodSeconds: 1 } })],
    });
    n.setPods([p]);
    await n.step(0);
    for (let i = 0; i < 3; i++) await n.step(1000);
    assert.ok(seen.includes('startup'));
    assert.ok(!seen.includes('live'), 'liveness waits for startup');
    assert.equal(cstatus(n, p, 'main')?.started, false);
    startedOk = true;
    for (let i = 0; i < 3; i++) await n.step(1000);
    assert.ok(seen.includes('live'));
    assert.equal(cstatus(n, p, 'main')?.started, true);
  }));

const routing = [
  { name: 'no RuntimeClass → default runtime', rc: undefined, handler: '' },
  { name: 'RuntimeClass cocolet → handler cocolet', rc: 'cocolet', handler: 'cocolet' },
  { name: 'RuntimeClass kata-qemu-coco-dev → handler cocolet', rc: 'kata-qemu-coco-dev', handler: 'cocolet' },
];
for (const tc of routing) {
  test(`RuntimeClass routing: ${tc.name}`, () =>
    withNode(async (n) => {
      const p = testPod(`rc-${tc.handler || 'default'}`, tc.rc ? { runtimeClassName: tc.rc } : {});
      n.setPods([p]);
      await n.step(0);
      const sb = [...n.cri.sandboxes.values()][0];
      assert.equal(sb?.handler, tc.handler);
      assert.equal(phase(n, p), 'Running');
    }));
}

test('RuntimeClass routing: an unknown RuntimeClass creates no sandbox and says why', () =>
  withNode(async (n) => {
    const p = testPod('rc-unknown', { runtimeClassName: 'nope' });
    n.setPods([p]);
    await n.step(0);
    assert.equal(n.cri.sandboxes.size, 0);
    assert.equal(phase(n, p), 'Pending');
    assert.equal(n.kubelet.events.list({ reason: 'FailedCreatePodSandBox' }).length, 1);
  }));

const secretCases: { name: string; rc: string | undefined; ann: Record<string, string>; refused: boolean }[] = [
  { name: 'standard pod may use a local secret', rc: undefined, ann: {}, refused: false },
  { name: 'confidential pod is refused a host secret', rc: 'cocolet', ann: {}, refused: true },
  { name: 'confidential pod that opts in gets it', rc: 'cocolet', ann: { 'io.cocolet.allow-host-secrets': 'true' }, refused: false },
];
for (const tc of secretCases) {
  test(`secret volumes: ${tc.name}`, () =>
    withNode(async (n) => {
      const { mkdirSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      mkdirSync(join(n.dir, 'secrets', 's1'), { recursive: true });
      writeFileSync(join(n.dir, 'secrets', 's1', 'k'), 'v');
      const p = testPod(
        `sec-${tc.refused ? 'no' : 'yes'}-${tc.rc ?? 'std'}`,
        {
          ...(tc.rc ? { runtimeClassName: tc.rc } : {}),
          volumes: [{ name: 's', secret: { secretName: 's1' } }],
          containers: [testContainer('main', { volumeMounts: [{ name: 's', mountPath: '/s' }] })],
        },
        tc.ann,
      );
      n.setPods([p]);
      await n.step(0);
      assert.equal(n.kubelet.events.list({ reason: 'HostSecretRefused' }).length, tc.refused ? 1 : 0);
      assert.equal(n.cri.sandboxes.size, tc.refused ? 0 : 1);
    }));
}

const SEALED = 'sealed.fakejwsheader.eyJuYW1lIjoia2JzOi8vL2RlZmF1bHQvYS9iIn0.sig';
const envSecretCases: { name: string; rc?: string; ann?: Record<string, string>; files: Record<string, string>; c: Partial<Parameters<typeof testContainer>[1]>; refused: boolean; env?: Record<string, string> }[] = [
  { name: 'secretKeyRef in a standard pod is resolved', files: { k: 'v1' }, c: { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }] }, refused: false, env: { A: 'v1' } },
  { name: 'secretKeyRef in a confidential pod is refused', rc: 'cocolet', files: { k: 'v1' }, c: { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }] }, refused: true },
  { name: 'envFrom secretRef in a confidential pod is refused', rc: 'cocolet', files: { k: 'v1' }, c: { envFrom: [{ secretRef: { name: 's1' } }] }, refused: true },
  { name: 'envFrom secretRef with one plain key among sealed ones is refused', rc: 'cocolet', files: { k: SEALED, p: 'hunter2-value' }, c: { envFrom: [{ secretRef: { name: 's1' } }] }, refused: true },
  { name: 'a sealed secretKeyRef in a confidential pod is fine (trimmed)', rc: 'cocolet', files: { k: `${SEALED}\n` }, c: { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }] }, refused: false, env: { A: SEALED } },
  { name: 'an all-sealed envFrom secretRef with a prefix is fine', rc: 'cocolet', files: { k: SEALED }, c: { envFrom: [{ prefix: 'X_', secretRef: { name: 's1' } }] }, refused: false, env: { X_k: SEALED } },
  { name: 'the opt-in annotation lets a plain secretKeyRef through', rc: 'cocolet', ann: { 'io.cocolet.allow-host-secrets': 'true' }, files: { k: 'v1' }, c: { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }] }, refused: false, env: { A: 'v1' } },
  { name: 'a sealed literal value needs no opt-in', rc: 'cocolet', files: {}, c: { env: [{ name: 'A', value: SEALED }] }, refused: false, env: { A: SEALED } },
];
for (const [i, tc] of envSecretCases.entries()) {
  test(`secret env: ${tc.name}`, () =>
    withNode(async (n) => {
      const { mkdirSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      mkdirSync(join(n.dir, 'secrets', 's1'), { recursive: true });
      for (const [k, v] of Object.entries(tc.files)) writeFileSync(join(n.dir, 'secrets', 's1', k), v);
      const p = testPod(`senv-${i}`, { ...(tc.rc ? { runtimeClassName: tc.rc } : {}), containers: [testContainer('main', tc.c)] }, tc.ann ?? {});
      n.setPods([p]);
      await n.step(0);
      const refusals = n.kubelet.events.list({ reason: 'HostSecretRefused' });
      assert.equal(refusals.length, tc.refused ? 1 : 0);
      assert.equal(n.cri.sandboxes.size, tc.refused ? 0 : 1, 'a refused pod gets no sandbox');
      if (tc.refused) {
        const w = cstatus(n, p, 'main')?.state.waiting;
        assert.equal(w?.reason, 'CreateContainerConfigError');
        assert.match(w?.message ?? '', /refused for a confidential pod/);
        assert.match(refusals[0]!.message, /io\.cocolet\.allow-host-secrets/);
        for (const v of Object.values(tc.files)) if (!v.startsWith('sealed.')) assert.ok(!refusals[0]!.message.includes(v), 'no value in the event');
      } else {
        const envs = n.cri.containersOf(uid(p), 'main')[0]!.config.envs ?? [];
        const got = Object.fromEntries(envs.map((e) => [e.key, new TextDecoder().decode(e.value)]));
        assert.deepEqual(got, tc.env);
      }
    }));
}

test('secret env: a missing key says which, and an unsupported valueFrom is named', () =>
  withNode(async (n) => {
    const p = testPod('senv-missing', { containers: [testContainer('main', { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] })] });
    const q = testPod('senv-file', { containers: [testContainer('main', { env: [{ name: 'B', valueFrom: { fileKeyRef: { path: 'x', key: 'k' } } }] })] });
    const o = testPod('senv-optional', { containers: [testContainer('main', { env: [{ name: 'C', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } }] })] });
    const f = testPod('senv-field', { containers: [testContainer('main', { env: [{ name: 'D', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] })] });
    n.setPods([p, q, o, f]);
    await n.step(0);
    assert.match(cstatus(n, p, 'main')?.state.waiting?.message ?? '', /couldn't find key k in secret "nope"/);
    assert.match(cstatus(n, q, 'main')?.state.waiting?.message ?? '', /valueFrom \.fileKeyRef is not supported/);
    assert.equal(phase(n, o), 'Running');
    assert.equal(phase(n, f), 'Running', 'fieldRef is resolved');
  }));

test('secret volumes: a confidential pod may mount a Secret whose files are all sealed', () =>
  withNode(async (n) => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    mkdirSync(join(n.dir, 'secrets', 'sealed1'), { recursive: true });
    writeFileSync(join(n.dir, 'secrets', 'sealed1', 'k'), SEALED);
    const p = testPod('sec-sealed', { runtimeClassName: 'cocolet', volumes: [{ name: 's', secret: { secretName: 'sealed1' } }], containers: [testContainer('main', { volumeMounts: [{ name: 's', mountPath: '/s' }] })] });
    n.setPods([p]);
    await n.step(0);
    assert.equal(n.kubelet.events.list({ reason: 'HostSecretRefused' }).length, 0);
    assert.equal(n.cri.sandboxes.size, 1);
  }));

test('kubelet restart adopts running pods without restarting containers', () =>
  withNode(async (n) => {
    const p = testPod('survivor', { initContainers: [testContainer('i1')] });
    n.setPods([p]);
    await n.step(0);
    n.cri.exit(n.cri.running(uid(p), 'i1')!.id, 0);
    await n.step(1000);
    const before = n.cri.running(uid(p), 'main')!.id;
    const creates = n.cri.calls.filter((c) => c.method === 'CreateContainer' || c.method === 'RunPodSandbox').length;
    const k = await n.restart();
    await n.step(0);
    await n.step(1000);
    assert.equal(n.cri.running(uid(p), 'main')?.id, before);
    assert.equal(n.cri.calls.filter((c) => c.method === 'CreateContainer' || c.method === 'RunPodSandbox').length, creates, 'nothing recreated');
    assert.equal(k.status.get(uid(p))?.status.phase, 'Running');
  }));

test('housekeeping removes runtime pods no source wants', () =>
  withNode(async (n) => {
    n.cri.populate(2);
    n.setPods([]);
    await n.step(1000);
    await n.step(2000);
    await n.step(2000);
    assert.equal(n.cri.sandboxes.size, 0);
    assert.equal(n.cri.containers.size, 0);
  }));

test('maxPods: pods beyond capacity are rejected with OutOfpods', () =>
  withNode(
    async (n) => {
      const a = testPod('a');
      const b = testPod('b');
      n.setPods([a, b]);
      await n.step(0);
      assert.equal(phase(n, a), 'Running');
      assert.equal(phase(n, b), 'Failed');
      assert.equal(n.kubelet.status.get(uid(b))?.status.reason, 'OutOfpods');
      n.setPods([a]);
      await n.step(0);
      assert.equal(n.kubelet.status.get(uid(b)), undefined, 'a rejected pod disappears with its manifest');
      assert.equal(phase(n, a), 'Running');
    },
    { config: { maxPods: 1 } },
  ));

test('evented PLEG: container events reach the pod without waiting for a relist', () =>
  withNode(
    async (n) => {
      assert.equal(n.kubelet.pleg.mode, 'evented');
      const p = testPod('ev', { restartPolicy: 'Never' });
      n.setPods([p]);
      await n.step(0);
      n.cri.exit(n.cri.running(uid(p), 'main')!.id, 0);
      await n.step(0);
      assert.equal(phase(n, p), 'Succeeded');
    },
    { evented: true },
  ));

test('evented PLEG falls back to the generic relist when the runtime lacks events', async () => {
  const { FakeCri } = await import('../cri/fake.js');
  const { FakeClock } = await import('./clock.js');
  const { CocoletError, ErrorCode } = await import('../../shared/errors/errors.js');
  const clock = new FakeClock();
  const cri = new FakeCri({ clock, images: ['localhost/test/busybox:1'] });
  cri.getContainerEvents = () => ({
    [Symbol.asyncIterator]() {
      return { next: () => Promise.reject(new CocoletError(ErrorCode.Unimplemented, 'unknown method GetContainerEvents')) };
    },
  });
  await withNode(
    async (n) => {
      await n.step(0);
      assert.equal(n.kubelet.pleg.mode, 'generic');
      const p = testPod('fallback', { restartPolicy: 'Never' });
      n.setPods([p]);
      await n.step(0);
      n.cri.exit(n.cri.running(uid(p), 'main')!.id, 0);
      await n.step(1000);
      assert.equal(phase(n, p), 'Succeeded');
    },
    { evented: true, cri, clock },
  );
});

test('PLEG health: unhealthy when relists stop for longer than the threshold', () =>
  withNode(async (n) => {
    await n.step(0);
    assert.equal(n.kubelet.pleg.healthy().ok, true);
    n.kubelet.pleg.stop();
    await n.step(181_000);
    const h = n.kubelet.pleg.healthy();
    assert.equal(h.ok, false);
    assert.match(h.message, /threshold is 180s/);
  }));

test('container GC keeps one dead instance per container', () =>
  withNode(async (n) => {
    const p = testPod('gc');
    n.setPods([p]);
    await n.step(0);
    for (let i = 0; i < 3; i++) {
      n.cri.exit(n.cri.running(uid(p), 'main')!.id, 1);
      await n.step(400_000);
    }
    await n.kubelet.pleg.relist();
    await n.kubelet.gc.collect();
    const all = n.cri.containersOf(uid(p), 'main');
    assert.equal(all.filter((c) => c.state === 2).length, 1);
    await n.kubelet.gc.collect({ all: true }); // the eviction manager's node-level reclaim
    assert.equal(n.cri.containersOf(uid(p), 'main').filter((c) => c.state === 2).length, 0);
    assert.ok(n.cri.running(uid(p), 'main'), 'running containers stay');
  }));

test('sidecar init containers keep running, let the next init start, and stop after the app', () =>
  withNode(async (n) => {
    const p = testPod('sidecar', {
      restartPolicy: 'Never',
      initContainers: [testContainer('proxy', { restartPolicy: 'Always' }), testContainer('setup')],
    });
    n.setPods([p]);
    await n.step(0);
    assert.ok(n.cri.running(uid(p), 'proxy'), 'sidecar started');
    assert.ok(n.cri.running(uid(p), 'setup'), 'next init container started without waiting for the sidecar to exit');
    n.cri.exit(n.cri.running(uid(p), 'setup')!.id, 0);
    await n.step(1000);
    assert.ok(n.cri.running(uid(p), 'main'));
    assert.equal(cond(n, p, 'Initialized'), 'True');
    assert.equal(phase(n, p), 'Running');
    n.cri.exit(n.cri.running(uid(p), 'proxy')!.id, 1);
    await n.step(1000);
    assert.ok(n.cri.running(uid(p), 'proxy'), 'a sidecar restarts even with restartPolicy Never');
    n.cri.exit(n.cri.running(uid(p), 'main')!.id, 0);
    await n.step(1000);
    assert.equal(phase(n, p), 'Succeeded', 'the pod completes when its app containers do');
    const stops = n.cri.calls.filter((c) => c.method === 'StopContainer').map((c) => c.id);
    assert.ok(stops.length >= 1);
    assert.equal(n.cri.running(uid(p), 'proxy'), undefined, 'sidecar stopped at the end');
  }));

test('a pod that finished on its own is cleaned up when it is deleted', () =>
  withNode(async (n) => {
    const p = testPod('done', { restartPolicy: 'Never' });
    n.setPods([p]);
    await n.step(0);
    n.cri.exit(n.cri.running(uid(p), 'main')!.id, 0);
    await n.step(1000);
    assert.equal(phase(n, p), 'Succeeded');
    assert.equal(n.cri.sandboxes.size, 1, 'kept (stopped) while the pod exists');
    n.setPods([]);
    await n.step(0);
    assert.equal(n.cri.sandboxes.size, 0);
    assert.equal(n.kubelet.status.get(uid(p)), undefined);
  }));

test('activeDeadlineSeconds fails the pod with DeadlineExceeded and stops it', () =>
  withNode(async (n) => {
    const p = testPod('deadline', { activeDeadlineSeconds: 30 });
    n.setPods([p]);
    await n.step(0);
    assert.equal(phase(n, p), 'Running');
    await n.step(29_000);
    assert.equal(phase(n, p), 'Running');
    await n.step(2_000);
    await n.step(1_000);
    assert.equal(phase(n, p), 'Failed');
    assert.equal(n.kubelet.status.get(uid(p))?.status.reason, 'DeadlineExceeded');
    assert.equal(n.cri.running(uid(p), 'main'), undefined);
  }));

test('a pod removed and re-added while terminating starts again', () =>
  withNode(async (n) => {
    const p = testPod('again', {
      terminationGracePeriodSeconds: 5,
      containers: [testContainer('main', { lifecycle: { preStop: { exec: { command: ['slow'] } } } })],
    });
    let release: () => void = () => undefined;
    n.cri.execHandler = () => new Promise((r) => (release = () => r({ stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: 0 })));
    n.setPods([p]);
    await n.step(0);
    const first = n.cri.running(uid(p), 'main')!.id;
    n.setPods([]);
    await n.clock.advance(0);
    n.setPods([p]); // back while its preStop hook still runs
    release();
    await n.step(0);
    await n.step(1000);
    const second = n.cri.running(uid(p), 'main');
    assert.ok(second, 'running again');
    assert.notEqual(second.id, first);
    assert.equal(phase(n, p), 'Running');
  }));

test('healthz and metrics: ok while PLEG relists, pod start recorded with upstream names', () =>
  withNode(
    async (n) => {
      const p = testPod('metrics');
      n.setPods([p]);
      await n.step(0);
      await n.step(2000);
      const port = n.kubelet.healthzServer!.port;
      const h = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(h.status, 200);
      assert.equal(await h.text(), 'ok');
      const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(m, /kubelet_pod_start_duration_seconds_count 1/);
      assert.match(m, /kubelet_started_containers_total\{container_type="container"\} 1/);
      assert.match(m, /kubelet_running_pods 1/);
      assert.match(m, /kubelet_pleg_relist_duration_seconds_count [1-9]/);
      n.kubelet.pleg.stop();
      await n.clock.advance(181_000); // not step(): a worker now waits for PLEG, as it should
      const bad = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(bad.status, 500);
      assert.match(await bad.text(), /\[-\]pleg failed: pleg was last seen active/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz/syncloop`)).status, 200);
    },
    { healthz: true },
  ));

const teeCases = [
  { name: 'development TEE: a Warning NotConfidential event and tee dev in the status', report: 'dev' as const, type: 'Warning', reason: 'NotConfidential', label: 'dev (not confidential)', message: /^tee: dev \(not confidential\): QEMU without SEV-SNP\/TDX and a host-run swtpm; the host can read and change guest memory/ },
  { name: 'process hypervisor: NotConfidential, tee none', report: 'none' as const, type: 'Warning', reason: 'NotConfidential', label: 'none (not confidential)', message: /^tee: none \(not confidential\): no VM/ },
  { name: 'SEV-SNP: a Normal ConfidentialSandbox event', report: 'snp' as const, type: 'Normal', reason: 'ConfidentialSandbox', label: 'snp (AMD SEV-SNP)', message: /^tee: snp \(AMD SEV-SNP\)/ },
  { name: 'no report from the runtime: TEEUnknown, never a confidential label', report: undefined, type: 'Warning', reason: 'TEEUnknown', label: 'unknown (not reported)', message: /reported no TEE for sandbox .*: treat the pod as not confidential/ },
];
for (const tc of teeCases) {
  test(`TEE label of a confidential pod: ${tc.name}`, () => {
    const asked: string[] = [];
    return withNode(
      async (n) => {
        const p = testPod('coco', { runtimeClassName: 'cocolet' });
        const plain = testPod('plain');
        n.setPods([p, plain]);
        await n.step(0);
        await n.step(0);
        const sid = [...n.cri.sandboxes.values()].find((s) => s.handler === 'cocolet')!.id;
        assert.deepEqual([...new Set(asked)], [sid], 'only the confidential pod\'s sandbox is asked about');
        const evs = n.kubelet.events.list().filter((e) => e.object === 'default/coco' && /TEE|Confidential/.test(e.reason));
        assert.equal(evs.length, 1, 'said once per sandbox, not per sync');
        assert.equal(evs[0]!.type, tc.type);
        assert.equal(evs[0]!.reason, tc.reason);
        assert.match(evs[0]!.message, tc.message);
        assert.equal(n.kubelet.runtime.teeLabelOf(p), tc.label);
        assert.equal(n.kubelet.runtime.teeLabelOf(plain), undefined);
        const row = n.kubelet.status.snapshot().pods.find((x) => x.metadata.name === 'coco');
        assert.equal(row?.tee, tc.label);
      },
      { teeOf: (sid) => (asked.push(sid), tc.report) },
    );
  });
}

test('a failed volume set-up is retried every 100 ms for a second, then from 200 ms doubling; not at the next 1 s sync tick nor after the 10 s of other sync errors (a TokenRequest refused until the authorizer sees the binding)', { timeout: 60_000 }, () =>
  withNode(async (n) => {
    let calls = 0;
    n.kubelet.volumes.setApi({
      getConfigMap: () => (++calls <= 11 ? Promise.reject(new Error('403 node requested a configmap of a pod scheduled on a different node')) : Promise.resolve({ data: { k: 'v' } })),
      getSecret: () => Promise.resolve(undefined),
      requestToken: () => Promise.reject(new Error('unused')),
    });
    const p = testPod('mount-retry', { volumes: [{ name: 'c', configMap: { name: 'cm' } }], containers: [testContainer('main', { volumeMounts: [{ name: 'c', mountPath: '/c' }] })] });
    p.metadata.annotations = { ...p.metadata.annotations, 'kubernetes.io/config.source': 'api' };
    n.setPods([p]);
    await n.step(0);
    assert.match(cstatus(n, p, 'main')?.state.waiting?.message ?? '', /403 node requested/);
    await n.step(99);
    assert.equal(calls, 1, 'not retried before 100 ms');
    for (let i = 2; i <= 11; i++) {
      await n.step(i === 2 ? 1 : 100);
      await n.step(0);
      assert.equal(calls, i, `try ${i} 100 ms after the one before`);
    }
    await n.step(100);
    assert.equal(calls, 11, 'the eleventh failure waits 200 ms');
    await n.step(100);
    await n.step(0);
    assert.equal(calls, 12);
    assert.equal(phase(n, p), 'Running');
  }));
