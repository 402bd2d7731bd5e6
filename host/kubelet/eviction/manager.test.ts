// The eviction manager with fed signals and pod stats (fake clock): thresholds, grace periods,
// minimum reclaim, the pressure transition period, node-level reclaim before evicting, one
// eviction per round, critical pods, the event and message texts, and admission under pressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import type { Pod } from '../api/types.js';
import { EvictionManager, toRankPod, type Eviction, type EvictionManagerOptions } from './manager.js';
import { podRequest, type PodStats, type FsLayout } from './rank.js';
import type { Observations, SignalSource } from './signals.js';
import { parseThresholdConfig, type EvictionSettings, type Signal } from './thresholds.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

class FedSignals implements SignalSource {
  values: Partial<Record<Signal, number>> = {};
  capacity = 8 * Gi;
  fsLayout: FsLayout = 'shared';
  observations = 0;
  constructor(private readonly clock: FakeClock) {}
  observe(): Observations {
    this.observations++;
    const out: Observations = {};
    for (const [s, v] of Object.entries(this.values)) out[s as Signal] = { available: v, capacity: this.capacity, time: this.clock.now() };
    return out;
  }
  layout(): FsLayout {
    return this.fsLayout;
  }
}

function mkPod(name: string, o: { memRequest?: string; memLimit?: string; priority?: number; source?: string; tolerations?: unknown[]; grace?: number } = {}): Pod {
  const resources = {
    ...(o.memRequest ? { requests: { memory: o.memRequest } } : {}),
    ...(o.memLimit ? { limits: { memory: o.memLimit } } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, annotations: { 'kubernetes.io/config.source': o.source ?? 'api' } },
    spec: {
      containers: [{ name: 'main', image: 'busybox', resources }],
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.grace !== undefined ? { terminationGracePeriodSeconds: o.grace } : {}),
    },
  } as Pod;
}

function setup(settings: EvictionSettings, extra: Partial<EvictionManagerOptions> = {}) {
  const clock = new FakeClock();
  const signals = new FedSignals(clock);
  const evictions: Eviction[] = [];
  let pods: Pod[] = [];
  const stats = new Map<string, PodStats>();
  const m = new EvictionManager({
    thresholds: parseThresholdConfig({ enforceNodeAllocatable: [], ...settings }),
    signals,
    activePods: () => pods,
    podStats: () => Promise.resolve(stats),
    evict: (e) => {
      evictions.push(e);
      pods = pods.filter((p) => p !== e.pod);
    },
    clock,
    ...extra,
  });
  return {
    clock,
    signals,
    evictions,
    m,
    stats,
    setPods: (p: Pod[]) => (pods = p),
    use: (name: string, bytes: number) => stats.set(`uid-${name}`, { memoryWorkingSet: bytes, containers: { main: { memoryWorkingSet: bytes } } }),
  };
}

const cond = (m: EvictionManager, type: string) => m.conditions().find((c) => c.type === type)!;

test('no pressure: nothing evicted, all three conditions False', async () => {
  const s = setup({ evictionHard: { 'memory.available': '100Mi' } });
  s.signals.values = { 'memory.available': 2 * Gi };
  s.setPods([mkPod('a')]);
  assert.equal(await s.m.synchronize(), undefined);
  assert.deepEqual(
    s.m.conditions().map((c) => [c.type, c.status, c.reason]),
    [
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
    ],
  );
});

