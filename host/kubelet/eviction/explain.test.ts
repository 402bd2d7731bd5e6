// `cocolet explain eviction` through the explain dispatcher, as an operator runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cmdExplain } from '../cm/explain/index.js';

async function explain(input: unknown): Promise<{ code: number; answer: Record<string, unknown> }> {
  const out: string[] = [];
  const code = await cmdExplain(['eviction'], { readStdin: () => Promise.resolve(JSON.stringify(input)), out: (s) => out.push(s), err: (s) => out.push(s) });
  return { code, answer: JSON.parse(out[0]!) as Record<string, unknown> };
}

test('defaults: the five Linux hard thresholds and the allocatable copy of memory.available', async () => {
  const { code, answer } = await explain({});
  assert.equal(code, 0);
  assert.deepEqual(answer.thresholds, [
    { signal: 'memory.available', operator: 'LessThan', value: { quantity: '100Mi' }, gracePeriod: '0s', minReclaim: null },
    { signal: 'nodefs.available', operator: 'LessThan', value: { percentage: 0.1 }, gracePeriod: '0s', minReclaim: null },
    { signal: 'nodefs.inodesFree', operator: 'LessThan', value: { percentage: 0.05 }, gracePeriod: '0s', minReclaim: null },
    { signal: 'imagefs.available', operator: 'LessThan', value: { percentage: 0.15 }, gracePeriod: '0s', minReclaim: null },
    { signal: 'imagefs.inodesFree', operator: 'LessThan', value: { percentage: 0.05 }, gracePeriod: '0s', minReclaim: null },
    { signal: 'allocatableMemory.available', operator: 'LessThan', value: { quantity: '100Mi' }, gracePeriod: '0s', minReclaim: null },
  ]);
});

test('soft thresholds carry their grace period and minimum reclaim', async () => {
  const { answer } = await explain({
    evictionHard: { 'memory.available': '200Mi' },
    evictionSoft: { 'memory.available': '500Mi' },
    evictionSoftGracePeriod: { 'memory.available': '1m30s' },
    evictionMinimumReclaim: { 'memory.available': '10%' },
    enforceNodeAllocatable: [],
  });
  assert.deepEqual(answer.thresholds, [
    { signal: 'memory.available', operator: 'LessThan', value: { quantity: '200Mi' }, gracePeriod: '0s', minReclaim: { percentage: 0.1 } },
    { signal: 'memory.available', operator: 'LessThan', value: { quantity: '500Mi' }, gracePeriod: '1m30s', minReclaim: { percentage: 0.1 } },
  ]);
});

const errors: [string, unknown, RegExp][] = [
  ['soft without grace period', { evictionSoft: { 'memory.available': '1Gi' } }, /^evictionSoft.memory.available: a soft threshold needs a grace period/],
  ['unknown signal', { evictionHard: { 'memory.free': '1Gi' } }, /^evictionHard.memory.free: unknown eviction signal/],
  ['bad quantity', { evictionHard: { 'memory.available': '1 gig' } }, /"1 gig" is not a quantity/],
  ['percentage out of range', { evictionHard: { 'nodefs.available': '150%' } }, /"150%" must be between 0% and 100%/],
  ['value not a string', { evictionHard: { 'memory.available': 100 } }, /evictionHard.memory.available must be a string/],
  ['unknown field', { evictionHardd: {} }, /unknown field "evictionHardd"/],
  ['unknown signal to rank', { signal: 'memory', pods: [] }, /signal "memory" is not an eviction signal/],
  ['stats for a pod not listed', { signal: 'memory.available', pods: [], stats: { ghost: {} } }, /stats.ghost: no pod of that name/],
  ['bad request', { signal: 'memory.available', pods: [{ name: 'a', containers: [{ name: 'c', requests: { memory: 'big' } }] }] }, /pod a: container c requests.memory: "big"/],
];
for (const [name, input, says] of errors) {
  test(`error: ${name}`, async () => {
    const { code, answer } = await explain(input);
    assert.equal(code, 1);
    assert.deepEqual(Object.keys(answer), ['error']);
    assert.match(answer.error as string, says);
  });
}

