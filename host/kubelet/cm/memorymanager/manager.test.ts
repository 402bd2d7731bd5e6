import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Container, Pod } from '../../api/types.js';
import { MemoryManager, MEMORY_MANAGER_STATE_FILE, type MemoryManagerOptions } from './manager.js';
import { podMemoryRequests } from './resources.js';

const Gi = 1024 ** 3;

interface C {
  name: string;
  mem: number; // Gi
  hp1g?: number; // Gi of hugepages-1Gi
  init?: boolean;
  burstable?: boolean;
}

function pod(uid: string, cs: C[]): Pod {
  const ctr = (c: C): Container => {
    const limits: Record<string, string> = { cpu: '1', memory: `${c.mem}Gi` };
    if (c.hp1g) limits['hugepages-1Gi'] = `${c.hp1g}Gi`;
    return { name: c.name, image: 'x', resources: c.burstable ? { requests: { cpu: '500m', memory: `${c.mem}Gi` }, limits } : { limits } };
  };
  const init = cs.filter((c) => c.init).map(ctr);
  return { metadata: { name: uid, uid }, spec: { containers: cs.filter((c) => !c.init).map(ctr), ...(init.length ? { initContainers: init } : {}) } };
}
const ctr = (p: Pod, name: string): Container => [...(p.spec.initContainers ?? []), ...p.spec.containers].find((c) => c.name === name)!;

/** Two NUMA nodes of 11Gi, 1Gi of each reserved for the system: 10Gi allocatable each. */
function opts(extra: Partial<MemoryManagerOptions> = {}): MemoryManagerOptions {
  return {
    policy: 'Static',
    machine: { numaNodes: [0, 1], memoryPerNuma: { 0: 11 * Gi, 1: 11 * Gi } },
    reservedMemory: [
      { numaNode: 0, limits: { memory: '1Gi' } },
      { numaNode: 1, limits: { memory: '1Gi' } },
    ],
    nodeAllocatableReservation: { memory: 2 * Gi, cpu: 1 },
    ...extra,
  };
}

const P = (...ids: number[]) => ({ numaAffinity: ids, preferred: true });
const N = (...ids: number[]) => ({ numaAffinity: ids, preferred: false });

test('hints: every NUMA set with room; the fewest nodes that could hold it are preferred', () => {
  const mm = new MemoryManager(opts());
  const small = pod('a', [{ name: 'c', mem: 1 }]);
  assert.deepEqual(mm.getTopologyHints(small, ctr(small, 'c')), { memory: [P(0), P(1), N(0, 1)] });
  const big = pod('b', [{ name: 'c', mem: 12 }]);
  assert.deepEqual(mm.getTopologyHints(big, ctr(big, 'c')), { memory: [P(0, 1)] });
  const huge = pod('c', [{ name: 'c', mem: 21 }]);
  assert.deepEqual(mm.getTopologyHints(huge, ctr(huge, 'c')), { memory: [] });
});

test('only Guaranteed pods are managed', () => {
  const mm = new MemoryManager(opts());
  const p = pod('a', [{ name: 'c', mem: 1, burstable: true }]);
  assert.equal(mm.getTopologyHints(p, ctr(p, 'c')), null);
  mm.allocate(p, ctr(p, 'c'), P(0));
  assert.deepEqual(mm.assignments(), {});
});

test('allocate reserves on the affinity; the node becomes a single-node group; remove restores it', () => {
  const mm = new MemoryManager(opts());
  const initial = mm.machineState();
  const p = pod('a', [{ name: 'c', mem: 3 }]);
  mm.allocate(p, ctr(p, 'c'), P(1));
  const s = mm.machineState();
  assert.deepEqual(s[1]!.memory.memory, { total: 11 * Gi, systemReserved: Gi, allocatable: 10 * Gi, reserved: 3 * Gi, free: 7 * Gi });
  assert.equal(s[1]!.assignments, 1);
  assert.deepEqual(mm.getMemoryNumaNodes('a', 'c'), [1]);
  // A container that has blocks gets the same hint back (after a restart, say).
  assert.deepEqual(mm.getTopologyHints(p, ctr(p, 'c')), { memory: [P(1)] });
  // Node 1 is used alone now: it cannot be part of a 2-node group.
  const big = pod('b', [{ name: 'c', mem: 12 }]);
  assert.deepEqual(mm.getTopologyHints(big, ctr(big, 'c')), { memory: [] });
  mm.removeContainer('a', 'c');
  assert.deepEqual(mm.machineState(), initial);
});