test('hard memory threshold: evicts the top-ranked pod, one per round, 1 s grace, plain-words event', async () => {
  const s = setup({ evictionHard: { 'memory.available': '100Mi' } });
  s.signals.values = { 'memory.available': 80 * Mi };
  s.setPods([mkPod('small', { memRequest: '100Mi' }), mkPod('hog', { memRequest: '100Mi' }), mkPod('quiet', { memRequest: '1Gi' }), mkPod('d', { memRequest: '100Mi' }), mkPod('e', { memRequest: '100Mi' })]);
  s.use('small', 150 * Mi);
  s.use('hog', 400 * Mi);
  s.use('quiet', 300 * Mi);
  s.use('d', 120 * Mi);
  s.use('e', 110 * Mi);
  const evicted = await s.m.synchronize();
  assert.equal(evicted?.metadata.name, 'hog');
  assert.equal(s.evictions.length, 1);
  const e = s.evictions[0]!;
  assert.equal(e.reason, 'Evicted');
  assert.equal(e.gracePeriodSeconds, 1);
  assert.equal(e.message, 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container main was using 400Mi, request is 100Mi, has larger consumption of memory. ');
  assert.equal(
    e.event,
    'memory.available was 80Mi, below the 100Mi eviction threshold (hard); evicted this pod because it uses 400Mi memory, 300Mi above its 100Mi request, priority 0, the largest overuse among the 4 pods above their request with priority 0 (5 pods in all)',
  );
  assert.equal(cond(s.m, 'MemoryPressure').status, 'True');
  assert.match(cond(s.m, 'MemoryPressure').message, /^kubelet has insufficient memory available: memory.available is 80Mi, threshold 100Mi$/);
  // next round: the next pod (the hog is gone)
  await s.clock.advance(10_000);
  assert.equal((await s.m.synchronize())?.metadata.name, 'small');
});

test('percentage thresholds are taken of the capacity, and the event shows both', async () => {
  const s = setup({ evictionHard: { 'memory.available': '10%' } });
  s.signals.capacity = 10 * Gi;
  s.signals.values = { 'memory.available': 512 * Mi };
  s.setPods([mkPod('a')]);
  s.use('a', Gi);
  await s.m.synchronize();
  assert.match(s.evictions[0]!.event, /^memory.available was 512Mi, below the 10% \(1\.0Gi\) eviction threshold \(hard\)/);
});

test('soft threshold: nothing until its grace period has passed, then min(evictionMaxPodGracePeriod, pod grace)', async () => {
  const s = setup(
    { evictionHard: {}, evictionSoft: { 'memory.available': '1Gi' }, evictionSoftGracePeriod: { 'memory.available': '30s' } },
    { maxPodGracePeriodSeconds: 20 },
  );
  s.signals.values = { 'memory.available': 900 * Mi };
  s.setPods([mkPod('a', { grace: 60 }), mkPod('b', { grace: 5 })]);
  s.use('a', 500 * Mi);
  s.use('b', 100 * Mi);
  assert.equal(await s.m.synchronize(), undefined);
  assert.equal(cond(s.m, 'MemoryPressure').status, 'True', 'the condition does not wait for the grace period');
  await s.clock.advance(20_000);
  assert.equal(await s.m.synchronize(), undefined);
  await s.clock.advance(10_000);
  assert.equal((await s.m.synchronize())?.metadata.name, 'a');
  assert.equal(s.evictions[0]!.gracePeriodSeconds, 20);
  assert.match(s.evictions[0]!.event, /\(soft, for more than 30s\)/);
  await s.clock.advance(10_000);
  assert.equal((await s.m.synchronize())?.metadata.name, 'b');
  assert.equal(s.evictions[1]!.gracePeriodSeconds, 5);
});

test('minimum reclaim: once met, a threshold stays met until available exceeds threshold + minimum reclaim', async () => {
  const s = setup({ evictionHard: { 'memory.available': '100Mi' }, evictionMinimumReclaim: { 'memory.available': '500Mi' } });
  const pods = ['a', 'b', 'c'].map((n) => mkPod(n));
  s.setPods(pods);
  for (const n of ['a', 'b', 'c']) s.use(n, 100 * Mi);
  s.signals.values = { 'memory.available': 300 * Mi }; // above 100Mi: never met yet
  assert.equal(await s.m.synchronize(), undefined);
  s.signals.values = { 'memory.available': 50 * Mi };
  await s.clock.advance(10_000);
  assert.ok(await s.m.synchronize());
  s.signals.values = { 'memory.available': 300 * Mi }; // recovered past 100Mi, not past 600Mi
  await s.clock.advance(10_000);
  assert.ok(await s.m.synchronize(), 'still evicting below threshold + minimum reclaim');
  s.signals.values = { 'memory.available': 700 * Mi };
  await s.clock.advance(10_000);
  assert.equal(await s.m.synchronize(), undefined);
  assert.equal(s.evictions.length, 2);
});

test('pressure transition period: the condition stays True until the signal has been clear that long', async () => {
  let changes = 0;
  const s = setup({ evictionHard: { 'memory.available': '100Mi' } }, { pressureTransitionMs: 60_000, onConditionsChange: () => changes++ });
  s.setPods([]);
  s.signals.values = { 'memory.available': 50 * Mi };
  await s.m.synchronize();
  const raisedAt = cond(s.m, 'MemoryPressure').lastTransitionTime;
  assert.equal(cond(s.m, 'MemoryPressure').status, 'True');
  s.signals.values = { 'memory.available': Gi };
  await s.clock.advance(30_000);
  await s.m.synchronize();
  assert.equal(cond(s.m, 'MemoryPressure').status, 'True');
  assert.match(cond(s.m, 'MemoryPressure').message, /recovered, held for the 60s pressure transition period/);
  assert.equal(cond(s.m, 'MemoryPressure').lastTransitionTime, raisedAt);
  await s.clock.advance(30_000);
  await s.m.synchronize();
  assert.equal(cond(s.m, 'MemoryPressure').status, 'False');
  assert.equal(cond(s.m, 'MemoryPressure').lastTransitionTime, new Date(s.clock.now()).toISOString());
  assert.equal(changes, 2, 'told when it turned True and when it turned False');
});

test('disk pressure: dead containers, then unused images, before any pod; enough reclaimed → no eviction', async () => {
  const calls: string[] = [];
  const s = setup(
    { evictionHard: { 'nodefs.available': '1Gi' } },
    {
      reclaim: {
        containers: () => Promise.resolve(calls.push('containers')),
        images: () => {
          calls.push('images');
          s.signals.values = { 'nodefs.available': 2 * Gi };
          return Promise.resolve();
        },
      },
    },
  );
  s.signals.values = { 'nodefs.available': 500 * Mi };
  s.setPods([mkPod('a')]);
  s.stats.set('uid-a', { rootfsUsed: Gi });
  assert.equal(await s.m.synchronize(), undefined);
  assert.deepEqual(calls, ['containers', 'images']);
  assert.equal(s.evictions.length, 0);
  assert.equal(cond(s.m, 'DiskPressure').status, 'True');
});

test('disk pressure: not enough reclaimed → the pod using the most disk is evicted', async () => {
  const calls: string[] = [];
  const s = setup({ evictionHard: { 'nodefs.available': '1Gi' } }, { reclaim: { containers: () => Promise.resolve(calls.push('c')), images: () => Promise.resolve(calls.push('i')) } });
  s.signals.values = { 'nodefs.available': 500 * Mi };
  s.setPods([mkPod('a'), mkPod('b')]);
  s.stats.set('uid-a', { rootfsUsed: 100 * Mi, logsUsed: 0 });
  s.stats.set('uid-b', { rootfsUsed: 300 * Mi, logsUsed: 10 * Mi });
  assert.equal((await s.m.synchronize())?.metadata.name, 'b');
  assert.deepEqual(calls, ['c', 'i']);
  assert.match(s.evictions[0]!.message, /^The node was low on resource: ephemeral-storage\. Threshold quantity: 1Gi, available: 500Mi\. $/);
  assert.match(s.evictions[0]!.event, /uses 310Mi ephemeral storage with no ephemeral storage request \(rootfs 300Mi, logs 10Mi, local volumes 0\)/);
});

test('dedicated imagefs: nodefs pressure reclaims nothing at node level', async () => {
  const calls: string[] = [];
  const s = setup({ evictionHard: { 'nodefs.available': '1Gi' } }, { reclaim: { containers: () => Promise.resolve(calls.push('c')), images: () => Promise.resolve(calls.push('i')) } });
  s.signals.fsLayout = 'imagefs';
  s.signals.values = { 'nodefs.available': 500 * Mi };
  s.setPods([mkPod('a')]);
  s.stats.set('uid-a', { logsUsed: Mi });
  assert.ok(await s.m.synchronize());
  assert.deepEqual(calls, []);
});

test('memory signals are handled before disk signals', async () => {
  const s = setup({ evictionHard: { 'nodefs.available': '1Gi', 'memory.available': '100Mi' } });
  s.signals.values = { 'nodefs.available': Mi, 'memory.available': Mi };
  s.setPods([mkPod('a')]);
  s.use('a', Mi);
  await s.m.synchronize();
  assert.equal(s.evictions[0]!.signal, 'memory.available');
  assert.equal(cond(s.m, 'DiskPressure').status, 'True');
});

test('critical pods (static, system priority) are never evicted; the next pod is', async () => {
  const s = setup({ evictionHard: { 'memory.available': '100Mi' } });
  s.signals.values = { 'memory.available': Mi };
  s.setPods([mkPod('static', { source: 'file' }), mkPod('system', { priority: 2_000_000_000 }), mkPod('app', { memRequest: '1Gi' })]);
  s.use('static', Gi);
  s.use('system', Gi);
  s.use('app', Mi);
  assert.equal((await s.m.synchronize())?.metadata.name, 'app');
  assert.match(s.evictions[0]!.event, /\(2 critical pods not considered\)$/);
  s.setPods([mkPod('static', { source: 'file' })]);
  await s.clock.advance(10_000);
  assert.equal(await s.m.synchronize(), undefined);
});

test('admission under memory pressure refuses BestEffort pods only (unless they tolerate it); other pressure refuses all', async () => {
  const s = setup({ evictionHard: { 'memory.available': '100Mi', 'pid.available': '100' } });
  s.setPods([]);
  s.signals.values = { 'memory.available': Gi, 'pid.available': 1000 };
  await s.m.synchronize();
  assert.deepEqual(s.m.admit(mkPod('be')), { admit: true });
  s.signals.values = { 'memory.available': Mi, 'pid.available': 1000 };
  await s.clock.advance(10_000);
  await s.m.synchronize();
  assert.deepEqual(s.m.admit(mkPod('be')), { admit: false, reason: 'Evicted', message: 'The node had condition: [MemoryPressure]. ' });
  assert.deepEqual(s.m.admit(mkPod('burstable', { memRequest: '10Mi' })), { admit: true });
  assert.deepEqual(s.m.admit(mkPod('tolerant', { tolerations: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' }] })), { admit: true });
  assert.deepEqual(s.m.admit(mkPod('static', { source: 'file' })), { admit: true });
  s.signals.values = { 'memory.available': Mi, 'pid.available': 10 };
  await s.clock.advance(10_000);
  await s.m.synchronize();
  const r = s.m.admit(mkPod('burstable', { memRequest: '10Mi' }));
  assert.deepEqual(r, { admit: false, reason: 'Evicted', message: 'The node had condition: [MemoryPressure, PIDPressure]. ' });
});

test('the loop runs every period, and right after an evicted pod is cleaned up', async () => {
  let gone = false;
  const s = setup({ evictionHard: { 'memory.available': '100Mi' } }, { podCleanedUp: () => gone, periodMs: 10_000 });
  s.signals.values = { 'memory.available': Gi };
  s.setPods([mkPod('a'), mkPod('b')]);
  s.use('a', Mi);
  s.use('b', Mi);
  s.m.start();
  await s.clock.advance(0);
  assert.equal(s.signals.observations, 1);
  await s.clock.advance(10_000);
  assert.equal(s.signals.observations, 2);
  s.signals.values = { 'memory.available': Mi };
  await s.clock.advance(10_000);
  assert.equal(s.evictions.length, 1);
  await s.clock.advance(3_000);
  assert.equal(s.evictions.length, 1, 'waits for the cleanup');
  gone = true;
  await s.clock.advance(1_000);
  assert.equal(s.evictions.length, 2, 'next round as soon as the pod is gone');
  s.m.stop();
  assert.equal(s.clock.pending, 0);
});

test('local storage limits: emptyDir sizeLimit, the pod total, then a container limit; evicted at once, before thresholds', async () => {
  const s = setup({ evictionHard: { 'memory.available': '100Mi' } }, { localStorageCapacityIsolation: true });
  s.signals.values = { 'memory.available': Gi };
  const withVolume = mkPod('scratch');
  withVolume.spec.volumes = [{ name: 'cache', emptyDir: { sizeLimit: '100Mi' } }];
  const limited = mkPod('limited');
  limited.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '50Mi' } };
  const fine = mkPod('fine');
  fine.spec.containers[0]!.resources = { limits: { 'ephemeral-storage': '1Gi' } };
  s.setPods([withVolume, limited, fine, mkPod('static', { source: 'file' })]);
  s.stats.set('uid-scratch', { perLocalVolumeUsed: { cache: 150 * Mi }, containers: { main: { rootfsUsed: 0, logsUsed: 0 } } });
  s.stats.set('uid-limited', { containers: { main: { rootfsUsed: 40 * Mi, logsUsed: 20 * Mi } } });
  s.stats.set('uid-fine', { containers: { main: { rootfsUsed: 40 * Mi, logsUsed: 20 * Mi } } });
  s.stats.set('uid-static', { perLocalVolumeUsed: { x: Gi }, containers: { main: { rootfsUsed: Gi, logsUsed: 0 } } });
  assert.equal((await s.m.synchronize())?.metadata.name, 'scratch');
  assert.deepEqual(
    s.evictions.map((e) => [e.pod.metadata.name, e.gracePeriodSeconds, e.message]),
    [
      ['scratch', 0, 'Usage of EmptyDir volume "cache" exceeds the limit "100Mi". '],
      ['limited', 0, 'Pod ephemeral local storage usage exceeds the total limit of containers 50Mi. '],
    ],
  );
  assert.match(s.evictions[0]!.event, /^emptyDir volume cache holds 150Mi, over its sizeLimit 100Mi; evicted at once/);
  assert.match(s.evictions[1]!.event, /uses 60Mi of local storage .* over the 50Mi/);
});

test('local storage limits: a container over its own limit in a pod whose total is within limits', async () => {
  const { localStorageViolation } = await import('./manager.js');
  const p = mkPod('two');
  p.spec.containers = [
    { name: 'a', image: 'x', resources: { limits: { 'ephemeral-storage': '10Mi' } } },
    { name: 'b', image: 'x', resources: { limits: { 'ephemeral-storage': '1Gi' } } },
  ];
  const v = localStorageViolation(p, { containers: { a: { rootfsUsed: 20 * Mi, logsUsed: 0 }, b: { rootfsUsed: 0, logsUsed: 0 } } });
  assert.equal(v?.message, 'Container a exceeded its local ephemeral storage limit "10Mi". ');
  assert.equal(localStorageViolation(p, { containers: { a: { rootfsUsed: Mi, logsUsed: 0 } } }), undefined);
});

test('ranking counts the pod overhead in the pod\'s memory request (a confidential pod\'s VM), as upstream\'s podRequest', () => {
  const p: Pod = { metadata: { name: 'vm', namespace: 'ns', uid: 'u' }, spec: { runtimeClassName: 'cocolet', overhead: { memory: '1120Mi' }, containers: [{ name: 'c', image: 'x', resources: { requests: { memory: '100Mi' } } }] } };
  assert.equal(podRequest(toRankPod(p), 'memory'), 1220 * 1024 * 1024);
});
