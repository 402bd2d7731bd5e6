// The kubelet with its container manager: a pod the topology manager refuses ends Failed with the
// reason and a message naming the resource; an aligned one runs with its memory pinned (fake CRI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../../shared/testing/harness.js';
import { newFakeNode, testContainer, testPod } from '../testing.js';
import type { MachineTopology } from './types.js';

const Gi = 1024 ** 3;
const machine: MachineTopology = {
  cpus: [0, 1, 2, 3].map((cpu) => ({ cpu, core: cpu, socket: 0, numa: cpu < 2 ? 0 : 1 })),
  numaNodes: [0, 1],
  distances: { 0: [10, 21], 1: [21, 10] },
  memoryPerNuma: { 0: 4 * Gi, 1: 4 * Gi },
};

test('kubelet: single-numa-node refuses a pod whose memory spans two NUMA nodes (Failed, TopologyAffinityError, names memory) and runs one that fits with its exclusive CPU and memory on one node', async () => {
  const node = await newFakeNode({
    machine,
    eviction: false,
    config: {
      cpuManagerPolicy: 'static',
      kubeReserved: { cpu: '1' },
      memoryManagerPolicy: 'Static',
      topologyManagerPolicy: 'single-numa-node',
      reservedMemory: [{ numaNode: 0, limits: { memory: '100Mi' } }],
    },
  });
  try {
    const limits = (memory: string) => ({ resources: { limits: { cpu: '1', memory } } });
    const big = testPod('big', { containers: [testContainer('main', limits('5Gi'))] });
    const small = testPod('small', { containers: [testContainer('main', limits('1Gi'))] });
    // a pod cannot name its own NUMA nodes: the kubelet replaces the annotation with its grant
    small.metadata.annotations = { 'io.cocolet.numa-nodes': '1' };
    // its sandbox's overhead (a confidential pod's VM) counts in the fit, not in exclusive CPUs or NUMA memory
    small.spec.overhead = { cpu: '250m', memory: '128Mi' };
    node.setPods([big, small]);
    await waitFor(async () => {
      await node.step(10);
      return node.cri.running('uid-small', 'main') !== undefined && node.kubelet.status.get('uid-big')?.status.phase === 'Failed';
    }, { what: 'small running, big refused' });
    const st = node.kubelet.status.get('uid-big')!.status;
    assert.equal(st.reason, 'TopologyAffinityError');
    assert.match(st.message ?? '', /^Resources cannot be allocated with Topology locality \(policy single-numa-node, container main\): memory does not fit on a single NUMA node \(the narrowest fit is NUMA \{0,1\}\)$/);
    assert.equal(node.cri.containersOf('uid-big').length, 0);
    const metrics = await node.kubelet.metrics.registry.metrics();
    assert.match(metrics, /kubelet_topology_manager_admission_requests_total 2/);
    assert.match(metrics, /kubelet_topology_manager_admission_errors_total 1/);
    assert.match(metrics, /kubelet_topology_manager_admission_duration_ms_count 2/);
    assert.deepEqual(node.kubelet.cm.memory.getMemoryNumaNodes('uid-small', 'main'), [0]);
    // CPU 0 is reserved; the exclusive CPU and the memory are on NUMA node 0, and the CRI config says so.
    const res = node.cri.running('uid-small', 'main')!.config.linux?.resources;
    assert.equal(res?.cpusetCpus, '1');
    assert.equal(res?.cpusetMems, '0');
    // the sandbox carries the pod's NUMA nodes (a confidential pod's guest RAM is bound to them)
    const sandbox = [...node.cri.sandboxes.values()].find((s) => s.config.metadata?.uid === 'uid-small');
    assert.equal(sandbox?.config.annotations?.['io.cocolet.numa-nodes'], '0');
    node.setPods([]);
    await waitFor(async () => {
      await node.step(10_000);
      return node.kubelet.cm.memory.getMemoryNumaNodes('uid-small', 'main') === null;
    }, { what: 'memory freed after the pod was removed' });
  } finally {
    await node.dispose();
  }
});
