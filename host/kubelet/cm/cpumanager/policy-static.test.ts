// Allocation cases and expected CPUs are the upstream kubelet's (policy_static_test.go,
// TestStaticPolicyAdd / ReuseCPUs / Remove), on the same machines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdmissionError, type TopologyHint } from '../types.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import * as fx from '../machine/fixtures.js';
import { CpuTopology } from '../machine/topology.js';
import type { MachineTopology } from '../types.js';
import { parseStaticPolicyOptions } from './options.js';
import { cpuQuantity, guaranteedCpus, podGuaranteedCpus, StaticPolicy } from './policy-static.js';
import { CpuState } from './state.js';
import { container, makePod, multiContainerPod } from './testing.js';

const S = (s: string): CpuSet => CpuSet.parse(s);
const quad = new CpuTopology(fx.quadSocketFourWayHT());
const quadAll = quad.all;
const sock = (s: number): CpuSet => CpuSet.from(quad.cpusInSocket(s));

interface AddCase {
  name: string;
  topo: () => MachineTopology;
  options?: Record<string, string>;
  reserved?: number;
  reservedCpus?: string;
  assignments?: Record<string, CpuSet>;
  defaultSet: CpuSet;
  pod: [string, string];
  hint?: number[];
  expect?: CpuSet;
  error?: { reason: string; message: string };
}

const insensitive: AddCase[] = [
  { name: 'GuPodMultipleCores, SingleSocketHT, ExpectAllocOneCore', topo: fx.singleSocketHT, reserved: 1, assignments: { c100: S('2-3,6-7') }, defaultSet: S('0-1,4-5'), pod: ['2000m', '2000m'], expect: S('1,5') },
  { name: 'GuPodMultipleCores, DualSocketHT, ExpectAllocOneSocket', topo: fx.dualSocketHT, reserved: 1, assignments: { c100: S('2') }, defaultSet: S('0-1,3-11'), pod: ['6000m', '6000m'], expect: S('1,3,5,7,9,11') },
  { name: 'GuPodMultipleCores, DualSocketHT, ExpectAllocThreeCores', topo: fx.dualSocketHT, reserved: 1, assignments: { c100: S('1,5') }, defaultSet: S('0,2-4,6-11'), pod: ['6000m', '6000m'], expect: S('2-4,8-10') },
  { name: 'GuPodMultipleCores, DualSocketNoHT, ExpectAllocOneSocket', topo: fx.dualSocketNoHT, reserved: 1, assignments: { c100: S('') }, defaultSet: S('0-7'), pod: ['4000m', '4000m'], expect: S('4-7') },
  { name: 'GuPodMultipleCores, DualSocketNoHT, ExpectAllocFourCores', topo: fx.dualSocketNoHT, reserved: 1, assignments: { c100: S('4-5') }, defaultSet: S('0-1,3,6-7'), pod: ['4000m', '4000m'], expect: S('1,3,6-7') },
  { name: 'GuPodMultipleCores, DualSocketHT, ExpectAllocOneSocketOneCore', topo: fx.dualSocketHT, reserved: 1, assignments: { c100: S('2') }, defaultSet: S('0-1,3-11'), pod: ['8000m', '8000m'], expect: S('1,3-5,7,9-11') },
  { name: 'NonGuPod, SingleSocketHT, NoAlloc', topo: fx.singleSocketHT, reserved: 1, defaultSet: S('0-7'), pod: ['1000m', '2000m'] },
  { name: 'GuPodNonIntegerCore, SingleSocketHT, NoAlloc', topo: fx.singleSocketHT, reserved: 1, defaultSet: S('0-7'), pod: ['977m', '977m'] },
  { name: 'GuPodMultipleCores, topoQuadSocketFourWayHT, ExpectAllocSock0', topo: fx.quadSocketFourWayHT, assignments: { c100: S('3-7,11') }, defaultSet: quadAll.difference(S('3-7,11')), pod: ['72000m', '72000m'], expect: sock(0) },
  {
    name: 'GuPodMultipleCores, topoQuadSocketFourWayHT, ExpectAllocAllFullCoresFromThreeSockets',
    topo: fx.quadSocketFourWayHT,
    assignments: { c100: quadAll.difference(S('1,25,13,38,2,9,11,35,23,48,12,51,53,173,113,233,54,61')) },
    defaultSet: S('1,25,13,38,2,9,11,35,23,48,12,51,53,173,113,233,54,61'),
    pod: ['12000m', '12000m'],
    expect: S('1,25,13,38,11,35,23,48,53,173,113,233'),
  },
  {
    name: 'GuPodMultipleCores, topoQuadSocketFourWayHT, ExpectAllocAllSock1+FullCore',
    topo: fx.quadSocketFourWayHT,
    assignments: { c100: quadAll.difference(sock(1).union(S('10,34,22,47,53,173,61,181,108,228,115,235'))) },
    defaultSet: sock(1).union(S('10,34,22,47,53,173,61,181,108,228,115,235')),
    pod: ['76000m', '76000m'],
    expect: sock(1).union(S('10,34,22,47')),
  },
];

