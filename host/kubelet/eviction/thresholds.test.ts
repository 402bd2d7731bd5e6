// Threshold parsing, table-driven after the kubelet's TestParseThresholdConfig and
// TestAddAllocatableThresholds expectations (kl/eviction/helpers_test.go), plus cocolet's error texts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseThresholdConfig, thresholdQuantity, valueJson, type EvictionSettings, type Threshold } from './thresholds.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;
const none = { enforceNodeAllocatable: [] as string[] };

interface Row {
  signal: string;
  value: unknown;
  grace: number;
  minReclaim?: unknown;
}
const rows = (ts: Threshold[]): Row[] =>
  ts.map((t) => ({ signal: t.signal, value: valueJson(t.value), grace: t.gracePeriodMs, ...(t.minReclaim ? { minReclaim: valueJson(t.minReclaim) } : {}) }));
const sorted = (r: Row[]): Row[] => [...r].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

const ok: { name: string; in: EvictionSettings; want: Row[] }[] = [
  { name: 'no values', in: { evictionHard: {}, ...none }, want: [] },
  {
    name: 'all values, allocatable enforced',
    in: {
      enforceNodeAllocatable: ['pods'],
      evictionHard: { 'memory.available': '150Mi' },
      evictionSoft: { 'memory.available': '300Mi' },
      evictionSoftGracePeriod: { 'memory.available': '30s' },
      evictionMinimumReclaim: { 'memory.available': '0' },
    },
    want: [
      { signal: 'memory.available', value: { quantity: '150Mi' }, grace: 0, minReclaim: { quantity: '0' } },
      { signal: 'memory.available', value: { quantity: '300Mi' }, grace: 30_000, minReclaim: { quantity: '0' } },
      { signal: 'allocatableMemory.available', value: { quantity: '150Mi' }, grace: 0, minReclaim: { quantity: '0' } },
    ],
  },
  {
    name: 'percentages',
    in: { ...none, evictionHard: { 'memory.available': '10%' }, evictionSoft: { 'memory.available': '30%' }, evictionSoftGracePeriod: { 'memory.available': '30s' }, evictionMinimumReclaim: { 'memory.available': '5%' } },
    want: [
      { signal: 'memory.available', value: { percentage: 0.1 }, grace: 0, minReclaim: { percentage: 0.05 } },
      { signal: 'memory.available', value: { percentage: 0.3 }, grace: 30_000, minReclaim: { percentage: 0.05 } },
    ],
  },
  {
    name: 'disk values',
    in: {
      ...none,
      evictionHard: { 'imagefs.available': '150Mi', 'nodefs.available': '100Mi' },
      evictionSoft: { 'imagefs.available': '300Mi', 'nodefs.available': '200Mi' },
      evictionSoftGracePeriod: { 'imagefs.available': '30s', 'nodefs.available': '30s' },
      evictionMinimumReclaim: { 'imagefs.available': '2Gi', 'nodefs.available': '1Gi' },
    },
    want: [
      { signal: 'imagefs.available', value: { quantity: '150Mi' }, grace: 0, minReclaim: { quantity: '2Gi' } },
      { signal: 'nodefs.available', value: { quantity: '100Mi' }, grace: 0, minReclaim: { quantity: '1Gi' } },
      { signal: 'imagefs.available', value: { quantity: '300Mi' }, grace: 30_000, minReclaim: { quantity: '2Gi' } },
      { signal: 'nodefs.available', value: { quantity: '200Mi' }, grace: 30_000, minReclaim: { quantity: '1Gi' } },
    ],
  },
  {
    name: 'disk percentages with decimals',
    in: {
      ...none,
      evictionHard: { 'imagefs.available': '15%', 'nodefs.available': '10.5%' },
      evictionSoft: { 'imagefs.available': '30%', 'nodefs.available': '20.5%' },
      evictionSoftGracePeriod: { 'imagefs.available': '30s', 'nodefs.available': '30s' },
      evictionMinimumReclaim: { 'imagefs.available': '10%', 'nodefs.available': '5%' },
    },
    want: [
      { signal: 'imagefs.available', value: { percentage: 0.15 }, grace: 0, minReclaim: { percentage: 0.1 } },
      { signal: 'nodefs.available', value: { percentage: 0.105 }, grace: 0, minReclaim: { percentage: 0.05 } },
      { signal: 'imagefs.available', value: { percentage: 0.3 }, grace: 30_000, minReclaim: { percentage: 0.1 } },
      { signal: 'nodefs.available', value: { percentage: 0.205 }, grace: 30_000, minReclaim: { percentage: 0.05 } },
    ],
  },
  {
    name: 'inode values',
    in: {
      ...none,
      evictionHard: { 'imagefs.inodesFree': '150Mi', 'nodefs.inodesFree': '100Mi' },
      evictionSoft: { 'imagefs.inodesFree': '300Mi', 'nodefs.inodesFree': '200Mi' },
      evictionSoftGracePeriod: { 'imagefs.inodesFree': '30s', 'nodefs.inodesFree': '30s' },
      evictionMinimumReclaim: { 'imagefs.inodesFree': '2Gi', 'nodefs.inodesFree': '1Gi' },
    },
    want: [
      { signal: 'imagefs.inodesFree', value: { quantity: '150Mi' }, grace: 0, minReclaim: { quantity: '2Gi' } },
      { signal: 'nodefs.inodesFree', value: { quantity: '100Mi' }, grace: 0, minReclaim: { quantity: '1Gi' } },
      { signal: 'imagefs.inodesFree', value: { quantity: '300Mi' }, grace: 30_000, minReclaim: { quantity: '2Gi' } },
      { signal: 'nodefs.inodesFree', value: { quantity: '200Mi' }, grace: 30_000, minReclaim: { quantity: '1Gi' } },
    ],
  },
  {
    name: 'allocatable: a soft memory threshold is not copied',
    in: { enforceNodeAllocatable: ['pods'], evictionHard: {}, evictionSoft: { 'memory.available': '150Mi' }, evictionSoftGracePeriod: { 'memory.available': '10s' } },
    want: [{ signal: 'memory.available', value: { quantity: '150Mi' }, grace: 10_000 }],
  },
  {
    name: 'allocatable: two hard memory thresholds are both copied, other signals are not',
    in: { enforceNodeAllocatable: ['pods'], evictionHard: { 'memory.available': '150Mi', 'imagefs.available': '150Mi' }, evictionMinimumReclaim: { 'memory.available': '1Gi' } },
    want: [
      { signal: 'memory.available', value: { quantity: '150Mi' }, grace: 0, minReclaim: { quantity: '1Gi' } },
      { signal: 'imagefs.available', value: { quantity: '150Mi' }, grace: 0 },
      { signal: 'allocatableMemory.available', value: { quantity: '150Mi' }, grace: 0, minReclaim: { quantity: '1Gi' } },
    ],
  },
  { name: '0% and 100% disable a signal', in: { ...none, evictionHard: { 'memory.available': '0%', 'nodefs.available': '100%' } }, want: [] },
  {
    name: 'defaults (unset evictionHard, pods enforced)',
    in: {},
    want: [
      { signal: 'memory.available', value: { quantity: '100Mi' }, grace: 0 },
      { signal: 'nodefs.available', value: { percentage: 0.1 }, grace: 0 },
      { signal: 'nodefs.inodesFree', value: { percentage: 0.05 }, grace: 0 },
      { signal: 'imagefs.available', value: { percentage: 0.15 }, grace: 0 },
      { signal: 'imagefs.inodesFree', value: { percentage: 0.05 }, grace: 0 },
      { signal: 'allocatableMemory.available', value: { quantity: '100Mi' }, grace: 0 },
    ],
  },
  {
    name: 'setting evictionHard replaces the defaults',
    in: { ...none, evictionHard: { 'memory.available': '1Gi' } },
    want: [{ signal: 'memory.available', value: { quantity: '1Gi' }, grace: 0 }],
  },
  {
    name: 'mergeDefaultEvictionSettings overlays the defaults',
    in: { ...none, mergeDefaultEvictionSettings: true, evictionHard: { 'memory.available': '1Gi', 'imagefs.inodesFree': '0%' } },
    want: [
      { signal: 'memory.available', value: { quantity: '1Gi' }, grace: 0 },
      { signal: 'nodefs.available', value: { percentage: 0.1 }, grace: 0 },
      { signal: 'nodefs.inodesFree', value: { percentage: 0.05 }, grace: 0 },
      { signal: 'imagefs.available', value: { percentage: 0.15 }, grace: 0 },
    ],
  },
];

