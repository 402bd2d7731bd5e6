import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../api/types.js';
import { defaultKubeletConfiguration } from '../config/kubeletconfig.js';
import { ContainerManager, type ContainerManagerOptions, type DeviceResources } from './manager.js';
import { podRequests } from './requests.js';
import { AdmissionError, type MachineTopology, type ResourceHints, type TopologyHint } from './types.js';

const Gi = 1024 ** 3;
const Mi = 1024 ** 2;

/** 4 CPUs on 2 NUMA nodes, 8Gi each. */
const machine: MachineTopology = {
  cpus: [0, 1, 2, 3].map((cpu) => ({ cpu, core: cpu, socket: 0, numa: cpu < 2 ? 0 : 1 })),
  numaNodes: [0, 1],
  distances: { 0: [10, 21], 1: [21, 10] },
  memoryPerNuma: { 0: 8 * Gi, 1: 8 * Gi },
};

function pod(uid: string, limits: Record<string, string>, name = 'app'): Pod {
  return { metadata: { name: uid, namespace: 'ns', uid }, spec: { containers: [{ name, image: 'x', resources: { limits } }] } };
}

/** A device manager stand-in: `example.com/gpu` on NUMA 1 only. */
class FakeDevices implements DeviceResources {
  readonly name = 'devices';
  allocated: string[] = [];
  released: string[] = [];
  resources() {
    return { 'example.com/gpu': { capacity: 2, allocatable: 1 } };
  }
  refuseUnserved(p: Pod): AdmissionError | undefined {
    const wants = p.spec.containers.some((c) => c.resources?.limits?.['example.com/widget']);
    return wants ? new AdmissionError('OutOfexample.com/widget', "Node didn't have enough resource: example.com/widget, requested: 1, used: 0, capacity: 0") : undefined;
  }
  getTopologyHints(_p: Pod, c: Container): ResourceHints {
    return c.resources?.limits?.['example.com/gpu'] ? { 'example.com/gpu': [{ numaAffinity: [1], preferred: true }] } : null;
  }
  getPodTopologyHints(): ResourceHints {
    return null;
  }
  allocate(p: Pod, c: Container, _a: TopologyHint | null): void {
    this.allocated.push(`${p.metadata.uid}/${c.name}`);
  }
  removeContainer(uid: string, name: string): void {
    this.released.push(`${uid}/${name}`);
  }
}

/** A CPU manager stand-in: whole CPUs on NUMA 0 only. */
const cpu = {
  name: 'cpu',
  getTopologyHints: (_p: Pod, c: Container): ResourceHints => (c.resources?.limits?.cpu === '2' ? { cpu: [{ numaAffinity: [0], preferred: true }] } : null),
  getPodTopologyHints: (): ResourceHints => null,
  allocate: () => {},
  removeContainer: () => {},
};

function cm(extra: Partial<ContainerManagerOptions['config']> = {}, devices?: FakeDevices): ContainerManager {
  const config = { ...defaultKubeletConfiguration(), ...extra };
  return new ContainerManager({ config, machine, ephemeralStorageCapacity: 100 * Gi, ...(devices ? { devices } : {}), cpu });
}

test('capacity and allocatable: reservations and the default hard eviction come off; devices as their plugin says', () => {
  const m = cm({ kubeReserved: { cpu: '500m', memory: '1Gi' }, systemReserved: { cpu: '500m' } }, new FakeDevices());
  assert.deepEqual(m.capacity(), { cpu: 4, memory: 16 * Gi, pods: 110, 'ephemeral-storage': 100 * Gi, 'example.com/gpu': 2 });
  const a = m.allocatable();
  assert.equal(a.cpu, 3);
  assert.equal(a.memory, 16 * Gi - Gi - 100 * Mi);
  assert.equal(a['example.com/gpu'], 1);
});

test('reservedSystemCPUs replaces the cpu of kubeReserved and systemReserved with its size', () => {
  const m = cm({ kubeReserved: { cpu: '3' }, systemReserved: { cpu: '1' }, reservedSystemCPUs: '0' });
  assert.equal(m.allocatable().cpu, 3);
});

test('resource fit: OutOfcpu / OutOfmemory with the kubelet message, counting admitted pods', async () => {
  const m = cm({ kubeReserved: { cpu: '1' } });
  assert.deepEqual(await m.admit(pod('a', { cpu: '1500m', memory: '1Gi' })), { admit: true });
  assert.deepEqual(await m.admit(pod('b', { cpu: '2', memory: '1Gi' })), {
    admit: false,
    reason: 'OutOfcpu',
    message: "Node didn't have enough resource: cpu, requested: 2000, used: 1500, capacity: 3000",
  });
  const big = await m.admit(pod('c', { cpu: '100m', memory: '20Gi' }));
  assert.equal(big.admit ? '' : big.reason, 'OutOfmemory');
  await m.removePod('a');
  assert.deepEqual(await m.admit(pod('b', { cpu: '2', memory: '1Gi' })), { admit: true });
});

test('an extended resource no plugin serves is refused, and what was allocated for the pod is given back', async () => {
  const d = new FakeDevices();
  const r = await cm({}, d).admit(pod('w', { 'example.com/widget': '1' }));
  assert.equal(r.admit ? '' : r.reason, 'OutOfexample.com/widget');
  assert.deepEqual(d.allocated, ['w/app']);
  assert.deepEqual(d.released, ['w/app']);
});

