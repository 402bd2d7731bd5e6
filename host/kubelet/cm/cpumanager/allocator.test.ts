// Expected allocations are the upstream kubelet's (pkg/kubelet/cm/cpumanager/cpu_assignment_test.go),
// on the same machines (../machine/fixtures.ts): same inputs must give the same CPUs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import * as fx from '../machine/fixtures.js';
import { CpuTopology } from '../machine/topology.js';
import type { MachineTopology } from '../types.js';
import { balanceScore, CpuAccumulator, forEachCombination, takeByTopologyNUMADistributed, takeByTopologyNUMAPacked, type CpuSortingStrategy } from './allocator.js';

const topo = (m: () => MachineTopology): CpuTopology => new CpuTopology(m());
const T = {
  singleSocketHT: topo(fx.singleSocketHT),
  dualSocketHT: topo(fx.dualSocketHT),
  dualSocketNoHT: topo(fx.dualSocketNoHT),
  tripleSocketHT: topo(fx.tripleSocketHT),
  dualSocketMultiNuma: topo(fx.dualSocketMultiNumaPerSocketHT),
  multiSocketPerNuma: topo(fx.multiSocketDualSocketPerNumaHT),
  large: topo(fx.dualSocketMultiNumaPerSocketHTLarge),
  quad: topo(fx.quadSocketFourWayHT),
};
const S = (s: string): CpuSet => CpuSet.parse(s);

interface ListCase {
  name: string;
  topo: CpuTopology;
  available: string;
  expect: number[];
}

const freeSockets: ListCase[] = [
  { name: 'single socket HT, 1 socket free', topo: T.singleSocketHT, available: '0-7', expect: [0] },
  { name: 'single socket HT, 0 sockets free', topo: T.singleSocketHT, available: '1-7', expect: [] },
  { name: 'dual socket HT, 2 sockets free', topo: T.dualSocketHT, available: '0-11', expect: [0, 1] },
  { name: 'dual socket HT, 1 socket free', topo: T.dualSocketHT, available: '0-9,11', expect: [1] },
  { name: 'dual socket HT, 0 sockets free', topo: T.dualSocketHT, available: '0,2-9,11', expect: [] },
  { name: 'dual socket, multi numa per socket, HT, 2 sockets free', topo: T.dualSocketMultiNuma, available: '0-79', expect: [0, 1] },
  { name: 'dual socket, multi numa per socket, HT, 1 sockets free', topo: T.dualSocketMultiNuma, available: '1-79', expect: [1] },
  { name: 'dual socket, multi numa per socket, HT, 0 sockets free', topo: T.dualSocketMultiNuma, available: '1-78', expect: [] },
  { name: 'dual numa, multi socket per numa, HT, 4 sockets free', topo: T.multiSocketPerNuma, available: '0-79', expect: [0, 1, 2, 3] },
  { name: 'dual numa, multi socket per numa, HT, 3 sockets free', topo: T.multiSocketPerNuma, available: '0-19,21-79', expect: [0, 1, 3] },
  { name: 'dual numa, multi socket per numa, HT, 2 sockets free', topo: T.multiSocketPerNuma, available: '0-59,61-78', expect: [0, 1] },
  { name: 'dual numa, multi socket per numa, HT, 1 sockets free', topo: T.multiSocketPerNuma, available: '1-19,21-38,41-60,61-78', expect: [1] },
  { name: 'dual numa, multi socket per numa, HT, 0 sockets free', topo: T.multiSocketPerNuma, available: '0-40,42-49,51-68,71-79', expect: [] },
];
for (const tc of freeSockets) {
  test(`free sockets: ${tc.name}`, () => {
    assert.deepEqual(new CpuAccumulator(tc.topo, S(tc.available), 0).freeSockets().sort((a, b) => a - b), tc.expect);
  });
}

