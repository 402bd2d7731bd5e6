// The kubelet's eviction ranking, table-driven after the expectations of its helpers_test.go
// (TestOrderedByExceedsRequestMemory/Disk, TestOrderedByPriority, TestOrderedbyDisk/Inodes,
// TestOrderedByPriorityDisk/Inodes, TestOrderedByMemory, TestOrderedByPriorityMemory,
// TestOrderedByPriorityProcess). Each case feeds the pods in the order the kubelet's test does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError } from '../../../shared/errors/errors.js';
import { chosenBecause, podRequest, rankForEviction, type PodStats, type RankPod } from './rank.js';
import type { Signal } from './thresholds.js';

const low = -1;
const def = 0;
const high = 1;

const pod = (name: string, priority: number, req: Record<string, string> = {}, lim: Record<string, string> = {}, vols = true): RankPod => ({
  name,
  priority,
  containers: [{ name, requests: req, limits: lim }],
  ...(vols ? { localVolumes: ['local-volume'] } : {}),
});
const mem = (n: string): PodStats => ({ memoryWorkingSet: n });
const disk = (root: string, logs: string, vol: string): PodStats => ({ rootfsUsed: root, logsUsed: logs, perLocalVolumeUsed: vol });
const inodes = (root: string, logs: string, vol: string): PodStats => ({ rootfsInodesUsed: root, logsInodesUsed: logs, perLocalVolumeInodesUsed: vol });

interface Case {
  name: string;
  signal: Signal;
  pods: RankPod[];
  stats: Record<string, PodStats>;
  want: string[];
}