test('a multi-node group is reused only whole, and never for a single-node allocation', () => {
  const mm = new MemoryManager(opts());
  const big = pod('b', [{ name: 'c', mem: 12 }]);
  mm.allocate(big, ctr(big, 'c'), P(0, 1));
  const s = mm.machineState();
  assert.deepEqual([s[0]!.memory.memory!.free, s[1]!.memory.memory!.free], [0, 8 * Gi]);
  assert.deepEqual([s[0]!.cells, s[1]!.cells], [[0, 1], [0, 1]]);
  const small = pod('s', [{ name: 'c', mem: 1 }]);
  assert.deepEqual(mm.getTopologyHints(small, ctr(small, 'c')), { memory: [N(0, 1)] });
});

test('no affinity from the topology manager: the narrowest preferred default', () => {
  const mm = new MemoryManager(opts());
  const p = pod('a', [{ name: 'c', mem: 2 }]);
  mm.allocate(p, ctr(p, 'c'), null);
  assert.deepEqual(mm.getMemoryNumaNodes('a', 'c'), [0]);
});

test('an affinity that cannot hold the request and cannot be widened is an error naming the container', () => {
  const mm = new MemoryManager(opts());
  const a = pod('a', [{ name: 'c', mem: 8 }]);
  mm.allocate(a, ctr(a, 'c'), P(0));
  const b = pod('b', [{ name: 'd', mem: 4 }]);
  assert.throws(() => mm.allocate(b, ctr(b, 'd'), P(0)), /\[memorymanager\] pod b container d: failed to find NUMA nodes to extend the current topology hint \[0\]/);
});

test('hugepages are accounted per NUMA node next to memory', () => {
  const mm = new MemoryManager(opts({ machine: { numaNodes: [0, 1], memoryPerNuma: { 0: 15 * Gi, 1: 15 * Gi } }, hugepagesPerNuma: { 0: { 'hugepages-1Gi': 4 * Gi }, 1: { 'hugepages-1Gi': 4 * Gi } } }));
  const s = mm.machineState();
  assert.deepEqual(s[0]!.memory['hugepages-1Gi'], { total: 4 * Gi, systemReserved: 0, allocatable: 4 * Gi, reserved: 0, free: 4 * Gi });
  assert.equal(s[0]!.memory.memory!.allocatable, 10 * Gi); // 15 - 1 reserved - 4 hugepages
  const p = pod('a', [{ name: 'c', mem: 1, hp1g: 3 }]);
  assert.deepEqual(mm.getTopologyHints(p, ctr(p, 'c')), { memory: [P(0), P(1), N(0, 1)], 'hugepages-1Gi': [P(0), P(1), N(0, 1)] });
  mm.allocate(p, ctr(p, 'c'), P(1));
  assert.equal(mm.machineState()[1]!.memory['hugepages-1Gi']!.free, Gi);
});

test("an init container's memory is reused by the app containers on the same nodes", () => {
  const mm = new MemoryManager(opts());
  const p = pod('a', [
    { name: 'init', mem: 2, init: true },
    { name: 'app', mem: 2 },
  ]);
  mm.allocate(p, ctr(p, 'init'), P(0));
  mm.allocate(p, ctr(p, 'app'), P(0));
  assert.equal(mm.machineState()[0]!.memory.memory!.reserved, 2 * Gi);
});

test('pod-level request: the larger of the init peak and the long-running sum', () => {
  const p = pod('a', [
    { name: 'i1', mem: 5, init: true },
    { name: 'a1', mem: 1 },
    { name: 'a2', mem: 2 },
  ]);
  assert.deepEqual(podMemoryRequests(p), { memory: 5 * Gi });
  const mm = new MemoryManager(opts());
  assert.deepEqual(mm.getPodTopologyHints(p), { memory: [P(0), P(1), N(0, 1)] });
});

const badConfigs: [string, Partial<MemoryManagerOptions>, RegExp][] = [
  ['lowercase policy', { policy: 'static' }, /memoryManagerPolicy: unknown policy "static" \(known: None, Static\)/],
  ['sum differs from Node Allocatable', { nodeAllocatableReservation: { memory: 3 * Gi } }, /reservedMemory: the total amount 2147483648 bytes of type "memory" is not equal to the value 3221225472 bytes/],
  ['nothing reserved', { reservedMemory: [], nodeAllocatableReservation: {} }, /needs memory reserved for the system/],
  ['unknown NUMA node', { reservedMemory: [{ numaNode: 5, limits: { memory: '2Gi' } }] }, /reservedMemory\[0\]\.numaNode: .*NUMA node 5 that does not exist/],
  ['bad quantity', { reservedMemory: [{ numaNode: 0, limits: { memory: 'lots' } }] }, /reservedMemory\[0\]\.limits\.memory: "lots" is not a non-negative quantity/],
  ['cpu per NUMA', { reservedMemory: [{ numaNode: 0, limits: { cpu: '1' } }] }, /reservedMemory\[0\]\.limits\.cpu: only memory and hugepages/],
];
for (const [name, extra, re] of badConfigs) test(`configuration refused: ${name}`, () => assert.throws(() => new MemoryManager(opts(extra)), re));