const defaults: AddCase[] = [
  { name: 'GuPodSingleCore, SingleSocketHT, ExpectAllocOneCPU', topo: fx.singleSocketHT, reserved: 1, defaultSet: S('0-7'), pod: ['1000m', '1000m'], expect: S('4') },
  { name: 'GuPodMultipleCores, topoQuadSocketFourWayHT, ExpectAllocCPUs', topo: fx.quadSocketFourWayHT, assignments: { c100: quadAll.difference(S('10,11,53,37,55,67,52')) }, defaultSet: S('10,11,53,67,52'), pod: ['5000m', '5000m'], expect: S('10,11,53,67,52') },
  { name: 'GuPodSingleCore, SingleSocketHT, ExpectError', topo: fx.singleSocketHT, reserved: 1, defaultSet: S('0-7'), pod: ['8000m', '8000m'], error: unexpected('not enough cpus available to satisfy request: requested=8, available=7') },
  { name: 'GuPodMultipleCores, DualSocketHT, NoAllocExpectError', topo: fx.dualSocketHT, reserved: 1, assignments: { c100: S('1-3') }, defaultSet: S('0,4-11'), pod: ['10000m', '10000m'], error: unexpected('not enough cpus available to satisfy request: requested=10, available=8') },
  { name: 'GuPodMultipleCores, SingleSocketHT, NoAllocExpectError', topo: fx.singleSocketHT, reserved: 1, assignments: { c100: S('1-6') }, defaultSet: S('0,7'), pod: ['2000m', '2000m'], error: unexpected('not enough cpus available to satisfy request: requested=2, available=1') },
  { name: 'GuPodMultipleCores, topoQuadSocketFourWayHT, NoAlloc', topo: fx.quadSocketFourWayHT, assignments: { c100: quadAll.difference(S('10,11,53,37,55,67,52')) }, defaultSet: S('10,11,53,37,55,67,52'), pod: ['76000m', '76000m'], error: unexpected('not enough cpus available to satisfy request: requested=76, available=7') },
];

const smt: AddCase[] = [
  { name: 'GuPodSingleCore, SingleSocketHT, ExpectAllocOneCPU', topo: fx.singleSocketHT, options: { 'full-pcpus-only': 'true' }, reserved: 1, defaultSet: S('0-7'), pod: ['1000m', '1000m'], error: smtErr('SMT Alignment Error: requested 1 cpus not multiple cpus per core = 2') },
  { name: 'GuPodMultipleCores, topoQuadSocketFourWayHT, ExpectAllocOneCPUs', topo: fx.quadSocketFourWayHT, options: { 'full-pcpus-only': 'true' }, reserved: 8, defaultSet: quadAll, pod: ['15000m', '15000m'], error: smtErr('SMT Alignment Error: requested 15 cpus not multiple cpus per core = 4') },
  {
    name: 'GuPodManyCores, topoDualSocketHT, ExpectDoNotAllocPartialCPU',
    topo: fx.dualSocketHT,
    options: { 'full-pcpus-only': 'true' },
    reserved: 2,
    reservedCpus: '1,6',
    defaultSet: S('0,2-5,7-11'),
    pod: ['10000m', '10000m'],
    error: smtErr('SMT Alignment Error: not enough free physical CPUs: available physical CPUs = 8, requested CPUs = 10, CPUs per core = 2'),
  },
  { name: 'GuPodManyCores, topoDualSocketHT, AutoReserve, ExpectAllocAllCPUs', topo: fx.dualSocketHT, options: { 'full-pcpus-only': 'true' }, reserved: 2, defaultSet: S('1-5,7-11'), pod: ['10000m', '10000m'], expect: S('1-5,7-11') },
  { name: 'GuPodManyCores, topoDualSocketHT, ExpectAllocAllCPUs', topo: fx.dualSocketHT, options: { 'full-pcpus-only': 'true' }, reserved: 2, reservedCpus: '0,6', defaultSet: S('1-5,7-11'), pod: ['10000m', '10000m'], expect: S('1-5,7-11') },
];

