// The eviction manager inside the kubelet (fake CRI, fake clock, fed signals): an evicted pod is
// Failed / Evicted with the kubelet's message, its containers are stopped, a Warning event says why,
// node conditions follow, and admission refuses BestEffort pods under memory pressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newFakeNode, testContainer, testPod } from '../testing.js';
import { cmdStatus } from '../cli/inspect.js';
import { podsCgroupOf } from './wiring.js';
import type { FsLayout } from './rank.js';
import type { Observations, SignalSource } from './signals.js';

const Mi = 2 ** 20;

class Fed implements SignalSource {
  available = 4096 * Mi;
  t = 0;
  observe(): Observations {
    return { 'memory.available': { available: this.available, capacity: 8192 * Mi, time: ++this.t } };
  }
  layout(): FsLayout {
    return 'shared';
  }
}

test('memory pressure in the kubelet: the lowest-priority pod is evicted; BestEffort pods are refused', async () => {
  const signals = new Fed();
  const node = await newFakeNode({ config: { evictionHard: { 'memory.available': '100Mi' } }, eviction: { signals, periodMs: 10_000 } });
  try {
    const burstable = { resources: { requests: { memory: '10Mi' } } };
    node.setPods([
      testPod('important', { priority: 100, containers: [testContainer('main', burstable)] }),
      testPod('batch', { priority: 1, containers: [testContainer('main', burstable)] }),
    ]);
    await node.step(1000);
    const phase = (n: string): string | undefined => node.kubelet.status.all().find((r) => r.pod.metadata.name === n)?.status.phase;
    assert.equal(phase('batch'), 'Running');
    signals.available = 50 * Mi;
    await node.step(9_000); // the round 10 s after the first
    const rec = node.kubelet.status.all().find((r) => r.pod.metadata.name === 'batch')!;
    assert.equal(rec.status.phase, 'Failed');
    assert.equal(rec.status.reason, 'Evicted');
    assert.match(rec.status.message ?? '', /^The node was low on resource: memory\. Threshold quantity: 100Mi, available: 50Mi\. /);
    assert.equal(phase('important'), 'Running', 'one eviction per round');
    const ev = node.kubelet.events.list({ reason: 'Evicted' });
    assert.equal(ev.length, 1);
    assert.match(ev[0]!.message, /^memory.available was 50Mi, below the 100Mi eviction threshold \(hard\); evicted this pod because it has no memory stats, priority 1; ahead of default\/important: lower priority than default\/important \(1 < 100\)$/);
    assert.ok(rec.status.containerStatuses.every((c) => !c.state.running), 'containers stopped');
    assert.equal(node.kubelet.eviction!.manager.conditions().find((c) => c.type === 'MemoryPressure')!.status, 'True');
    // `cocolet status` shows the pressure (the status file carries the node conditions)
    writeFileSync(join(node.dir, 'status.json'), JSON.stringify(node.kubelet.status.snapshot()));
    const lines: string[] = [];
    assert.equal(cmdStatus(node.dir, false, (l) => lines.push(l)), 0);
    assert.match(lines.join('\n'), /node condition MemoryPressure since \S+: kubelet has insufficient memory available: memory.available is 50Mi, threshold 100Mi/);
    assert.doesNotMatch(lines.join('\n'), /DiskPressure/);
    // still under pressure: the next round runs as soon as the evicted pod is cleaned up, not 10 s later
    await node.step(1_000);
    assert.equal(phase('important'), 'Failed');
    assert.equal(node.kubelet.events.list({ reason: 'Evicted' }).length, 2);

    node.setPods([...node.kubelet.pods.values(), testPod('besteffort')]);
    await node.step(0);
    const be = node.kubelet.status.all().find((r) => r.pod.metadata.name === 'besteffort')!;
    assert.deepEqual([be.status.phase, be.status.reason, be.status.message], ['Failed', 'Evicted', 'The node had condition: [MemoryPressure]. ']);
    assert.equal(node.cri.listPodSandbox ? (await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': 'uid-besteffort' } })).length : 0, 0, 'no sandbox for a refused pod');
  } finally {
    await node.dispose();
  }
});

test('eviction: false leaves the kubelet without a manager', async () => {
  const node = await newFakeNode({ eviction: false });
  try {
    assert.equal(node.kubelet.eviction, undefined);
  } finally {
    await node.dispose();
  }
});

test('pods cgroup: the option, else <cgroupRoot>/kubepods with cgroupsPerQOS, else the runtime default', () => {
  assert.equal(podsCgroupOf('/mine', { cgroupRoot: '/x' }), '/mine');
  assert.equal(podsCgroupOf(undefined, { cgroupRoot: '/' }), '/kubepods');
  assert.equal(podsCgroupOf(undefined, { cgroupRoot: '/cocolet/' }), '/cocolet/kubepods');
  assert.equal(podsCgroupOf(undefined, { cgroupRoot: '/cocolet', cgroupsPerQOS: false }), undefined);
  assert.equal(podsCgroupOf(undefined, {}), undefined);
  assert.equal(podsCgroupOf(undefined, { cgroupRoot: '' }), undefined);
});