for (const tc of ok) {
  test(`thresholds: ${tc.name}`, () => {
    assert.deepEqual(sorted(rows(parseThresholdConfig(tc.in))), sorted(tc.want));
  });
}

const bad: { name: string; in: EvictionSettings; field: string; says: RegExp }[] = [
  { name: 'invalid signal', in: { evictionHard: { 'mem.available': '150Mi' } }, field: 'evictionHard.mem.available', says: /unknown eviction signal "mem.available"/ },
  { name: 'valid and invalid signal', in: { evictionHard: { 'memory.available': '150Mi', 'invalid.foo': '150Mi' } }, field: 'evictionHard.invalid.foo', says: /unknown eviction signal/ },
  { name: 'hard negative', in: { evictionHard: { 'memory.available': '-150Mi' } }, field: 'evictionHard.memory.available', says: /"-150Mi" must be positive/ },
  { name: 'hard zero', in: { evictionHard: { 'memory.available': '0' } }, field: 'evictionHard.memory.available', says: /must be positive/ },
  { name: 'hard negative percentage', in: { evictionHard: { 'memory.available': '-15%' } }, field: 'evictionHard.memory.available', says: /between 0% and 100%/ },
  { name: 'percentage above 100', in: { evictionHard: { 'nodefs.available': '101%' } }, field: 'evictionHard.nodefs.available', says: /"101%" must be between 0% and 100%/ },
  { name: 'bad quantity', in: { evictionHard: { 'memory.available': 'lots' } }, field: 'evictionHard.memory.available', says: /"lots" is not a quantity/ },
  { name: 'bad percentage', in: { evictionHard: { 'memory.available': 'x%' } }, field: 'evictionHard.memory.available', says: /"x%" is not a percentage/ },
  { name: 'soft negative', in: { evictionSoft: { 'memory.available': '-150Mi' } }, field: 'evictionSoft.memory.available', says: /must be positive/ },
  { name: 'soft without grace period', in: { evictionSoft: { 'memory.available': '150Mi' } }, field: 'evictionSoft.memory.available', says: /needs a grace period: set evictionSoftGracePeriod.memory.available/ },
  {
    name: 'soft with negative grace period',
    in: { evictionSoft: { 'memory.available': '150Mi' }, evictionSoftGracePeriod: { 'memory.available': '-30s' } },
    field: 'evictionSoftGracePeriod.memory.available',
    says: /"-30s" must not be negative/,
  },
  { name: 'grace period not a duration', in: { evictionSoftGracePeriod: { 'memory.available': 'soon' } }, field: 'evictionSoftGracePeriod.memory.available', says: /not a duration/ },
  { name: 'negative minimum reclaim', in: { evictionMinimumReclaim: { 'memory.available': '-300Mi' } }, field: 'evictionMinimumReclaim.memory.available', says: /must not be negative/ },
  { name: 'zero percentage minimum reclaim', in: { evictionMinimumReclaim: { 'memory.available': '0%' } }, field: 'evictionMinimumReclaim.memory.available', says: /above 0%/ },
  { name: 'minimum reclaim for an unknown signal', in: { evictionMinimumReclaim: { 'memory.free': '1Gi' } }, field: 'evictionMinimumReclaim.memory.free', says: /unknown eviction signal/ },
];

for (const tc of bad) {
  test(`thresholds rejected: ${tc.name} (names ${tc.field})`, () => {
    assert.throws(
      () => parseThresholdConfig(tc.in),
      (e: unknown) => isCocoletError(e) && e.code === ErrorCode.ConfigInvalid && e.context.field === tc.field && tc.says.test(e.message) && e.message.startsWith(`${tc.field}: `),
    );
  });
}

test('threshold quantity: percentages of capacity with the kubelet float32 arithmetic', () => {
  assert.equal(thresholdQuantity({ quantity: 100 * Mi, text: '100Mi' }, 8 * Gi), 100 * Mi);
  const [t] = parseThresholdConfig({ ...none, evictionHard: { 'nodefs.available': '10%' } });
  // float32(0.1) = 0.10000000149011612: 10 GiB × that, truncated
  assert.equal(thresholdQuantity(t!.value, 10 * Gi), Math.trunc(10 * Gi * 0.10000000149011612));
  assert.equal(thresholdQuantity(t!.value, 10 * Gi), 1073741840); // not 1073741824
});