const freeNuma: ListCase[] = [
  { name: 'single socket HT, 1 NUMA node free', topo: T.singleSocketHT, available: '0-7', expect: [0] },
  { name: 'single socket HT, 0 NUMA node free', topo: T.singleSocketHT, available: '1-7', expect: [] },
  { name: 'dual socket HT, 2 NUMA node free', topo: T.dualSocketHT, available: '0-11', expect: [0, 1] },
  { name: 'dual socket HT, 1 NUMA node free', topo: T.dualSocketHT, available: '0-9,11', expect: [1] },
  { name: 'dual socket HT, 0 NUMA node free', topo: T.dualSocketHT, available: '0,2-9,11', expect: [] },
  { name: 'dual socket, multi numa per socket, HT, 4 NUMA node free', topo: T.dualSocketMultiNuma, available: '0-79', expect: [0, 1, 2, 3] },
  { name: 'dual socket, multi numa per socket, HT, 3 NUMA node free', topo: T.dualSocketMultiNuma, available: '1-79', expect: [1, 2, 3] },
  { name: 'dual socket, multi numa per socket, HT, 2 NUMA node free', topo: T.dualSocketMultiNuma, available: '1-9,11-79', expect: [2, 3] },
  { name: 'dual socket, multi numa per socket, HT, 1 NUMA node free', topo: T.dualSocketMultiNuma, available: '1-9,11-59,61-79', expect: [3] },
  { name: 'dual socket, multi numa per socket, HT, 0 NUMA node free', topo: T.dualSocketMultiNuma, available: '1-9,11-59,61-78', expect: [] },
  { name: 'dual numa, multi socket per numa, HT, 2 NUMA node free', topo: T.multiSocketPerNuma, available: '0-79', expect: [0, 1] },
  { name: 'dual numa, multi socket per numa, HT, 1 NUMA node free', topo: T.multiSocketPerNuma, available: '0-9,11-79', expect: [1] },
  { name: 'dual numa, multi socket per numa, HT, 0 NUMA node free', topo: T.multiSocketPerNuma, available: '0-9,11-59,61-79', expect: [] },
];
for (const tc of freeNuma) {
  test(`free NUMA nodes: ${tc.name}`, () => {
    assert.deepEqual(new CpuAccumulator(tc.topo, S(tc.available), 0).freeNUMANodes(), tc.expect);
  });
}

const freeSocketsAndNuma: { name: string; available: string; sockets: number[]; numa: number[] }[] = [
  { name: '2 sockets / 4 NUMA nodes free', available: '0-79', sockets: [0, 1], numa: [0, 1, 2, 3] },
  { name: '1 socket / 3 NUMA nodes free', available: '1-79', sockets: [1], numa: [1, 2, 3] },
  { name: '1 socket / 2 NUMA nodes free', available: '1-9,11-79', sockets: [1], numa: [2, 3] },
  { name: '0 sockets / 2 NUMA nodes free', available: '1-59,61-79', sockets: [], numa: [1, 3] },
];
for (const tc of freeSocketsAndNuma) {
  test(`free sockets and NUMA nodes, dual socket multi numa: ${tc.name}`, () => {
    const acc = new CpuAccumulator(T.dualSocketMultiNuma, S(tc.available), 0);
    assert.deepEqual(acc.freeNUMANodes(), tc.numa);
    assert.deepEqual(acc.freeSockets(), tc.sockets);
  });
}