test('None: no hints, no state', () => {
  const mm = new MemoryManager({ policy: 'None', machine: { numaNodes: [0] } });
  const p = pod('a', [{ name: 'c', mem: 1 }]);
  assert.equal(mm.getTopologyHints(p, ctr(p, 'c')), null);
  mm.allocate(p, ctr(p, 'c'), P(0));
  assert.equal(mm.getMemoryNumaNodes('a', 'c'), null);
});

// ---- the state file ----

function withRoot(fn: (root: string, logs: Record<string, unknown>[]) => void): void {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-mm-'));
  const logs: Record<string, unknown>[] = [];
  try {
    fn(root, logs);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
function logger(logs: Record<string, unknown>[]) {
  return pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
}

test('state file: a restart restores assignments and accounting', () =>
  withRoot((root) => {
    const a = new MemoryManager(opts({ rootDir: root }));
    a.start();
    const p = pod('a', [{ name: 'c', mem: 3 }]);
    a.allocate(p, ctr(p, 'c'), P(1));
    const b = new MemoryManager(opts({ rootDir: root }));
    b.start();
    assert.deepEqual(b.machineState(), a.machineState());
    assert.deepEqual(b.getMemoryNumaNodes('a', 'c'), [1]);
    assert.deepEqual(readdirSync(root), [MEMORY_MANAGER_STATE_FILE]);
  }));

test('state file: corrupt -> kept aside, logged, started from the configuration', () =>
  withRoot((root, logs) => {
    writeFileSync(join(root, MEMORY_MANAGER_STATE_FILE), '{"policyName":"Static","machineState":');
    const mm = new MemoryManager(opts({ rootDir: root, logger: logger(logs), now: () => 7 }));
    mm.start();
    assert.deepEqual(readdirSync(root).sort(), [MEMORY_MANAGER_STATE_FILE, `${MEMORY_MANAGER_STATE_FILE}.bad-7`]);
    assert.ok(logs.some((l) => l.msg === 'memory manager state not usable, starting from the configuration' && l.why === 'state file unusable: not JSON'));
    assert.deepEqual(mm.assignments(), {});
  }));

test('state file: written by the other policy -> kept aside', () =>
  withRoot((root, logs) => {
    new MemoryManager({ policy: 'None', machine: { numaNodes: [0, 1] }, rootDir: root }).start();
    const mm = new MemoryManager(opts({ rootDir: root, logger: logger(logs), now: () => 8 }));
    mm.start();
    assert.ok(readdirSync(root).includes(`${MEMORY_MANAGER_STATE_FILE}.bad-8`));
    assert.match(String(logs.find((l) => l.why)?.why), /policy "None", configured Static/);
  }));

test('state file: reservation changed -> accounting rebuilt, assignments kept; too big to fit -> dropped', () =>
  withRoot((root, logs) => {
    const a = new MemoryManager(opts({ rootDir: root }));
    a.start();
    const p = pod('a', [{ name: 'c', mem: 3 }]);
    const q = pod('b', [{ name: 'd', mem: 9 }]);
    a.allocate(p, ctr(p, 'c'), P(0));
    a.allocate(q, ctr(q, 'd'), P(1));
    // Now 2Gi reserved on node 1: 9Gi no longer fits there.
    const b = new MemoryManager(
      opts({ rootDir: root, logger: logger(logs), now: () => 9, reservedMemory: [{ numaNode: 0, limits: { memory: '1Gi' } }, { numaNode: 1, limits: { memory: '3Gi' } }], nodeAllocatableReservation: { memory: 4 * Gi } }),
    );
    b.start();
    assert.deepEqual(b.getMemoryNumaNodes('a', 'c'), [0]);
    assert.equal(b.getMemoryNumaNodes('b', 'd'), null);
    assert.equal(b.machineState()[0]!.memory.memory!.reserved, 3 * Gi);
    assert.ok(logs.some((l) => l.container === 'b/d'));
    assert.ok(readdirSync(root).includes(`${MEMORY_MANAGER_STATE_FILE}.bad-9`));
    const saved = JSON.parse(readFileSync(join(root, MEMORY_MANAGER_STATE_FILE), 'utf8')) as { entries: object };
    assert.deepEqual(Object.keys(saved.entries), ['a']);
  }));

test('removeStaleState releases containers that are gone', () =>
  withRoot((root) => {
    const mm = new MemoryManager(opts({ rootDir: root }));
    mm.start();
    const initial = mm.machineState();
    const p = pod('a', [{ name: 'c', mem: 3 }]);
    mm.allocate(p, ctr(p, 'c'), P(0));
    mm.removeStaleState(new Set(['a/c']));
    assert.deepEqual(mm.getMemoryNumaNodes('a', 'c'), [0]);
    mm.removeStaleState(new Set());
    assert.deepEqual(mm.machineState(), initial);
  }));