const alignBySocket: AddCase[] = [
  { name: 'Align by socket: true, cpus within the same socket of the hinted NUMA nodes are used', topo: fx.dualSocketMultiNumaPerSocketHT, options: { 'align-by-socket': 'true' }, reserved: 1, defaultSet: S('2,11,21,22'), pod: ['2000m', '2000m'], hint: [0, 2], expect: S('2,11') },
  { name: 'Align by socket: false, cpus are taken strictly from the hinted NUMA nodes', topo: fx.dualSocketMultiNumaPerSocketHT, options: { 'align-by-socket': 'false' }, reserved: 1, defaultSet: S('2,11,21,22'), pod: ['2000m', '2000m'], hint: [0, 2], expect: S('2,21') },
];

function unexpected(m: string): { reason: string; message: string } {
  return { reason: 'UnexpectedAdmissionError', message: `Allocate failed due to ${m}, which is unexpected` };
}
function smtErr(m: string): { reason: string; message: string } {
  return { reason: 'SMTAlignmentError', message: m };
}

function runAdd(tc: AddCase): void {
  const policy = new StaticPolicy({
    topology: new CpuTopology(tc.topo()),
    options: parseStaticPolicyOptions(tc.options, { alpha: true, beta: true }),
    numReservedCpus: tc.reserved ?? 0,
    ...(tc.reservedCpus ? { reservedCpus: S(tc.reservedCpus) } : {}),
  });
  const state = new CpuState('static', tc.defaultSet, Object.entries(tc.assignments ?? {}).map(([c, cpus]) => ({ podUid: 'fakePod', container: c, cpus })));
  const pod = makePod('fakePod', 'c', tc.pod[0], tc.pod[1]);
  const hint: TopologyHint | null = tc.hint ? { numaAffinity: tc.hint, preferred: true } : null;
  if (tc.error) {
    assert.throws(() => policy.allocate(state, pod, pod.spec.containers[0]!, hint), (e: unknown) => e instanceof AdmissionError && e.reason === tc.error!.reason && e.message === tc.error!.message);
    assert.equal(state.getCpuSet('fakePod', 'c'), undefined);
    return;
  }
  policy.allocate(state, pod, pod.spec.containers[0]!, hint);
  const got = state.getCpuSet('fakePod', 'c');
  if (!tc.expect) {
    assert.equal(got, undefined);
    return;
  }
  assert.equal(got?.toString(), tc.expect.toString());
  assert.ok(got.intersection(state.defaultCpuSet).isEmpty(), 'exclusive CPUs left the shared pool');
}

for (const tc of insensitive) {
  for (const options of [undefined, { 'full-pcpus-only': 'true' }]) {
    test(`static add (options=${JSON.stringify(options ?? {})}): ${tc.name}`, () => runAdd({ ...tc, ...(options ? { options } : {}) }));
  }
}
for (const tc of [...defaults, ...smt, ...alignBySocket]) test(`static add: ${tc.name}`, () => runAdd(tc));