const freeCores: ListCase[] = [
  { name: 'single socket HT, 4 cores free', topo: T.singleSocketHT, available: '0-7', expect: [0, 1, 2, 3] },
  { name: 'single socket HT, 3 cores free', topo: T.singleSocketHT, available: '0-2,4-6', expect: [0, 1, 2] },
  { name: 'single socket HT, 3 cores free (1 partially consumed)', topo: T.singleSocketHT, available: '0-6', expect: [0, 1, 2] },
  { name: 'single socket HT, 0 cores free', topo: T.singleSocketHT, available: '', expect: [] },
  { name: 'single socket HT, 0 cores free (4 partially consumed)', topo: T.singleSocketHT, available: '0-3', expect: [] },
  { name: 'dual socket HT, 6 cores free', topo: T.dualSocketHT, available: '0-11', expect: [0, 2, 4, 1, 3, 5] },
  { name: 'dual socket HT, 5 cores free (1 consumed from socket 0)', topo: T.dualSocketHT, available: '1-5,7-11', expect: [2, 4, 1, 3, 5] },
  { name: 'dual socket HT, 4 cores free (1 consumed from each socket)', topo: T.dualSocketHT, available: '2-5,8-11', expect: [2, 4, 3, 5] },
];
for (const tc of freeCores) {
  test(`free cores: ${tc.name}`, () => {
    assert.deepEqual(new CpuAccumulator(tc.topo, S(tc.available), 0).freeCores(), tc.expect);
  });
}

const freeCpus: ListCase[] = [
  { name: 'single socket HT, 8 cpus free', topo: T.singleSocketHT, available: '0-7', expect: [0, 4, 1, 5, 2, 6, 3, 7] },
  { name: 'single socket HT, 5 cpus free', topo: T.singleSocketHT, available: '3-7', expect: [4, 5, 6, 3, 7] },
  { name: 'dual socket HT, 12 cpus free', topo: T.dualSocketHT, available: '0-11', expect: [0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11] },
  { name: 'dual socket HT, 11 cpus free', topo: T.dualSocketHT, available: '1-11', expect: [6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11] },
  { name: 'dual socket HT, 10 cpus free', topo: T.dualSocketHT, available: '1-5,7-11', expect: [2, 8, 4, 10, 1, 7, 3, 9, 5, 11] },
  { name: 'triple socket HT, 12 cpus free', topo: T.tripleSocketHT, available: '0-3,6-13', expect: [12, 13, 0, 1, 2, 3, 6, 7, 8, 9, 10, 11] },
];
for (const tc of freeCpus) {
  test(`free CPUs in order: ${tc.name}`, () => {
    assert.deepEqual(new CpuAccumulator(tc.topo, S(tc.available), 0).sortAvailableCPUs(), tc.expect);
  });
}

const takes: { name: string; available: string; take: number[][]; n: number; satisfied: boolean; failed: boolean }[] = [
  { name: 'take 0 cpus, require 1', available: '0-7', take: [[]], n: 1, satisfied: false, failed: false },
  { name: 'take 0 cpus, require 1, none available', available: '', take: [[]], n: 1, satisfied: false, failed: true },
  { name: 'take 1 cpu, require 1', available: '0-7', take: [[0]], n: 1, satisfied: true, failed: false },
  { name: 'take 1 cpu, require 2', available: '0-7', take: [[0]], n: 2, satisfied: false, failed: false },
  { name: 'take 2 cpus, require 4, expect failed', available: '0-2', take: [[0], [1]], n: 4, satisfied: false, failed: true },
  { name: 'take all cpus one at a time, require 8', available: '0-7', take: [[0], [1], [2], [3], [4], [5], [6], [7]], n: 8, satisfied: true, failed: false },
];
for (const tc of takes) {
  test(`accumulator take: ${tc.name}`, () => {
    const acc = new CpuAccumulator(T.singleSocketHT, S(tc.available), tc.n);
    for (const cpus of tc.take) acc.take(cpus);
    assert.equal(acc.isSatisfied(), tc.satisfied);
    assert.equal(acc.isFailed(), tc.failed);
    const taken = tc.take.flat();
    for (const c of taken) assert.ok(!acc.free.has(c) && acc.result.includes(c));
    assert.equal(acc.needed, tc.n - taken.length);
  });
}

interface TakeCase {
  name: string;
  topo: CpuTopology;
  available: string;
  n: number;
  expect?: string;
  error?: string;
  strategy?: CpuSortingStrategy;
  groupSize?: number;
}

