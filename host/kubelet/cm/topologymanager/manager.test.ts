import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../api/types.js';
import { AdmissionError, type HintProvider, type ResourceHints, type TopologyHint } from '../types.js';
import { TopologyManager } from './manager.js';
import { FOUR_NODES, n, p, TWO_NODES } from './testing.js';

/** A provider answering fixed hints per container, recording allocations and releases. */
class FakeProvider implements HintProvider {
  readonly allocated: { container: string; affinity: TopologyHint | null }[] = [];
  readonly removed: string[] = [];
  podCalls = 0;
  constructor(
    readonly name: string,
    private readonly hints: (c: Container | null) => ResourceHints,
    private readonly fail?: (c: Container) => Error | undefined,
  ) {}
  getTopologyHints(_pod: Pod, c: Container): ResourceHints {
    return this.hints(c);
  }
  getPodTopologyHints(): ResourceHints {
    this.podCalls++;
    return this.hints(null);
  }
  allocate(_pod: Pod, c: Container, affinity: TopologyHint | null): void {
    const e = this.fail?.(c);
    if (e) throw e;
    this.allocated.push({ container: c.name, affinity });
  }
  removeContainer(_uid: string, name: string): void {
    this.removed.push(name);
  }
}

function pod(containers: string[], init: string[] = []): Pod {
  const c = (name: string): Container => ({ name, image: 'x' });
  return { metadata: { name: 'p', namespace: 'ns', uid: 'uid-1' }, spec: { containers: containers.map(c), ...(init.length ? { initContainers: init.map(c) } : {}) } };
}

test('container scope: one merge per container, init containers first, affinity passed to allocate and stored', async () => {
  const cpu = new FakeProvider('cpu', (c) => ({ cpu: c?.name === 'app' ? [p(1)] : [p(0), p(1)] }));
  const mem = new FakeProvider('memory', () => ({ memory: [p(0), p(1), n(0, 1)] }));
  const tm = new TopologyManager({ policy: 'restricted', topology: TWO_NODES });
  tm.addHintProvider(cpu);
  tm.addHintProvider(mem);
  assert.deepEqual(await tm.admit(pod(['app'], ['init'])), { admit: true });
  assert.deepEqual(cpu.allocated, [
    { container: 'init', affinity: p(0) },
    { container: 'app', affinity: p(1) },
  ]);
  assert.deepEqual(mem.allocated.map((a) => a.container), ['init', 'app']);
  assert.deepEqual(tm.getAffinity('uid-1', 'app'), p(1));
  await tm.removeContainer('uid-1', 'app');
  assert.equal(tm.getAffinity('uid-1', 'app'), null);
  assert.deepEqual(cpu.removed, ['app']);
});

test('pod scope: one merge from GetPodTopologyHints, every container gets it', async () => {
  const cpu = new FakeProvider('cpu', (c) => (c === null ? { cpu: [p(1)] } : { cpu: [p(0)] }));
  const tm = new TopologyManager({ policy: 'single-numa-node', scope: 'pod', topology: TWO_NODES });
  tm.addHintProvider(cpu);
  assert.deepEqual(await tm.admit(pod(['a', 'b'])), { admit: true });
  assert.equal(cpu.podCalls, 1);
  assert.deepEqual(cpu.allocated, [
    { container: 'a', affinity: p(1) },
    { container: 'b', affinity: p(1) },
  ]);
});

test('refusal names the resources whose hints could not be aligned, and releases earlier containers', async () => {
  const cpu = new FakeProvider('cpu', () => ({ cpu: [p(0)] }));
  const dev = new FakeProvider('devices', (c) => (c?.name === 'second' ? { 'example.com/gpu': [p(1)] } : null));
  const tm = new TopologyManager({ policy: 'restricted', topology: TWO_NODES });
  tm.addHintProvider(cpu);
  tm.addHintProvider(dev);
  const r = await tm.admit(pod(['first', 'second']));
  assert.equal(r.admit, false);
  assert.ok(!r.admit);
  assert.equal(r.reason, 'TopologyAffinityError');
  assert.equal(r.message, 'Resources cannot be allocated with Topology locality (policy restricted, container second): cpu hints want NUMA {0}, example.com/gpu hints want NUMA {1}');
  assert.deepEqual(cpu.removed, ['first']);
  assert.deepEqual(dev.removed, ['first']);
  assert.equal(tm.getAffinity('uid-1', 'first'), null);
});