test('restricted: CPU hints on NUMA 0 and GPU hints on NUMA 1 -> TopologyAffinityError naming both', async () => {
  const d = new FakeDevices();
  const m = cm({ topologyManagerPolicy: 'restricted' }, d);
  const r = await m.admit(pod('g', { cpu: '2', memory: '1Gi', 'example.com/gpu': '1' }));
  assert.deepEqual(r, {
    admit: false,
    reason: 'TopologyAffinityError',
    message: 'Resources cannot be allocated with Topology locality (policy restricted, container app): example.com/gpu hints want NUMA {1}, cpu hints want NUMA {0}',
  });
  assert.deepEqual(d.allocated, []);
  // best-effort admits the same pod
  const d2 = new FakeDevices();
  assert.deepEqual(await cm({ topologyManagerPolicy: 'best-effort' }, d2).admit(pod('g', { cpu: '2', memory: '1Gi', 'example.com/gpu': '1' })), { admit: true });
  assert.deepEqual(d2.allocated, ['g/app']);
});

test('the memory manager is wired in: Static pins a Guaranteed pod to a NUMA node, removePod frees it', async () => {
  const config = {
    memoryManagerPolicy: 'Static',
    topologyManagerPolicy: 'single-numa-node',
    reservedMemory: [{ numaNode: 0, limits: { memory: '100Mi' } }],
  };
  const m = cm(config);
  assert.deepEqual(await m.admit(pod('m', { cpu: '2', memory: '2Gi' })), { admit: true });
  assert.deepEqual(m.memory.getMemoryNumaNodes('m', 'app'), [0]);
  assert.equal(m.podNumaNodes(pod('m', {})), '0');
  assert.equal(m.podNumaNodes(pod('other', {})), undefined);
  await m.removePod('m');
  assert.equal(m.memory.getMemoryNumaNodes('m', 'app'), null);
});

test('Static memory with a reservation that does not match Node Allocatable refuses to start, naming it', () => {
  assert.throws(() => cm({ memoryManagerPolicy: 'Static', reservedMemory: [{ numaNode: 0, limits: { memory: '1Gi' } }] }), /reservedMemory: the total amount 1073741824 bytes of type "memory" is not equal to the value 104857600 bytes/);
});

test('pod overhead counts in the resource fit: a pod that fits by its containers alone is refused OutOfmemory once its RuntimeClass overhead is added, and the message names the overhead', async () => {
  // allocatable memory: 16Gi - 100Mi (default hard eviction)
  const withOverhead = (uid: string, overhead?: Record<string, string>): Pod => {
    const p = pod(uid, { cpu: '1', memory: '15Gi' });
    p.spec.runtimeClassName = 'cocolet';
    if (overhead) p.spec.overhead = overhead;
    return p;
  };
  assert.deepEqual(await cm().admit(withOverhead('fits')), { admit: true });
  const r = await cm().admit(withOverhead('vm', { memory: '1120Mi', cpu: '150m' }));
  assert.equal(r.admit, false);
  assert.equal(r.admit === false && r.reason, 'OutOfmemory');
  assert.match(r.admit === false ? r.message : '', /^Node didn't have enough resource: memory, requested: 17280532480, used: 0, capacity: 17075011584 \(requested includes the pod overhead 1174405120 of RuntimeClass cocolet\)$/);
  // the overhead's cpu is counted too: 4 CPUs, 3.9 requested by containers + 0.15 overhead
  const cpuPod = pod('c', { cpu: '3900m' });
  cpuPod.spec.overhead = { cpu: '150m' };
  const rc = await cm().admit(cpuPod);
  assert.equal(rc.admit === false && rc.reason, 'OutOfcpu');
  assert.deepEqual(podRequests(cpuPod, { excludeOverhead: true }), { cpu: 3.9 });
});

test('device plugin resources are not refused by the fit check once allocated (allocatable 0 after a restart)', async () => {
  const d = new FakeDevices();
  d.resources = () => ({ 'example.com/gpu': { capacity: 2, allocatable: 0 } });
  assert.deepEqual(await cm({}, d).admit(pod('g', { cpu: '1', 'example.com/gpu': '1' })), { admit: true });
});

test('podRequests: the larger of the init peak and the long-running sum; sidecars add up', () => {
  const p: Pod = {
    metadata: { name: 'p' },
    spec: {
      initContainers: [
        { name: 'side', image: 'x', restartPolicy: 'Always', resources: { requests: { cpu: '100m' } } },
        { name: 'init', image: 'x', resources: { requests: { cpu: '2', memory: '1Gi' } } },
      ],
      containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '500m', memory: '2Gi' } } }],
    },
  };
  const r = podRequests(p);
  assert.equal(r.cpu, 2.1);
  assert.equal(r.memory, 2 * Gi);
});

test('ephemeral-storage joins capacity once the root dir exists (the kubelet creates it after the container manager)', async () => {
  const { mkdtempSync, mkdirSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const parent = mkdtempSync(join(tmpdir(), 'cocolet-cm-'));
  try {
    const rootDir = join(parent, 'kubelet');
    const m = new ContainerManager({ config: defaultKubeletConfiguration(), machine, rootDir, cpu });
    assert.equal(m.capacity()['ephemeral-storage'], undefined);
    mkdirSync(rootDir);
    assert.ok((m.capacity()['ephemeral-storage'] ?? 0) > 0);
    assert.ok((m.allocatable()['ephemeral-storage'] ?? 0) > 0);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