const P = (n: number): string => `pod${n}`;
const cases: Case[] = [
  {
    name: 'memory: the pod above its request goes first, whatever its priority',
    signal: 'memory.available',
    pods: [pod('below-requests', -1, { memory: '200Mi' }), pod('exceeds-requests', 1, { memory: '100Mi' })],
    stats: { 'below-requests': mem('199Mi'), 'exceeds-requests': mem('101Mi') },
    want: ['exceeds-requests', 'below-requests'],
  },
  {
    name: 'disk: the pod above its ephemeral-storage request goes first',
    signal: 'nodefs.available',
    pods: [pod('below-requests', -1, { 'ephemeral-storage': '200Mi' }), pod('exceeds-requests', 1, { 'ephemeral-storage': '100Mi' })],
    stats: { 'below-requests': disk('100Mi', '99Mi', '0Mi'), 'exceeds-requests': disk('90Mi', '11Mi', '0Mi') },
    want: ['exceeds-requests', 'below-requests'],
  },
  {
    name: 'pids: lower priority first',
    signal: 'pid.available',
    pods: [pod('high-priority', 12534, { memory: '200Mi' }), pod('medium-priority', 1, { memory: '100Mi' }), pod('low-priority', -134)],
    stats: {},
    want: ['low-priority', 'medium-priority', 'high-priority'],
  },
  {
    name: 'disk: largest usage above the ephemeral-storage request first',
    signal: 'nodefs.available',
    pods: [
      pod(P(1), def),
      pod(P(2), def),
      pod(P(3), def, { 'ephemeral-storage': '100Mi' }, { 'ephemeral-storage': '400Mi' }),
      pod(P(4), def, { 'ephemeral-storage': '100Mi' }, { 'ephemeral-storage': '400Mi' }),
      pod(P(5), def, { 'ephemeral-storage': '400Mi' }, { 'ephemeral-storage': '400Mi' }),
      pod(P(6), def, { 'ephemeral-storage': '400Mi' }, { 'ephemeral-storage': '400Mi' }),
    ],
    stats: {
      [P(1)]: disk('50Mi', '100Mi', '150Mi'),
      [P(2)]: disk('25Mi', '25Mi', '50Mi'),
      [P(3)]: disk('150Mi', '150Mi', '50Mi'),
      [P(4)]: disk('25Mi', '35Mi', '50Mi'),
      [P(5)]: disk('225Mi', '100Mi', '50Mi'),
      [P(6)]: disk('25Mi', '45Mi', '50Mi'),
    },
    want: [P(1), P(3), P(2), P(4), P(5), P(6)],
  },
  {
    name: 'inodes: most inodes first',
    signal: 'nodefs.inodesFree',
    pods: [pod('low', def), pod('medium', def), pod('high', def)],
    stats: { low: inodes('50000', '100000', '50000'), medium: inodes('100000', '150000', '50000'), high: inodes('200000', '150000', '50000') },
    want: ['high', 'medium', 'low'],
  },
  {
    name: 'disk: above request, then priority, then usage above request',
    signal: 'nodefs.available',
    pods: [
      pod(P(8), high, { 'ephemeral-storage': '1Gi' }),
      pod(P(7), high, { 'ephemeral-storage': '1Gi' }),
      pod(P(6), low, { 'ephemeral-storage': '1Gi' }),
      pod(P(5), low, { 'ephemeral-storage': '1Gi' }),
      pod(P(4), high, { 'ephemeral-storage': '100Mi' }),
      pod(P(3), high, { 'ephemeral-storage': '100Mi' }),
      pod(P(2), low),
      pod(P(1), low),
    ],
    stats: {
      [P(1)]: disk('200Mi', '100Mi', '200Mi'),
      [P(2)]: disk('10Mi', '10Mi', '30Mi'),
      [P(3)]: disk('200Mi', '150Mi', '250Mi'),
      [P(4)]: disk('90Mi', '50Mi', '10Mi'),
      [P(5)]: disk('500Mi', '200Mi', '100Mi'),
      [P(6)]: disk('50Mi', '100Mi', '50Mi'),
      [P(7)]: disk('250Mi', '500Mi', '50Mi'),
      [P(8)]: disk('100Mi', '60Mi', '40Mi'),
    },
    want: [P(1), P(2), P(3), P(4), P(5), P(6), P(7), P(8)],
  },
  {
    name: 'inodes: priority, then most inodes',
    signal: 'imagefs.inodesFree',
    pods: [pod(P(4), high), pod(P(3), high), pod(P(2), low), pod(P(1), low)],
    stats: {
      [P(1)]: inodes('50000', '100000', '250000'),
      [P(2)]: inodes('60000', '30000', '10000'),
      [P(3)]: inodes('150000', '150000', '50000'),
      [P(4)]: inodes('10000', '40000', '100000'),
    },
    want: [P(1), P(2), P(3), P(4)],
  },
  {
    name: 'memory: largest working set above the request first',
    signal: 'memory.available',
    pods: [
      pod(P(1), def, {}, {}, false),
      pod(P(2), def, {}, {}, false),
      pod(P(3), def, { memory: '100Mi' }, { memory: '1Gi' }, false),
      pod(P(4), def, { memory: '100Mi' }, { memory: '1Gi' }, false),
      pod(P(5), def, { memory: '1Gi' }, { memory: '1Gi' }, false),
      pod(P(6), def, { memory: '1Gi' }, { memory: '1Gi' }, false),
    ],
    stats: { [P(1)]: mem('500Mi'), [P(2)]: mem('300Mi'), [P(3)]: mem('800Mi'), [P(4)]: mem('300Mi'), [P(5)]: mem('800Mi'), [P(6)]: mem('200Mi') },
    want: [P(3), P(1), P(2), P(4), P(5), P(6)],
  },
  {
    name: 'memory: above request, then priority, then usage above request',
    signal: 'allocatableMemory.available',
    pods: [
      pod(P(8), high, { memory: '1Gi' }, {}, false),
      pod(P(7), high, { memory: '1Gi' }, {}, false),
      pod(P(6), low, { memory: '1Gi' }, {}, false),
      pod(P(5), low, { memory: '1Gi' }, {}, false),
      pod(P(4), high, { memory: '100Mi' }, {}, false),
      pod(P(3), high, { memory: '100Mi' }, {}, false),
      pod(P(2), low, {}, {}, false),
      pod(P(1), low, {}, {}, false),
    ],
    stats: {
      [P(1)]: mem('500Mi'),
      [P(2)]: mem('50Mi'),
      [P(3)]: mem('600Mi'),
      [P(4)]: mem('150Mi'),
      [P(5)]: mem('800Mi'),
      [P(6)]: mem('200Mi'),
      [P(7)]: mem('800Mi'),
      [P(8)]: mem('200Mi'),
    },
    want: [P(1), P(2), P(3), P(4), P(5), P(6), P(7), P(8)],
  },
  {
    name: 'pids: priority, then most processes',
    signal: 'pid.available',
    pods: [pod(P(4), high), pod(P(3), high), pod(P(2), low), pod(P(1), low)],
    stats: { [P(1)]: { processCount: 20 }, [P(2)]: { processCount: 6 }, [P(3)]: { processCount: 20 }, [P(4)]: { processCount: 5 } },
    want: [P(1), P(2), P(3), P(4)],
  },
  {
    name: 'memory: a pod without stats goes first, even at high priority',
    signal: 'memory.available',
    pods: [pod('measured', low, {}, {}, false), pod('unmeasured', high, {}, {}, false)],
    stats: { measured: mem('1Gi') },
    want: ['unmeasured', 'measured'],
  },
  {
    name: 'pids: priority beats missing stats',
    signal: 'pid.available',
    pods: [pod('unmeasured', high), pod('measured', low)],
    stats: { measured: { processCount: 1 } },
    want: ['measured', 'unmeasured'],
  },
  {
    name: 'disk with a dedicated imagefs: nodefs measures logs and local volumes only',
    signal: 'nodefs.available',
    pods: [pod('big-rootfs', def), pod('big-logs', def)],
    stats: { 'big-rootfs': disk('900Mi', '10Mi', '0'), 'big-logs': disk('10Mi', '100Mi', '0') },
    want: ['big-logs', 'big-rootfs'],
  },
  {
    name: 'a limit without a request counts as the request (API defaulting)',
    signal: 'memory.available',
    pods: [pod('limited', def, {}, { memory: '1Gi' }, false), pod('besteffort', def, {}, {}, false)],
    stats: { limited: mem('500Mi'), besteffort: mem('100Mi') },
    want: ['besteffort', 'limited'],
  },
];