test('reserved CPUs: lowest whole cores picked by the allocator, or reservedSystemCPUs', () => {
  const t = new CpuTopology(fx.singleSocketHT());
  assert.equal(new StaticPolicy({ topology: t, options: parseStaticPolicyOptions({}), numReservedCpus: 2 }).reserved.toString(), '0,4');
  const p = new StaticPolicy({ topology: t, options: parseStaticPolicyOptions({}), numReservedCpus: 1, reservedCpus: S('5') });
  assert.equal(p.reserved.toString(), '5');
  assert.equal(p.reservedPhysical.toString(), '1,5');
  assert.throws(() => new StaticPolicy({ topology: t, options: parseStaticPolicyOptions({}), numReservedCpus: 9 }), /unable to reserve the required amount of CPUs \(size of {2}did not equal 9\)/);
  assert.throws(() => new StaticPolicy({ topology: t, options: parseStaticPolicyOptions({}), numReservedCpus: 2, reservedCpus: S('7-8') }), /reservedSystemCPUs "7-8" names CPUs this machine does not have online: "8"/);
});

test('init container CPUs are reused by the app containers, sidecars are not', () => {
  const policy = new StaticPolicy({ topology: new CpuTopology(fx.singleSocketHT()), options: parseStaticPolicyOptions({}), numReservedCpus: 1 });
  const state = new CpuState('static', S('0-7'));
  // upstream TestStaticPolicyReuseCPUs: init 4 CPUs -> 0,1,4,5... then app 2 CPUs reuses them
  const pod = multiContainerPod('p', [container('init', '4000m', '4000m')], [container('app', '2000m', '2000m')]);
  policy.allocate(state, pod, pod.spec.initContainers![0]!, null);
  assert.equal(state.getCpuSet('p', 'init')!.toString(), '1-2,5-6');
  policy.allocate(state, pod, pod.spec.containers[0]!, null);
  assert.ok(state.getCpuSet('p', 'app')!.isSubsetOf(S('1-2,5-6')));
  policy.removeContainer(state, 'p', 'init');
  // the app still holds its 2 CPUs; the other 2 of the init container went back
  assert.equal(state.defaultCpuSet.size, 8 - 2);

  const sidecarPod = multiContainerPod('q', [container('side', '2000m', '2000m', { restartPolicy: 'Always' })], [container('app', '2000m', '2000m')]);
  const s2 = new CpuState('static', S('0-7'));
  policy.allocate(s2, sidecarPod, sidecarPod.spec.initContainers![0]!, null);
  policy.allocate(s2, sidecarPod, sidecarPod.spec.containers[0]!, null);
  assert.ok(s2.getCpuSet('q', 'side')!.intersection(s2.getCpuSet('q', 'app')!).isEmpty(), 'a sidecar runs beside the app: no sharing');
});

test('removing a container returns its CPUs to the shared pool', () => {
  const policy = new StaticPolicy({ topology: new CpuTopology(fx.singleSocketHT()), options: parseStaticPolicyOptions({}), numReservedCpus: 1 });
  const state = new CpuState('static', S('0-7'));
  const pod = makePod('p', 'c', '2', '2');
  policy.allocate(state, pod, pod.spec.containers[0]!, null);
  assert.equal(state.defaultCpuSet.size, 6);
  assert.equal(policy.removeContainer(state, 'p', 'c').size, 2);
  assert.equal(state.defaultCpuSet.toString(), '0-7');
  assert.equal(policy.removeContainer(state, 'p', 'c').size, 0);
});

test('an allocation surviving a restart is reused before any option check', () => {
  const policy = new StaticPolicy({ topology: new CpuTopology(fx.singleSocketHT()), options: parseStaticPolicyOptions({ 'full-pcpus-only': 'true' }), numReservedCpus: 1 });
  const state = new CpuState('static', S('0,4'), [{ podUid: 'p', container: 'c', cpus: S('1-3,5-7') }]);
  const pod = makePod('p', 'c', '6', '6');
  assert.equal(policy.allocate(state, pod, pod.spec.containers[0]!, null)?.toString(), '1-3,5-7');
});

