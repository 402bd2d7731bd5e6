import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseKubeletConfiguration } from './kubeletconfig.js';

test('resource manager fields default as upstream v1beta1', () => {
  const c = parseKubeletConfiguration('kind: KubeletConfiguration\n');
  assert.equal(c.cpuManagerPolicy, 'none');
  assert.deepEqual(c.cpuManagerPolicyOptions, {});
  assert.equal(c.cpuManagerReconcilePeriod, '10s');
  assert.equal(c.memoryManagerPolicy, 'None');
  assert.deepEqual(c.reservedMemory, []);
  assert.equal(c.topologyManagerPolicy, 'none');
  assert.equal(c.topologyManagerScope, 'container');
  assert.deepEqual(c.topologyManagerPolicyOptions, {});
  assert.equal(c.reservedSystemCPUs, '');
  assert.deepEqual(c.kubeReserved, {});
  assert.deepEqual(c.systemReserved, {});
});

test('a full static setup is accepted', () => {
  const c = parseKubeletConfiguration(`
cpuManagerPolicy: static
cpuManagerPolicyOptions: {full-pcpus-only: "true"}
cpuManagerReconcilePeriod: 5s
memoryManagerPolicy: Static
reservedMemory:
- numaNode: 0
  limits: {memory: 1124Mi}
topologyManagerPolicy: single-numa-node
topologyManagerScope: pod
topologyManagerPolicyOptions: {prefer-closest-numa-nodes: "true", max-allowable-numa-nodes: "16"}
reservedSystemCPUs: 0-1
kubeReserved: {cpu: 500m, memory: 512Mi}
systemReserved: {memory: 512Mi}
`);
  assert.equal(c.memoryManagerPolicy, 'Static');
  assert.equal(c.reservedMemory[0]!.numaNode, 0);
});

const invalid: [string, string, string][] = [
  ['cpuManagerPolicy', 'cpuManagerPolicy: Static', 'cpuManagerPolicy'],
  ['unknown cpu option', 'cpuManagerPolicy: static\ncpuManagerPolicyOptions: {full-pcpu-only: "true"}', 'cpuManagerPolicyOptions.full-pcpu-only'],
  ['cpu option value', 'cpuManagerPolicy: static\ncpuManagerPolicyOptions: {full-pcpus-only: "yes"}', 'cpuManagerPolicyOptions.full-pcpus-only'],
  ['cpu options without static', 'cpuManagerPolicyOptions: {full-pcpus-only: "true"}', 'cpuManagerPolicyOptions'],
  ['cpuManagerReconcilePeriod', 'cpuManagerReconcilePeriod: often', 'cpuManagerReconcilePeriod'],
  ['memoryManagerPolicy lowercase', 'memoryManagerPolicy: static', 'memoryManagerPolicy'],
  ['reservedMemory entry', 'reservedMemory:\n- numaNode: 0\n  limits: {memory: lots}', 'reservedMemory[0].limits.memory'],
  ['reservedMemory cpu', 'reservedMemory:\n- numaNode: 0\n  limits: {cpu: "1"}', 'reservedMemory[0].limits.cpu'],
  ['reservedMemory not a list', 'reservedMemory: {}', 'reservedMemory'],
  ['topologyManagerPolicy', 'topologyManagerPolicy: strict', 'topologyManagerPolicy'],
  ['topologyManagerScope', 'topologyManagerScope: node', 'topologyManagerScope'],
  ['topology option', 'topologyManagerPolicyOptions: {prefer-closest: "true"}', 'topologyManagerPolicyOptions.prefer-closest'],
  ['max-allowable-numa-nodes below 8', 'topologyManagerPolicyOptions: {max-allowable-numa-nodes: "4"}', 'topologyManagerPolicyOptions.max-allowable-numa-nodes'],
  ['reservedSystemCPUs syntax', 'reservedSystemCPUs: 0-a', 'reservedSystemCPUs'],
  ['reservedSystemCPUs with a reserved cgroup', 'reservedSystemCPUs: "0"\nkubeReservedCgroup: /kube', 'reservedSystemCPUs'],
  ['kubeReserved resource', 'kubeReserved: {gpu: "1"}', 'kubeReserved.gpu'],
  ['systemReserved quantity', 'systemReserved: {memory: much}', 'systemReserved.memory'],
];
for (const [name, text, field] of invalid) {
  test(`refused naming the field: ${name}`, () => {
    assert.throws(
      () => parseKubeletConfiguration(text),
      (e: unknown) => isCocoletError(e, ErrorCode.ConfigInvalid) && e.context.field === field && e.message.startsWith(`${field}: `),
    );
  });
}
