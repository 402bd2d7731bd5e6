// Expectations ported from the kubelet's policy tests (pkg/kubelet/cm/topologymanager/policy_test.go,
// policy_*_test.go): same inputs, same merged hint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskOf } from './bitmask.js';
import { compareHints, filterSingleNumaHints, flattenProviderHints, maxOfMinAffinityCounts, mergeContext, mergeHints, mergeHintsByCrossProduct, toMaskHint, toTopologyHint, type MaskHint } from './merge.js';
import { NumaInfo } from './numa-info.js';
import { parseTopologyPolicyOptions } from './options.js';
import { newPolicy } from './policies.js';
import { EIGHT_NODES, FOUR_NODES, n, nAny, p, pAny, type MergeCase } from './testing.js';

const all = (nodes: readonly number[]): number[] => [...nodes];

function commonCases(): MergeCase[] {
  return [
    { name: 'Two providers, 1 hint each, same mask, both preferred 1/2', providers: [{ resource1: [p(0)] }, { resource2: [p(0)] }], expected: p(0) },
    { name: 'Two providers, 1 hint each, same mask, both preferred 2/2', providers: [{ resource1: [p(1)] }, { resource2: [p(1)] }], expected: p(1) },
    { name: 'Two providers, 1 no hints, 1 single hint preferred 1/2', providers: [null, { resource: [p(0)] }], expected: p(0) },
    { name: 'Two providers, 1 no hints, 1 single hint preferred 2/2', providers: [null, { resource: [p(1)] }], expected: p(1) },
    { name: 'Two providers, 1 with 2 hints, 1 with single hint matching 1/2', providers: [{ resource1: [p(0), p(1)] }, { resource2: [p(0)] }], expected: p(0) },
    { name: 'Two providers, 1 with 2 hints, 1 with single hint matching 2/2', providers: [{ resource1: [p(0), p(1)] }, { resource2: [p(1)] }], expected: p(1) },
    { name: 'Two providers, both with 2 hints, matching narrower preferred hint from both', providers: [{ resource1: [p(0), p(1)] }, { resource2: [p(0), n(0, 1)] }], expected: p(0) },
    { name: 'Ensure less narrow preferred hints are chosen over narrower non-preferred hints', providers: [{ resource1: [p(1), n(0, 1)] }, { resource2: [p(0), p(1), n(0, 1)] }], expected: p(1) },
    { name: 'Multiple resources, same provider', providers: [{ resource1: [p(1), n(0, 1)], resource2: [p(0), p(1), n(0, 1)] }], expected: p(1) },
  ];
}