test('single-numa-node refusal says which resource does not fit on one node', async () => {
  const cpu = new FakeProvider('cpu', () => ({ cpu: [n(0, 1)] }));
  const tm = new TopologyManager({ policy: 'single-numa-node', topology: TWO_NODES });
  tm.addHintProvider(cpu);
  const r = await tm.admit(pod(['app']));
  assert.ok(!r.admit);
  assert.match(r.message, /cpu does not fit on a single NUMA node \(the narrowest fit is NUMA \{0,1\}\)$/);
});

test('an impossible resource is named', async () => {
  const mem = new FakeProvider('memory', () => ({ 'hugepages-1Gi': [] }));
  const tm = new TopologyManager({ policy: 'restricted', topology: TWO_NODES });
  tm.addHintProvider(mem);
  const r = await tm.admit(pod(['app']));
  assert.ok(!r.admit);
  assert.match(r.message, /hugepages-1Gi cannot be allocated on any NUMA node$/);
});

test('three-way conflict without a conflicting pair is described as a whole', async () => {
  const a = new FakeProvider('a', () => ({ cpu: [p(0, 1), p(0, 2)] }));
  const b = new FakeProvider('b', () => ({ memory: [p(0, 1), p(1, 2)] }));
  const c = new FakeProvider('c', () => ({ gpu: [p(0, 2), p(1, 2)] }));
  const tm = new TopologyManager({ policy: 'restricted', topology: FOUR_NODES });
  for (const x of [a, b, c]) tm.addHintProvider(x);
  const r = await tm.admit(pod(['app']));
  assert.ok(!r.admit);
  assert.match(r.message, /no NUMA set suits all of cpu \(NUMA \{0,1\} or NUMA \{0,2\}\), memory \(NUMA \{0,1\} or NUMA \{1,2\}\), gpu \(NUMA \{0,2\} or NUMA \{1,2\}\)$/);
});

test("a provider's AdmissionError keeps its reason; anything else is UnexpectedAdmissionError; both roll back", async () => {
  const cpu = new FakeProvider('cpu', () => null, (c) => (c.name === 'b' ? new AdmissionError('SMTAlignmentError', 'SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2') : undefined));
  const tm = new TopologyManager({ policy: 'best-effort', topology: TWO_NODES });
  tm.addHintProvider(cpu);
  assert.deepEqual(await tm.admit(pod(['a', 'b'])), { admit: false, reason: 'SMTAlignmentError', message: 'SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2' });
  assert.deepEqual(cpu.removed, ['a', 'b']);

  const dev = new FakeProvider('devices', () => null, () => new Error('plugin socket gone'));
  const tm2 = new TopologyManager({ policy: 'none', topology: TWO_NODES });
  tm2.addHintProvider(dev);
  assert.deepEqual(await tm2.admit(pod(['a'])), { admit: false, reason: 'UnexpectedAdmissionError', message: 'Allocate failed due to plugin socket gone, which is unexpected' });
});

test('policy none: providers allocate with no affinity; scope and options are not looked at', async () => {
  const cpu = new FakeProvider('cpu', () => ({ cpu: [p(0)] }));
  const tm = new TopologyManager({ policy: 'none', scope: 'bogus', policyOptions: { bogus: 'x' }, topology: TWO_NODES });
  tm.addHintProvider(cpu);
  assert.deepEqual(await tm.admit(pod(['a'])), { admit: true });
  assert.deepEqual(cpu.allocated, [{ container: 'a', affinity: null }]);
});

test('construction errors: unknown scope, closest without distances', () => {
  assert.throws(() => new TopologyManager({ policy: 'restricted', scope: 'node', topology: TWO_NODES }), /unknown scope: "node"/);
  assert.throws(() => new TopologyManager({ policy: 'restricted', policyOptions: { 'prefer-closest-numa-nodes': 'true' }, topology: { numaNodes: [0, 1], distances: {} } }), /distances of this machine are not known/);
});
