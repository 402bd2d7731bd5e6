import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCocoletError } from '../../../../shared/errors/errors.js';
import { parseNodeMemTotal, readMachineTopology } from './sysfs.js';

interface FakeCpu {
  cpu: number;
  pkg: number;
  coreId: number;
  l3?: number;
}

/** Writes a sysfs-shaped tree: cpu/online, cpuN/topology, cpuN/cache/index3/id, node/nodeN. */
function fakeSysfs(cpus: FakeCpu[], nodes: { id: number; cpulist: string; distance: string; memKb?: number }[] | null, online?: string): string {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-sysfs-'));
  const cpuDir = join(root, 'devices/system/cpu');
  mkdirSync(cpuDir, { recursive: true });
  writeFileSync(join(cpuDir, 'online'), `${online ?? cpus.map((c) => c.cpu).join(',')}\n`);
  for (const c of cpus) {
    const t = join(cpuDir, `cpu${c.cpu}`, 'topology');
    mkdirSync(t, { recursive: true });
    writeFileSync(join(t, 'physical_package_id'), `${c.pkg}\n`);
    writeFileSync(join(t, 'core_id'), `${c.coreId}\n`);
    if (c.l3 !== undefined) {
      mkdirSync(join(cpuDir, `cpu${c.cpu}`, 'cache/index3'), { recursive: true });
      writeFileSync(join(cpuDir, `cpu${c.cpu}`, 'cache/index3/id'), `${c.l3}\n`);
    }
  }
  for (const n of nodes ?? []) {
    const d = join(root, 'devices/system/node', `node${n.id}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'cpulist'), `${n.cpulist}\n`);
    writeFileSync(join(d, 'distance'), `${n.distance}\n`);
    if (n.memKb !== undefined) writeFileSync(join(d, 'meminfo'), `Node ${n.id} MemTotal:       ${n.memKb} kB\nNode ${n.id} MemFree:         1 kB\n`);
  }
  return root;
}

// Two sockets, two threads per core, core_id restarting at 0 on each package (as real sysfs does),
// siblings numbered N and N+4.
const dualSocketHT: FakeCpu[] = [0, 1, 2, 3, 4, 5, 6, 7].map((cpu) => ({ cpu, pkg: cpu % 4 < 2 ? 0 : 1, coreId: cpu % 2, l3: cpu % 4 < 2 ? 0 : 1 }));

test('sysfs: dual socket with hyperthreads and two NUMA nodes', () => {
  const root = fakeSysfs(dualSocketHT, [
    { id: 0, cpulist: '0-1,4-5', distance: '10 21', memKb: 1024 },
    { id: 1, cpulist: '2-3,6-7', distance: '21 10', memKb: 2048 },
  ]);
  try {
    const t = readMachineTopology({ root });
    assert.deepEqual(t.numaNodes, [0, 1]);
    assert.deepEqual(t.distances, { 0: [10, 21], 1: [21, 10] });
    assert.deepEqual(t.memoryPerNuma, { 0: 1024 * 1024, 1: 2048 * 1024 });
    const byCpu = Object.fromEntries(t.cpus.map((c) => [c.cpu, c]));
    // core ids are the lowest CPU of the core: package 1's core_id 0 is cpus 2 and 6 -> core 2
    assert.deepEqual(byCpu[0], { cpu: 0, core: 0, socket: 0, numa: 0, uncoreCache: 0 });
    assert.deepEqual(byCpu[4], { cpu: 4, core: 0, socket: 0, numa: 0, uncoreCache: 0 });
    assert.deepEqual(byCpu[6], { cpu: 6, core: 2, socket: 1, numa: 1, uncoreCache: 1 });
    assert.deepEqual(byCpu[7], { cpu: 7, core: 3, socket: 1, numa: 1, uncoreCache: 1 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('sysfs: offline CPUs are left out', () => {
  const root = fakeSysfs(dualSocketHT, [{ id: 0, cpulist: '0-7', distance: '10' }], '0-3');
  try {
    const t = readMachineTopology({ root });
    assert.deepEqual(t.cpus.map((c) => c.cpu), [0, 1, 2, 3]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('sysfs: a kernel without NUMA puts every CPU on node 0', () => {
  const root = fakeSysfs([{ cpu: 0, pkg: 0, coreId: 0 }, { cpu: 1, pkg: 0, coreId: 1 }], null);
  try {
    const t = readMachineTopology({ root });
    assert.deepEqual(t.numaNodes, [0]);
    assert.deepEqual(t.distances, { 0: [10] });
    assert.deepEqual(t.cpus, [{ cpu: 0, core: 0, socket: 0, numa: 0 }, { cpu: 1, core: 1, socket: 0, numa: 0 }]);
    assert.equal(t.memoryPerNuma, undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const broken: { name: string; make: () => string; error: RegExp }[] = [
  {
    name: 'a garbled online list',
    make: () => fakeSysfs([{ cpu: 0, pkg: 0, coreId: 0 }], null, '0-'),
    error: /devices\/system\/cpu\/online: cpuset "0-": element "0-" is a range without an end/,
  },
  {
    name: 'a CPU in no node',
    make: () => fakeSysfs([{ cpu: 0, pkg: 0, coreId: 0 }, { cpu: 1, pkg: 0, coreId: 1 }], [{ id: 0, cpulist: '0', distance: '10' }]),
    error: /online cpu 1 is in no NUMA node's cpulist/,
  },
  {
    name: 'a distance row of the wrong length',
    make: () => fakeSysfs([{ cpu: 0, pkg: 0, coreId: 0 }, { cpu: 1, pkg: 0, coreId: 1 }], [{ id: 0, cpulist: '0', distance: '10 20' }, { id: 1, cpulist: '1', distance: '20' }]),
    error: /node1\/distance lists 1 distances for 2 NUMA nodes/,
  },
  {
    name: 'a missing core_id',
    make: () => {
      const r = fakeSysfs([{ cpu: 0, pkg: 0, coreId: 0 }], null);
      rmSync(join(r, 'devices/system/cpu/cpu0/topology/core_id'));
      return r;
    },
    error: /cannot read .*cpu0\/topology\/core_id/,
  },
];
for (const tc of broken) {
  test(`sysfs: ${tc.name} is an error naming the file`, () => {
    const root = tc.make();
    try {
      assert.throws(() => readMachineTopology({ root }), (e: unknown) => isCocoletError(e, 'COCOLET_UNAVAILABLE') && tc.error.test(e.message));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('sysfs: this machine', (t) => {
  if (!existsSync('/sys/devices/system/cpu/online')) return t.skip('no /sys here');
  const m = readMachineTopology();
  assert.ok(m.cpus.length >= 1);
  assert.ok(m.numaNodes.length >= 1);
  for (const n of m.numaNodes) assert.equal(m.distances[n]!.length, m.numaNodes.length);
});

test('meminfo MemTotal parsing', () => {
  assert.equal(parseNodeMemTotal('Node 0 MemTotal:       13592392 kB\nNode 0 MemFree: 1 kB'), 13592392 * 1024);
  assert.equal(parseNodeMemTotal('nothing'), undefined);
});