test('with a signal, pods and stats: the order and a reason per pod', async () => {
  const { code, answer } = await explain({
    signal: 'memory.available',
    pods: [
      { name: 'web', priority: 0, containers: [{ name: 'c', requests: { memory: '100Mi' } }] },
      { name: 'batch', priority: 0, containers: [{ name: 'c', requests: { memory: '100Mi' } }] },
      { name: 'db', priority: 1000, containers: [{ name: 'c', requests: { memory: '1Gi' }, limits: { memory: '1Gi' } }] },
      { name: 'cache', priority: 0, containers: [{ name: 'c' }] },
      { name: 'new', priority: 0, containers: [{ name: 'c' }] },
    ],
    stats: { web: { memoryWorkingSet: '150Mi' }, batch: { memoryWorkingSet: '400Mi' }, db: { memoryWorkingSet: '900Mi' }, cache: { memoryWorkingSet: '50Mi' } },
  });
  assert.equal(code, 0);
  assert.deepEqual(answer.order, ['new', 'batch', 'web', 'cache', 'db']);
  const reasons = answer.reasons as Record<string, string>;
  assert.match(reasons.new!, /^has no memory stats, priority 0; ahead of batch: has no stats while batch has/);
  assert.equal(reasons.batch, 'uses 400Mi memory, 300Mi above its 100Mi request, priority 0; ahead of web: larger overuse than web (300Mi > 50Mi)');
  assert.match(reasons.web!, /50Mi above its 100Mi request, priority 0; ahead of cache: tied with cache \(input order kept\)$/);
  assert.match(reasons.db!, /within its 1Gi request, priority 1000; ranked last/);
});

test('inode signals read byte fields as inode counts when no inode fields are given', async () => {
  const { answer } = await explain({
    signal: 'nodefs.inodesFree',
    pods: [
      { name: 'low', containers: [{ name: 'c' }], localVolumes: ['v'] },
      { name: 'high', containers: [{ name: 'c' }], localVolumes: ['v'] },
    ],
    stats: { low: { rootfsUsed: '50000', logsUsed: '100000', perLocalVolumeUsed: '50000' }, high: { rootfsUsed: '200000', logsUsed: '150000', perLocalVolumeUsed: '50000' } },
  });
  assert.deepEqual(answer.order, ['high', 'low']);
  assert.match((answer.reasons as Record<string, string>).high!, /uses 400000 inodes/);
});

test('pid.available: priority, then process count', async () => {
  const { answer } = await explain({
    signal: 'pid.available',
    pods: [
      { name: 'a', priority: 10, containers: [] },
      { name: 'b', priority: 0, containers: [] },
      { name: 'c', priority: 0, containers: [] },
    ],
    stats: { a: { processCount: 500 }, b: { processCount: 3 }, c: { processCount: 30 } },
  });
  assert.deepEqual(answer.order, ['c', 'b', 'a']);
});

test('observations: which thresholds are met, the node conditions, and the ranking under the signal acted on', async () => {
  const pods = [
    { name: 'a', containers: [{ name: 'c', requests: { memory: '100Mi' } }] },
    { name: 'b', containers: [{ name: 'c', requests: { memory: '100Mi' } }] },
  ];
  const { code, answer } = await explain({
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '10%' },
    enforceNodeAllocatable: [],
    observations: { 'nodefs.available': { available: '5Gi', capacity: '100Gi' }, 'memory.available': { available: '80Mi', capacity: '8Gi' } },
    pods,
    stats: { a: { memoryWorkingSet: '150Mi' }, b: { memoryWorkingSet: '300Mi' } },
  });
  assert.equal(code, 0);
  assert.deepEqual(answer.met, [
    { signal: 'memory.available', threshold: '100Mi', observed: '80Mi', gracePeriod: '0s' },
    { signal: 'nodefs.available', threshold: '10737418400', observed: '5Gi', gracePeriod: '0s' },
  ]);
  assert.deepEqual(answer.conditions, ['MemoryPressure', 'DiskPressure']);
  assert.equal(answer.signal, 'memory.available');
  assert.deepEqual(answer.order, ['b', 'a']);
  const calm = await explain({ observations: { 'memory.available': { available: '1Gi', capacity: '8Gi' } }, pods });
  assert.deepEqual([calm.answer.met, calm.answer.conditions, calm.answer.order], [[], [], undefined]);
  const bad = await explain({ observations: { 'memory.available': { available: 'lots', capacity: '8Gi' } } });
  assert.match(bad.answer.error as string, /observations.memory.available.available must be a quantity/);
  const noSignal = await explain({ pods });
  assert.match(noSignal.answer.error as string, /pods are ranked under a signal/);
});