const common: TakeCase[] = [
  { name: 'take more cpus than are available from single socket with HT', topo: T.singleSocketHT, available: '0,2,4,6', n: 5, error: 'not enough cpus available to satisfy request: requested=5, available=4' },
  { name: 'take zero cpus from single socket with HT', topo: T.singleSocketHT, available: '0-7', n: 0, expect: '' },
  { name: 'take one cpu from single socket with HT', topo: T.singleSocketHT, available: '0-7', n: 1, expect: '0' },
  { name: 'take one cpu from single socket with HT, some cpus are taken', topo: T.singleSocketHT, available: '1,3,5,6,7', n: 1, expect: '6' },
  { name: 'take two cpus from single socket with HT', topo: T.singleSocketHT, available: '0-7', n: 2, expect: '0,4' },
  { name: 'take all cpus from single socket with HT', topo: T.singleSocketHT, available: '0-7', n: 8, expect: '0-7' },
  { name: 'take two cpus from single socket with HT, only one core totally free', topo: T.singleSocketHT, available: '0-3,6', n: 2, expect: '2,6' },
  { name: 'take a socket of cpus from dual socket with HT', topo: T.dualSocketHT, available: '0-11', n: 6, expect: '0,2,4,6,8,10' },
  { name: 'take a socket of cpus from dual socket with multi-numa-per-socket with HT', topo: T.dualSocketMultiNuma, available: '0-79', n: 40, expect: '0-19,40-59' },
  { name: 'take a NUMA node of cpus from dual socket with multi-numa-per-socket with HT', topo: T.dualSocketMultiNuma, available: '0-79', n: 20, expect: '0-9,40-49' },
  { name: 'take a NUMA node of cpus from dual socket with multi-numa-per-socket with HT, with 1 NUMA node already taken', topo: T.dualSocketMultiNuma, available: '10-39,50-79', n: 20, expect: '10-19,50-59' },
  { name: 'take a socket and a NUMA node of cpus from dual socket with multi-numa-per-socket with HT', topo: T.dualSocketMultiNuma, available: '0-79', n: 60, expect: '0-29,40-69' },
  { name: 'take a socket and a NUMA node of cpus from dual socket with multi-numa-per-socket with HT, a core taken', topo: T.dualSocketMultiNuma, available: '1-39,41-79', n: 60, expect: '10-39,50-79' },
];

const packed: TakeCase[] = [
  ...common,
  { name: 'take one cpu from dual socket with HT - core from Socket 0', topo: T.dualSocketHT, available: '1-5,7-11', n: 1, expect: '2' },
  { name: 'allocate 4 full cores with 3 coming from the first NUMA node (filling it up) and 1 coming from the second NUMA node', topo: T.dualSocketHT, available: '0-11', n: 8, expect: '0,6,2,8,4,10,1,7' },
  { name: 'allocate 32 full cores with 30 coming from the first 3 NUMA nodes (filling them up) and 2 coming from the fourth NUMA node', topo: T.dualSocketMultiNuma, available: '0-79', n: 64, expect: '0-29,40-69,30,31,70,71' },
];
for (const tc of packed) {
  test(`packed: ${tc.name}`, () => check(tc, () => takeByTopologyNUMAPacked(tc.topo, S(tc.available), tc.n)));
}