for (const tc of cases) {
  test(`rank: ${tc.name}`, () => {
    const layout = tc.name.includes('dedicated imagefs') ? 'imagefs' : 'shared';
    const got = rankForEviction(tc.signal, tc.pods, tc.stats, { layout });
    assert.deepEqual(
      got.map((r) => r.pod.name),
      tc.want,
    );
    assert.equal(got.length, tc.pods.length);
    for (const r of got) assert.ok(r.reason.length > 0 && !r.reason.includes('\n'), r.reason);
  });
}

test('reasons say usage, request, priority and why the first pod is first', () => {
  const pods = [pod('a', 0, { memory: '100Mi' }, {}, false), pod('b', 0, { memory: '100Mi' }, {}, false), pod('c', 0, {}, {}, false)];
  const r = rankForEviction('memory.available', pods, { a: mem('400Mi'), b: mem('200Mi'), c: mem('150Mi') });
  assert.deepEqual(
    r.map((x) => x.pod.name),
    ['a', 'c', 'b'],
  );
  assert.equal(r[0]!.reason, 'uses 400Mi memory, 300Mi above its 100Mi request, priority 0, the largest overuse among 3 pods');
  assert.equal(r[1]!.reason, 'uses 150Mi memory with no memory request, priority 0; ahead of b: larger overuse than b (150Mi > 100Mi)');
  assert.match(r[2]!.reason, /ranked last$/);
  assert.equal(chosenBecause(r), r[0]!.reason);
  const p = rankForEviction('memory.available', [pod('x', 5, {}, {}, false), pod('y', 0, { memory: '1Gi' }, {}, false)], { x: mem('1Mi'), y: mem('2Gi') });
  assert.match(p[0]!.reason, /^uses 2Gi memory, 1Gi above its 1Gi request, priority 0; ahead of x: lower priority than x \(0 < 5\)$/);
});

test('pod request: containers and sidecars summed, at least the largest init container, plus overhead', () => {
  const p: RankPod = {
    name: 'p',
    containers: [
      { name: 'a', requests: { memory: '100Mi' } },
      { name: 'b', limits: { memory: '50Mi' } },
    ],
    initContainers: [
      { name: 'side', restartPolicy: 'Always', requests: { memory: '10Mi' } },
      { name: 'big', requests: { memory: '300Mi' } },
    ],
    overhead: { memory: '20Mi' },
  };
  assert.equal(podRequest(p, 'memory'), (10 + 300 + 20) * 2 ** 20);
  p.initContainers = [{ name: 'small', requests: { memory: '1Mi' } }];
  assert.equal(podRequest(p, 'memory'), (150 + 20) * 2 ** 20);
});

test('a malformed quantity is an error naming the pod and field', () => {
  assert.throws(
    () => rankForEviction('memory.available', [pod('p', 0, { memory: 'lots' })], {}),
    (e: unknown) => isCocoletError(e) && /pod p: container p requests.memory: "lots"/.test(e.message),
  );
  assert.throws(() => rankForEviction('memory.available', [pod('p', 0)], { p: mem('x') }), /pod p: memoryWorkingSet: "x"/);
});