test('topology hints: one per NUMA mask that can hold the request, narrowest preferred', () => {
  const policy = new StaticPolicy({ topology: new CpuTopology(fx.dualSocketHT()), options: parseStaticPolicyOptions({}), numReservedCpus: 0 });
  const state = new CpuState('static', S('0-11'));
  assert.deepEqual(policy.getTopologyHints(state, makePod('p', 'c', '2', '2'), container('c', '2', '2')), {
    cpu: [
      { numaAffinity: [0], preferred: true },
      { numaAffinity: [1], preferred: true },
      { numaAffinity: [0, 1], preferred: false },
    ],
  });
  assert.deepEqual(policy.getTopologyHints(state, makePod('p', 'c', '7', '7'), container('c', '7', '7')), { cpu: [{ numaAffinity: [0, 1], preferred: true }] });
  // node 0 busy: its mask no longer fits 2 CPUs, but "preferred" still counts the whole machine
  const busy = new CpuState('static', S('1,3,5,7,9,11'));
  assert.deepEqual(policy.getTopologyHints(busy, makePod('p', 'c', '2', '2'), container('c', '2', '2')), {
    cpu: [
      { numaAffinity: [1], preferred: true },
      { numaAffinity: [0, 1], preferred: false },
    ],
  });
  assert.equal(policy.getTopologyHints(state, makePod('p', 'c', '1500m', '1500m'), container('c', '1500m', '1500m')), null);
  // already allocated with another size: an empty list (cannot be satisfied)
  const had = new CpuState('static', S('2-11'), [{ podUid: 'p', container: 'c', cpus: S('0-1') }]);
  assert.deepEqual(policy.getTopologyHints(had, makePod('p', 'c', '4', '4'), container('c', '4', '4')), { cpu: [] });
  assert.deepEqual(policy.getPodTopologyHints(state, multiContainerPod('p', [], [container('a', '3', '3'), container('b', '4', '4')])), { cpu: [{ numaAffinity: [0, 1], preferred: true }] });
});

test('state validation names what does not match the configuration', () => {
  const policy = new StaticPolicy({ topology: new CpuTopology(fx.singleSocketHT()), options: parseStaticPolicyOptions({}), numReservedCpus: 1 });
  const fresh = new CpuState('static');
  assert.equal(policy.validateState(fresh), undefined);
  assert.equal(fresh.defaultCpuSet.toString(), '0-7');
  const cases: [CpuState, RegExp][] = [
    [new CpuState('static', CpuSet.EMPTY, [{ podUid: 'p', container: 'c', cpus: S('1') }]), /default cpuset cannot be empty/],
    [new CpuState('static', S('1-7')), /not all reserved cpus: "0" are present in defaultCpuSet: "1-7"/],
    [new CpuState('static', S('0-7'), [{ podUid: 'p', container: 'c', cpus: S('1') }]), /pod: p, container: c cpuset: "1" overlaps with default cpuset "0-7"/],
    [new CpuState('static', S('0-3')), /current set of available CPUs "0-7" doesn't match with CPUs in state "0-3"/],
    [new CpuState('static', S('0,3-7'), [{ podUid: 'p', container: 'a', cpus: S('1-2') }, { podUid: 'q', container: 'b', cpus: S('2') }]), /shares cpus "2" with another assignment/],
  ];
  for (const [s, re] of cases) assert.match(policy.validateState(s) ?? '', re);
});

test('CPU quantities: whole CPUs only', () => {
  assert.deepEqual(cpuQuantity('2'), { value: 2, milli: 2000 });
  assert.deepEqual(cpuQuantity('1000m'), { value: 1, milli: 1000 });
  assert.deepEqual(cpuQuantity('100m'), { value: 1, milli: 100 });
  assert.deepEqual(cpuQuantity('0.1'), { value: 1, milli: 100 });
  assert.deepEqual(cpuQuantity(3), { value: 3, milli: 3000 });
  assert.equal(cpuQuantity('two'), undefined);
  assert.equal(guaranteedCpus(makePod('p', 'c', '2', '2'), container('c', '2', '2')), 2);
  assert.equal(guaranteedCpus(makePod('p', 'c', '2', '3'), container('c', '2', '3')), 0);
  assert.equal(guaranteedCpus(makePod('p', 'c', '1.5', '1.5'), container('c', '1.5', '1.5')), 0);
  const pod = multiContainerPod('p', [container('i1', '5', '5'), container('side', '1', '1', { restartPolicy: 'Always' }), container('i2', '3', '3')], [container('a', '2', '2')]);
  assert.equal(podGuaranteedCpus(pod), 5); // max(init 5, sidecar 1 + init 3, apps 2 + sidecar 1)
});