const spread: TakeCase[] = [
  { name: 'take a socket of cpus from single socket with HT, 3 cpus', topo: T.singleSocketHT, available: '0-7', n: 3, expect: '0-2' },
  { name: 'take a socket of cpus from dual socket with HT, 2 cpus', topo: T.dualSocketHT, available: '0-11', n: 2, expect: '0,2' },
  { name: 'take a socket of cpus from dual socket with HT, 3 cpus', topo: T.dualSocketHT, available: '0-11', n: 3, expect: '0,2,4' },
  { name: 'take a socket of cpus from dual socket with HT, 6 cpus', topo: T.dualSocketHT, available: '0-11', n: 6, expect: '0,2,4,6,8,10' },
  { name: 'take cpus from dual socket with HT, 8 cpus', topo: T.dualSocketHT, available: '0-11', n: 8, expect: '0,2,4,6,8,10,1,3' },
  { name: 'take a socket of cpus from dual socket without HT, 2 cpus', topo: T.dualSocketNoHT, available: '0-7', n: 2, expect: '0,1' },
  { name: 'take cpus from dual socket with multi numa per socket and HT, 8 cpus', topo: T.dualSocketMultiNuma, available: '0-79', n: 8, expect: '0-7' },
  { name: 'take a socket of cpus from quad socket four way with HT, 12 cpus', topo: T.quad, available: '0-287', n: 12, expect: '0-2,9-10,13-14,21-22,25-26,33' },
];
for (const tc of spread) {
  test(`spread (distribute-cpus-across-cores): ${tc.name}`, () => check(tc, () => takeByTopologyNUMAPacked(tc.topo, S(tc.available), tc.n, 'spread')));
}

const distributed: TakeCase[] = [
  ...common.map((c) => ({ ...c, groupSize: 1 })),
  { name: 'allocate 4 full cores with 2 distributed across each NUMA node', topo: T.dualSocketHT, available: '0-11', n: 8, groupSize: 1, expect: '0,6,2,8,1,7,3,9' },
  { name: 'allocate 32 full cores with 8 distributed across each NUMA node', topo: T.dualSocketMultiNuma, available: '0-79', n: 64, groupSize: 1, expect: '0-7,10-17,20-27,30-37,40-47,50-57,60-67,70-77' },
  { name: 'allocate 24 full cores with 8 distributed across the first 3 NUMA nodes', topo: T.dualSocketMultiNuma, available: '0-79', n: 48, groupSize: 1, expect: '0-7,10-17,20-27,40-47,50-57,60-67' },
  { name: 'allocate 24 full cores with 8 distributed across the first 3 NUMA nodes (taking all but 2 from the first NUMA node)', topo: T.dualSocketMultiNuma, available: '1-29,32-39,41-69,72-79', n: 48, groupSize: 1, expect: '1-8,10-17,20-27,41-48,50-57,60-67' },
  { name: 'allocate 24 full cores with 8 distributed across the last 3 NUMA nodes (even though all 8 could be allocated from the first NUMA node)', topo: T.dualSocketMultiNuma, available: '2-29,31-39,42-69,71-79', n: 48, groupSize: 1, expect: '10-17,20-27,31-38,50-57,60-67,71-78' },
  { name: 'allocate 8 full cores with 2 distributed across each NUMA node', topo: T.dualSocketMultiNuma, available: '0-2,10-12,20-22,30-32,40-41,50-51,60-61,70-71', n: 16, groupSize: 1, expect: '0-1,10-11,20-21,30-31,40-41,50-51,60-61,70-71' },
  { name: 'take one cpu from dual socket with HT - core from Socket 0', topo: T.dualSocketHT, available: '1-5,7-11', n: 1, groupSize: 1, expect: '1' },
  { name: 'take one cpu from dual socket with HT - core from Socket 0 - cpuGroupSize 2', topo: T.dualSocketHT, available: '1-5,7-11', n: 1, groupSize: 2, expect: '2' },
  { name: 'allocate 13 full cores distributed across the first 2 NUMA nodes', topo: T.dualSocketMultiNuma, available: '0-79', n: 26, groupSize: 1, expect: '0-6,10-16,40-45,50-55' },
  { name: 'allocate 13 full cores distributed across the first 2 NUMA nodes (cpuGroupSize 2)', topo: T.dualSocketMultiNuma, available: '0-79', n: 26, groupSize: 2, expect: '0-6,10-15,40-46,50-55' },
  { name: 'allocate 31 full cores with 15 CPUs distributed across each NUMA node and 1 CPU spilling over to each of NUMA 0, 1', topo: T.dualSocketMultiNuma, available: '0-79', n: 62, groupSize: 1, expect: '0-7,10-17,20-27,30-37,40-47,50-57,60-66,70-76' },
  { name: 'allocate 31 full cores with 14 CPUs distributed across each NUMA node and 2 CPUs spilling over to each of NUMA 0, 1, 2 (cpuGroupSize 2)', topo: T.dualSocketMultiNuma, available: '0-79', n: 62, groupSize: 2, expect: '0-7,10-17,20-27,30-36,40-47,50-57,60-67,70-76' },
  { name: 'allocate 31 full cores with 15 CPUs distributed across each NUMA node and 1 CPU spilling over to each of NUMA 2, 3 (to keep balance)', topo: T.dualSocketMultiNuma, available: '0-8,10-18,20-39,40-48,50-58,60-79', n: 62, groupSize: 1, expect: '0-7,10-17,20-27,30-37,40-46,50-56,60-67,70-77' },
  { name: 'allocate 31 full cores with 14 CPUs distributed across each NUMA node and 2 CPUs spilling over to each of NUMA 0, 2, 3 (to keep balance with cpuGroupSize 2)', topo: T.dualSocketMultiNuma, available: '0-8,10-18,20-39,40-48,50-58,60-79', n: 62, groupSize: 2, expect: '0-7,10-16,20-27,30-37,40-47,50-56,60-67,70-77' },
  { name: 'ensure bestRemainder chosen with NUMA nodes that have enough CPUs to satisfy the request', topo: T.dualSocketMultiNuma, available: '0-3,10-13,20-23,30-36,40-43,50-53,60-63,70-76', n: 34, groupSize: 1, expect: '0-3,10-13,20-23,30-34,40-43,50-53,60-63,70-74' },
  { name: 'ensure previous failure encountered on live machine has been fixed (8-NUMA, 256 CPUs)', topo: T.large, available: '0,128,30,31,158,159,43-47,171-175,62,63,190,191,75-79,203-207,94,96,222,223,101-111,229-239,126,127,254,255', n: 28, groupSize: 1, expect: '43-47,75-79,96,101-105,171-174,203-206,229-232' },
];
for (const tc of distributed) {
  test(`distributed (distribute-cpus-across-numa): ${tc.name}`, () => check(tc, () => takeByTopologyNUMADistributed(tc.topo, S(tc.available), tc.n, tc.groupSize ?? 1)));
}

