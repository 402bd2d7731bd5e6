import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTopologyPolicyOptions } from './options.js';
import { newPolicy } from './policies.js';
import { NumaInfo } from './numa-info.js';

test('defaults: no closest, max 8 NUMA nodes', () => {
  assert.deepEqual(parseTopologyPolicyOptions(undefined), { preferClosestNumaNodes: false, maxAllowableNumaNodes: 8 });
});

const good: [Record<string, string>, Partial<ReturnType<typeof parseTopologyPolicyOptions>>][] = [
  [{ 'prefer-closest-numa-nodes': 'true' }, { preferClosestNumaNodes: true }],
  [{ 'prefer-closest-numa-nodes': 'False' }, { preferClosestNumaNodes: false }],
  [{ 'prefer-closest-numa-nodes': '1' }, { preferClosestNumaNodes: true }],
  [{ 'max-allowable-numa-nodes': '8' }, { maxAllowableNumaNodes: 8 }],
  [{ 'max-allowable-numa-nodes': '16' }, { maxAllowableNumaNodes: 16 }],
];
for (const [raw, want] of good) {
  test(`accepts ${JSON.stringify(raw)}`, () => assert.deepEqual({ ...parseTopologyPolicyOptions(raw), ...want }, parseTopologyPolicyOptions(raw)));
}

const bad: [Record<string, string>, RegExp][] = [
  [{ 'unknown-option': 'true' }, /unknown Topology Manager Policy option: "unknown-option"/],
  [{ 'prefer-closest-numa-nodes': 'yes' }, /bad value for option "prefer-closest-numa-nodes"/],
  [{ 'max-allowable-numa-nodes': 'eight' }, /bad value for option "max-allowable-numa-nodes"/],
  [{ 'max-allowable-numa-nodes': '7' }, /the minimum value of "max-allowable-numa-nodes" should not be less than 8/],
];
for (const [raw, re] of bad) {
  test(`refuses ${JSON.stringify(raw)}`, () => assert.throws(() => parseTopologyPolicyOptions(raw), re));
}

const nine = new NumaInfo([0, 1, 2, 3, 4, 5, 6, 7, 8]);
test('more than 8 NUMA nodes: refused without max-allowable-numa-nodes', () => {
  for (const name of ['best-effort', 'restricted', 'single-numa-node']) {
    assert.throws(() => newPolicy(name, nine, parseTopologyPolicyOptions({})), /unsupported on machines with more than 8 NUMA Nodes \(this one has 9\)/);
  }
});
test('more than 8 NUMA nodes: allowed with max-allowable-numa-nodes, and always with none', () => {
  assert.equal(newPolicy('best-effort', nine, parseTopologyPolicyOptions({ 'max-allowable-numa-nodes': '9' })).name, 'best-effort');
  assert.equal(newPolicy('none', nine, parseTopologyPolicyOptions({})).name, 'none');
});
test('an unknown policy names the known ones', () => {
  assert.throws(() => newPolicy('strict', nine, parseTopologyPolicyOptions({})), /unknown policy: "strict" \(known: none, best-effort, restricted, single-numa-node\)/);
});
