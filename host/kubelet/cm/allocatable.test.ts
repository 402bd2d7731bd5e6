import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hardEvictionReservation, nodeAllocatable, nodeAllocatableReservation, parseReservedResources } from './allocatable.js';

const Gi = 1024 ** 3;
const Mi = 1024 ** 2;

test('allocatable = capacity - kubeReserved - systemReserved - hard eviction (defaults: memory 100Mi, nodefs 10%)', () => {
  const capacity = { cpu: 8, memory: 32 * Gi, 'ephemeral-storage': 100 * Gi, pods: 110 };
  const i = { capacity, kubeReserved: { cpu: 0.5, memory: Gi }, systemReserved: { cpu: 0.5, memory: 512 * Mi } };
  assert.deepEqual(nodeAllocatableReservation(i), { cpu: 1, memory: Gi + 512 * Mi + 100 * Mi, 'ephemeral-storage': Math.trunc(100 * Gi * Math.fround(0.1)) });
  assert.deepEqual(nodeAllocatable(i), { cpu: 7, memory: 32 * Gi - Gi - 512 * Mi - 100 * Mi, 'ephemeral-storage': 100 * Gi - Math.trunc(100 * Gi * Math.fround(0.1)), pods: 110 });
});

test('hugepages capacity comes off allocatable memory; nothing goes below 0', () => {
  const a = nodeAllocatable({ capacity: { memory: 4 * Gi, 'hugepages-1Gi': 2 * Gi, cpu: 1 }, kubeReserved: { cpu: 2 }, eviction: { evictionHard: { 'memory.available': '1Gi' } } });
  assert.deepEqual(a, { memory: Gi, 'hugepages-1Gi': 2 * Gi, cpu: 0 });
});

test('soft thresholds and other signals reserve nothing; a percentage is of the capacity', () => {
  const r = hardEvictionReservation({ evictionHard: { 'memory.available': '5%', 'imagefs.available': '15%' }, evictionSoft: { 'nodefs.available': '20%' }, evictionSoftGracePeriod: { 'nodefs.available': '1m' } }, { memory: 10 * Gi });
  assert.deepEqual(r, { memory: Math.trunc(10 * Gi * Math.fround(0.05)) });
});

test('kubeReserved/systemReserved: errors name the field and resource', () => {
  assert.deepEqual(parseReservedResources('kubeReserved', { cpu: '100m', memory: '1Gi', pid: '100' }), { cpu: 0.1, memory: Gi, pid: 100 });
  assert.throws(() => parseReservedResources('kubeReserved', { gpu: '1' }), /kubeReserved\.gpu: cannot reserve "gpu"/);
  assert.throws(() => parseReservedResources('systemReserved', { memory: 'lots' }), /systemReserved\.memory: "lots" is not a quantity/);
});