function check(tc: TakeCase, run: () => CpuSet): void {
  if (tc.error !== undefined) {
    assert.throws(run, (e: unknown) => e instanceof Error && e.message === tc.error);
    return;
  }
  assert.equal(run().toString(), S(tc.expect!).toString());
}

test('8-NUMA machine: a whole NUMA node, a whole socket, and one CPU of the fullest node', () => {
  assert.equal(takeByTopologyNUMAPacked(T.large, S('0-255'), 32).toString(), '0-15,128-143');
  assert.equal(takeByTopologyNUMAPacked(T.large, S('0-255'), 128).toString(), '0-63,128-191');
  assert.equal(takeByTopologyNUMAPacked(T.large, S('1-255'), 1).toString(), '128');
});

test('balance score rounds the mean and the deviation to 3 decimals', () => {
  assert.equal(balanceScore([5, 5, 5]), 0);
  assert.equal(balanceScore([0, 1]), 0.5);
  assert.equal(balanceScore([1, 2, 2]), 0.471);
});

test('combinations come in lexicographic order and stop when asked', () => {
  const seen: number[][] = [];
  forEachCombination([3, 1, 2], 2, (c) => {
    seen.push(c);
    return false;
  });
  assert.deepEqual(seen, [[3, 1], [3, 2], [1, 2]]);
  let n = 0;
  forEachCombination([0, 1, 2, 3], 1, () => ++n === 2);
  assert.equal(n, 2);
});
