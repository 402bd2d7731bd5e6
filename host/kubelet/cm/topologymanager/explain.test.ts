import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainTopology } from './explain.js';
import { cmdExplain } from '../explain/index.js';

const twoNodes = { nodes: [0, 1], distances: { '0': [10, 11], '1': [11, 10] } };

test('best-effort: the kubelet example {0}+{0,1} both preferred merges to {0} not preferred, admitted', () => {
  const r = explainTopology({ policy: 'best-effort', numa: twoNodes, providers: [{ hints: { cpu: [{ numaAffinity: [0], preferred: true }] } }, { hints: { memory: [{ numaAffinity: [0, 1], preferred: true }] } }] });
  assert.deepEqual(r, { bestHint: { numaAffinity: [0], preferred: false }, admit: true });
});

test('restricted refuses what best-effort admits', () => {
  const r = explainTopology({ policy: 'restricted', numa: twoNodes, providers: [{ hints: { cpu: [{ numaAffinity: [0], preferred: true }] } }, { hints: { gpu: [{ numaAffinity: [1], preferred: true }] } }] });
  assert.deepEqual(r, { bestHint: { numaAffinity: [0, 1], preferred: false }, admit: false });
});

test('single-numa-node: an all-nodes result is reported as null', () => {
  const r = explainTopology({ policy: 'single-numa-node', numa: twoNodes, providers: [{ hints: null }] });
  assert.deepEqual(r, { bestHint: { numaAffinity: null, preferred: true }, admit: true });
});

test('none admits and reports no affinity', () => {
  assert.deepEqual(explainTopology({ policy: 'none', numa: twoNodes, providers: [{ hints: { cpu: [] } }] }), { bestHint: { numaAffinity: null, preferred: false }, admit: true });
});

test('prefer-closest-numa-nodes uses the given distances', () => {
  const numa = { nodes: [0, 1, 2, 3], distances: { '0': [10, 20, 11, 20], '1': [20, 10, 20, 11], '2': [11, 20, 10, 20], '3': [20, 11, 20, 10] } };
  const providers = [{ hints: { cpu: [{ numaAffinity: [0, 1], preferred: true }, { numaAffinity: [0, 2], preferred: true }] } }];
  assert.deepEqual(explainTopology({ policy: 'best-effort', numa, providers }).bestHint, { numaAffinity: [0, 1], preferred: true });
  assert.deepEqual(explainTopology({ policy: 'best-effort', policyOptions: { 'prefer-closest-numa-nodes': 'true' }, numa, providers }).bestHint, { numaAffinity: [0, 2], preferred: true });
});

const bad: [string, unknown, RegExp][] = [
  ['not an object', [], /input: must be a JSON object/],
  ['no policy', { numa: twoNodes }, /Error: policy:/],
  ['unknown policy', { policy: 'strict', numa: twoNodes }, /unknown policy: "strict"/],
  ['no numa', { policy: 'none' }, /Error: numa:/],
  ['numa nodes not integers', { policy: 'none', numa: { nodes: ['a'] } }, /numa\.nodes: must be a list of integers/],
  ['short distance row', { policy: 'best-effort', numa: { nodes: [0, 1], distances: { '0': [10] } } }, /numa\.distances\.0: has 1 entries/],
  ['closest without distances', { policy: 'best-effort', policyOptions: { 'prefer-closest-numa-nodes': 'true' }, numa: { nodes: [0, 1] } }, /numa\.distances: prefer-closest/],
  ['unknown option', { policy: 'restricted', policyOptions: { nope: 'true' }, numa: twoNodes }, /unknown Topology Manager Policy option: "nope"/],
  ['bad hint', { policy: 'restricted', numa: twoNodes, providers: [{ hints: { cpu: [{ numaAffinity: [0] }] } }] }, /providers\[0\]\.hints\.cpu\[0\]\.preferred/],
  ['hints not a list', { policy: 'restricted', numa: twoNodes, providers: [{ hints: { cpu: 3 } }] }, /providers\[0\]\.hints\.cpu: must be a list/],
  ['NUMA id above 31', { policy: 'restricted', numa: { nodes: [0, 40] } }, /numa\.nodes: NUMA node id 40/],
  ['9 NUMA nodes', { policy: 'restricted', numa: { nodes: [0, 1, 2, 3, 4, 5, 6, 7, 8] } }, /more than 8 NUMA Nodes/],
];
for (const [name, input, re] of bad) test(`bad input: ${name}`, () => assert.throws(() => explainTopology(input), re));

test('through `cocolet explain topology`: JSON in, JSON out', async () => {
  const out: string[] = [];
  const input = JSON.stringify({ policy: 'single-numa-node', numa: twoNodes, providers: [{ hints: { cpu: [{ numaAffinity: [0], preferred: true }, { numaAffinity: [1], preferred: true }] } }, { hints: { gpu: [{ numaAffinity: [1], preferred: true }] } }] });
  const code = await cmdExplain(['topology'], { readStdin: () => Promise.resolve(input), out: (s) => out.push(s), err: () => {} });
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(out[0]!), { bestHint: { numaAffinity: [1], preferred: true }, admit: true });
});