function bestEffortCases(nodes: readonly number[]): MergeCase[] {
  return [
    { name: 'Two providers, 2 hints each, same mask (some with different bits), same preferred', providers: [{ resource1: [p(0, 1), p(0, 2)] }, { resource2: [p(0, 1), p(0, 2)] }], expected: p(0, 1) },
    { name: 'TopologyHint not set', providers: [], expected: p(...all(nodes)) },
    { name: 'HintProvider returns empty non-nil map[string][]TopologyHint', providers: [{}], expected: p(...all(nodes)) },
    { name: 'HintProvider returns -nil map[string][]TopologyHint from provider', providers: [{ resource: null }], expected: p(...all(nodes)) },
    { name: 'HintProvider returns empty non-nil map[string][]TopologyHint from provider', providers: [{ resource: [] }], expected: n(...all(nodes)) },
    { name: 'Single TopologyHint with Preferred as true and NUMANodeAffinity as nil', providers: [{ resource: [pAny] }], expected: p(...all(nodes)) },
    { name: 'Single TopologyHint with Preferred as false and NUMANodeAffinity as nil', providers: [{ resource: [nAny] }], expected: n(...all(nodes)) },
    { name: 'Two providers, 1 hint each, no common mask', providers: [{ resource1: [p(0)] }, { resource2: [p(1)] }], expected: n(...all(nodes)) },
    { name: 'Two providers, 1 hint each, same mask, 1 preferred, 1 not 1/2', providers: [{ resource1: [p(0)] }, { resource2: [n(0)] }], expected: n(0) },
    { name: 'Two providers, 1 hint each, same mask, 1 preferred, 1 not 2/2', providers: [{ resource1: [p(1)] }, { resource2: [n(1)] }], expected: n(1) },
    { name: 'Two providers, 1 hint each, 1 wider mask, both preferred 1/2', providers: [{ resource1: [p(0)] }, { resource2: [p(0, 1)] }], expected: n(0) },
    { name: 'Two providers, 1 with 2 hints, 1 with single non-preferred hint matching', providers: [{ resource1: [p(0), p(1)] }, { resource2: [n(0, 1)] }], expected: n(0) },
    { name: 'Two providers, 1 hint each, 1 wider mask, both preferred 2/2', providers: [{ resource1: [p(1)] }, { resource2: [p(0, 1)] }], expected: n(1) },
    { name: 'bestNonPreferredAffinityCount (1)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(0, 1)] }], expected: n(0, 1) },
    { name: 'bestNonPreferredAffinityCount (2)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(0, 3)] }], expected: n(0, 3) },
    { name: 'bestNonPreferredAffinityCount (3)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(1, 2)] }], expected: n(1, 2) },
    { name: 'bestNonPreferredAffinityCount (4)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(2, 3)] }], expected: n(2, 3) },
  ];
}

function narrowestOnlyCases(): MergeCase[] {
  return [
    { name: 'bestNonPreferredAffinityCount (5)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(1, 2), n(2, 3)] }], expected: n(1, 2) },
    { name: 'bestNonPreferredAffinityCount (6)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(1, 2, 3), n(1, 2), n(1, 3), n(2, 3)] }], expected: n(1, 2) },
  ];
}

function closestCases(): MergeCase[] {
  return [
    { name: 'closest: Two providers, 2 hints each, same mask (some with different bits), same preferred', providers: [{ resource1: [p(0, 4), p(0, 2)] }, { resource2: [p(0, 4), p(0, 2)] }], expected: p(0, 2) },
    { name: 'closest: Two providers, 2 hints each, different mask', providers: [{ resource1: [p(4), p(0, 2)] }, { resource2: [p(4), p(0, 2)] }], expected: p(4) },
    { name: 'closest: bestNonPreferredAffinityCount (5)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(1, 2), n(2, 3)] }], expected: n(2, 3) },
    { name: 'closest: bestNonPreferredAffinityCount (6)', providers: [{ resource1: [n(0, 1, 2, 3), n(0, 1)] }, { resource2: [n(1, 2, 3), n(1, 2), n(1, 3), n(2, 3)] }], expected: n(2, 3) },
  ];
}

function singleNumaCases(): MergeCase[] {
  const anyP = { numaAffinity: null, preferred: true };
  const anyN = { numaAffinity: null, preferred: false };
  return [
    { name: 'TopologyHint not set', providers: [], expected: anyP },
    { name: 'HintProvider returns empty non-nil map[string][]TopologyHint', providers: [{}], expected: anyP },
    { name: 'HintProvider returns -nil map[string][]TopologyHint from provider', providers: [{ resource: null }], expected: anyP },
    { name: 'HintProvider returns empty non-nil map[string][]TopologyHint from provider', providers: [{ resource: [] }], expected: anyN },
    { name: 'Single TopologyHint with Preferred as true and NUMANodeAffinity as nil', providers: [{ resource: [pAny] }], expected: anyP },
    { name: 'Single TopologyHint with Preferred as false and NUMANodeAffinity as nil', providers: [{ resource: [nAny] }], expected: anyN },
    { name: 'Two providers, 1 hint each, no common mask', providers: [{ resource1: [p(0)] }, { resource2: [p(1)] }], expected: anyN },
    { name: 'Two providers, 1 hint each, same mask, 1 preferred, 1 not 1/2', providers: [{ resource1: [p(0)] }, { resource2: [n(0)] }], expected: anyN },
    { name: 'Two providers, 1 hint each, same mask, 1 preferred, 1 not 2/2', providers: [{ resource1: [p(1)] }, { resource2: [n(1)] }], expected: anyN },
    { name: 'Two providers, 1 with 2 hints, 1 with single non-preferred hint matching', providers: [{ resource1: [p(0), p(1)] }, { resource2: [n(0, 1)] }], expected: anyN },
    { name: 'Single NUMA hint generation', providers: [{ resource1: [p(0, 1)], resource2: [p(0), p(1), n(0, 1)] }], expected: anyN },
    { name: 'One no-preference provider', providers: [{ resource1: [p(0), p(1), n(0, 1)] }, null], expected: p(0) },
  ];
}

function runMerge(policy: string, machine: typeof FOUR_NODES, options: Record<string, string>, c: MergeCase): { hint: ReturnType<typeof toTopologyHint>; admit: boolean } {
  const numa = new NumaInfo(machine.numaNodes, machine.distances);
  const pol = newPolicy(policy, numa, parseTopologyPolicyOptions(options));
  const r = pol.merge(flattenProviderHints(c.providers.map((h, i) => ({ name: `p${i}`, hints: h }))));
  return { hint: toTopologyHint(r.hint), admit: r.admit };
}

const suites: { policy: string; machine: typeof FOUR_NODES; options: Record<string, string>; cases: MergeCase[] }[] = [
  { policy: 'best-effort', machine: FOUR_NODES, options: {}, cases: [...commonCases(), ...bestEffortCases(FOUR_NODES.numaNodes), ...narrowestOnlyCases()] },
  { policy: 'best-effort', machine: EIGHT_NODES, options: { 'prefer-closest-numa-nodes': 'true' }, cases: [...commonCases(), ...bestEffortCases(EIGHT_NODES.numaNodes), ...closestCases()] },
  { policy: 'restricted', machine: FOUR_NODES, options: {}, cases: [...commonCases(), ...bestEffortCases(FOUR_NODES.numaNodes), ...narrowestOnlyCases()] },
  { policy: 'restricted', machine: EIGHT_NODES, options: { 'prefer-closest-numa-nodes': 'true' }, cases: [...commonCases(), ...bestEffortCases(EIGHT_NODES.numaNodes), ...closestCases()] },
  { policy: 'single-numa-node', machine: FOUR_NODES, options: {}, cases: [...commonCases(), ...singleNumaCases()] },
];

for (const s of suites) {
  const opt = Object.keys(s.options).length ? ` [${Object.keys(s.options).join(',')}]` : '';
  for (const c of s.cases) {
    test(`${s.policy}${opt} ${s.machine.numaNodes.length} nodes: ${c.name}`, () => {
      const r = runMerge(s.policy, s.machine, s.options, c);
      assert.deepEqual(r.hint, c.expected);
      assert.equal(r.admit, s.policy === 'best-effort' ? true : c.expected.preferred);
    });
  }
}

test('none: no hints are merged, the pod is admitted with no affinity', () => {
  const r = runMerge('none', FOUR_NODES, {}, { name: '', providers: [{ resource1: [p(0)] }, { resource2: [p(1)] }], expected: pAny });
  assert.deepEqual(r, { hint: { numaAffinity: null, preferred: false }, admit: true });
});

// TestMaxOfMinAffinityCounts
const mh = (ids: number[], preferred = true): MaskHint => ({ mask: maskOf(ids), preferred });
for (const [i, [lists, want]] of (
  [
    [[], 0],
    [[[mh([])]], 0],
    [[[mh([0])]], 1],
    [[[mh([0, 1])]], 2],
    [[[mh([0, 1]), mh([0, 1, 2])]], 2],
    [[[mh([0, 1]), mh([0, 1, 2])], [mh([0, 1, 2])]], 3],
    [[[mh([0, 1]), mh([0, 1, 2])], [mh([0, 1, 2]), mh([0, 1, 2, 3])]], 3],
  ] as [MaskHint[][], number][]
).entries()) {
  test(`maxOfMinAffinityCounts case ${i}`, () => assert.equal(maxOfMinAffinityCounts(lists), want));
}

// TestCompareHintsNarrowest: [name, bestNonPreferredAffinityCount, current, candidate, expected]
const compareCases: [string, number, MaskHint | null, MaskHint, 'current' | 'candidate'][] = [
  ['candidate empty (1)', -1, null, mh([], false), 'current'],
  ['candidate empty (2)', -1, mh([], true), mh([], false), 'current'],
  ['current == nil (1)', -1, null, mh([0], true), 'candidate'],
  ['current == nil (2)', -1, null, mh([0], false), 'candidate'],
  ['!current.Preferred && candidate.Preferred', -1, mh([0], false), mh([0], true), 'candidate'],
  ['current.Preferred && !candidate.Preferred', -1, mh([0], true), mh([0], false), 'current'],
  ['both preferred (1)', -1, mh([0], true), mh([0], true), 'current'],
  ['both preferred (2)', -1, mh([0, 1], true), mh([0], true), 'candidate'],
  ['both preferred (3)', -1, mh([0], true), mh([0, 1], true), 'current'],
  ['neither preferred (1.1)', 1, mh([0, 1], false), mh([0, 1], false), 'current'],
  ['neither preferred (1.2)', 1, mh([1, 2], false), mh([0, 1], false), 'candidate'],
  ['neither preferred (1.3)', 1, mh([0, 1], false), mh([1, 2], false), 'current'],
  ['neither preferred (2.1)', 2, mh([0, 1], false), mh([0], false), 'current'],
  ['neither preferred (2.2)', 2, mh([0, 1], false), mh([0, 1], false), 'current'],
  ['neither preferred (2.3)', 2, mh([1, 2], false), mh([0, 1], false), 'candidate'],
  ['neither preferred (2.4)', 2, mh([0, 1], false), mh([1, 2], false), 'current'],
  ['neither preferred (3a)', 2, mh([0], false), mh([0, 1, 2], false), 'current'],
  ['neither preferred (3b)', 2, mh([0], false), mh([0, 1], false), 'candidate'],
  ['neither preferred (3ca.1)', 3, mh([0], false), mh([0, 1], false), 'candidate'],
  ['neither preferred (3ca.2)', 3, mh([0], false), mh([1, 2], false), 'candidate'],
  ['neither preferred (3ca.3)', 4, mh([0, 1], false), mh([1, 2, 3], false), 'candidate'],
  ['neither preferred (3cb)', 4, mh([1, 2, 3], false), mh([0, 1], false), 'current'],
  ['neither preferred (3cc.1)', 4, mh([0, 1, 2], false), mh([0, 1, 2], false), 'current'],
  ['neither preferred (3cc.2)', 4, mh([0, 1, 2], false), mh([1, 2, 3], false), 'current'],
  ['neither preferred (3cc.3)', 4, mh([1, 2, 3], false), mh([0, 1, 2], false), 'candidate'],
];
for (const [name, best, current, candidate, want] of compareCases) {
  test(`compareHints: ${name}`, () => {
    const ctx = { numa: new NumaInfo([]), closest: false, bestNonPreferredAffinityCount: best };
    const got = compareHints(ctx, current as (MaskHint & { mask: number }) | null, candidate as MaskHint & { mask: number });
    assert.equal(got, want === 'current' ? current : candidate);
  });
}

// TestPolicySingleNumaNodeFilterHints
test('filterSingleNumaHints keeps only preferred any/one-node hints', () => {
  const any = (preferred: boolean): MaskHint => ({ mask: null, preferred });
  assert.deepEqual(filterSingleNumaHints([]), []);
  assert.deepEqual(filterSingleNumaHints([[any(false)], [any(true)]]), [[], [any(true)]]);
  assert.deepEqual(filterSingleNumaHints([[mh([0]), any(false)], [mh([1]), any(true)]]), [[mh([0])], [mh([1]), any(true)]]);
  assert.deepEqual(filterSingleNumaHints([[mh([1]), mh([0]), any(false)], []]), [[mh([1]), mh([0])], []]);
  assert.deepEqual(
    filterSingleNumaHints([
      [mh([0]), mh([1]), mh([1, 2], false), mh([0, 1, 2], false), any(false)],
      [mh([1, 2], false), mh([0, 1, 2], false), mh([0, 2], false), mh([3], false)],
      [mh([1, 2], false), mh([0, 1, 2], false), mh([0, 2], false)],
    ]),
    [[mh([0]), mh([1])], [], []],
  );
});

test('flattening: nil/empty provider, nil resource and empty resource', () => {
  const lists = flattenProviderHints([
    { name: 'a', hints: null },
    { name: 'b', hints: {} },
    { name: 'c', hints: { r1: null, r2: [], r3: [p(0)] } },
  ]);
  assert.deepEqual(
    lists.map((l) => [l.provider, l.resource, l.origin, l.hints]),
    [
      ['a', null, 'no-preference', [{ mask: null, preferred: true }]],
      ['b', null, 'no-preference', [{ mask: null, preferred: true }]],
      ['c', 'r1', 'no-preference', [{ mask: null, preferred: true }]],
      ['c', 'r2', 'impossible', [{ mask: null, preferred: false }]],
      ['c', 'r3', 'hints', [{ mask: 1, preferred: true }]],
    ],
  );
});

// The fast merge must agree with the literal cross product: random hint sets, every option.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}
test('mergeHints equals the kubelet cross-product walk on 3000 random inputs', () => {
  const rnd = prng(12);
  for (let iter = 0; iter < 3000; iter++) {
    const machine = iter % 2 ? EIGHT_NODES : FOUR_NODES;
    const numa = new NumaInfo(machine.numaNodes, machine.distances);
    const lists: MaskHint[][] = [];
    const nl = Math.floor(rnd() * 4);
    for (let l = 0; l < nl; l++) {
      const hints: MaskHint[] = [];
      const nh = 1 + Math.floor(rnd() * 5);
      for (let h = 0; h < nh; h++) {
        const mask = rnd() < 0.1 ? null : Math.floor(rnd() * 2 ** machine.numaNodes.length) >>> 0;
        hints.push({ mask, preferred: rnd() < 0.6 });
      }
      lists.push(hints);
    }
    for (const closest of [false, true]) {
      const ctx = mergeContext(numa, lists, closest);
      assert.deepEqual(mergeHints(lists, ctx), mergeHintsByCrossProduct(lists, ctx), `iteration ${iter} closest=${closest}: ${JSON.stringify(lists)}`);
    }
  }
});

test('toMaskHint/toTopologyHint round-trip', () => {
  assert.deepEqual(toTopologyHint(toMaskHint(p(0, 3))), p(0, 3));
  assert.deepEqual(toTopologyHint(toMaskHint(nAny)), nAny);
});
