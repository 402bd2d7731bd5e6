// Eviction on a real cgroup under memory pressure: containerd + runc run the kubelet's pods under
// a memory cgroup of their own (podsCgroup) limited to 512 MiB; allocatableMemory.available is
// that limit minus the pods' working set, read from the cgroup. A pod fills 400 MiB of a
// memory-backed emptyDir (tmpfs pages are charged to its cgroup), the signal drops under the
// 200 MiB hard threshold, and the eviction manager evicts that pod (not the idle one): Failed /
// Evicted, the kubelet's message, a Warning event in plain words, MemoryPressure reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason, type ContainerdFixture } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { defaultStaticPod } from '../../host/kubelet/config/manifest.js';
import type { Pod } from '../../host/kubelet/api/types.js';
import { ContainerState } from '../../shared/gen/cri/runtime/v1/api_pb.js';

const CG = '/sys/fs/cgroup';
const V2 = existsSync(join(CG, 'cgroup.controllers'));
const memoryRoot = V2 ? CG : join(CG, 'memory');
const skip = containerdSkipReason() ?? (existsSync(memoryRoot) ? undefined : 'no cgroup memory controller at /sys/fs/cgroup');
const h = new Harness();
const PODS_CGROUP = `/cocolet-evict-${randomBytes(4).toString('hex')}`;
const LIMIT = 512 * 2 ** 20;
let c: ContainerdFixture | undefined;
let cri: CriClient;
let kubelet: Kubelet | undefined;

/** Every hierarchy the pods cgroup may appear in (runc creates it in all of them on cgroup v1). */
function hierarchies(): string[] {
  if (V2) return [CG];
  return readdirSync(CG)
    .map((d) => join(CG, d))
    .filter((d) => {
      try {
        return statSync(d).isDirectory() && !statSync(d).isSymbolicLink();
      } catch {
        return false;
      }
    });
}

/** rmdir the pods cgroup, deepest first, in every hierarchy (cgroup dirs hold only virtual files). */
function removeCgroups(): void {
  const rm = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      /* still has tasks: left for the next cleanup */
    }
  };
  for (const hdir of hierarchies()) rm(join(hdir, PODS_CGROUP));
}

function apiPod(name: string, script: string, spec: Partial<Pod['spec']> = {}): Pod {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `evict-${name}-${randomBytes(3).toString('hex')}` },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', script], resources: { requests: { memory: '50Mi' } } }],
      ...spec,
    },
  };
  // As the API source delivers it (config.source "api"): not a static pod, so not critical.
  return defaultStaticPod(pod, JSON.stringify(pod), { source: 'api', origin: name, nodeName: 'evict', now: new Date().toISOString() });
}

before(async () => {
  if (skip) return;
  h.defer(`cgroup ${PODS_CGROUP}`, removeCgroups);
  c = await startContainerd(h);
  cri = new CriClient({ endpoint: c!.address });
  const dir = h.tempDir('ccl-evict-');
  const cgDir = join(memoryRoot, PODS_CGROUP);
  mkdirSync(cgDir);
  writeFileSync(join(cgDir, V2 ? 'memory.max' : 'memory.limit_in_bytes'), String(LIMIT));
  kubelet = new Kubelet({
    settings: {
      config: {
        ...defaultKubeletConfiguration(),
        podLogsDir: join(dir, 'logs'),
        containerRuntimeEndpoint: c!.address,
        evictionHard: { 'memory.available': '200Mi' },
        enforceNodeAllocatable: ['pods'],
      },
      rootDir: join(dir, 'root'),
      nodeName: 'evict',
      runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
    },
    cri,
    images: cri,
    noSources: true,
    extraSources: ['e2e'],
    statusFile: false,
    podsCgroup: PODS_CGROUP,
    eviction: { periodMs: 1000 },
  });
  await kubelet.start();
});

after(async () => {
  if (kubelet) {
    await kubelet.stopAllPods(0);
    await kubelet.stop();
  }
  cri?.close();
  removeCgroups();
  await h.dispose();
});

test('a pod that fills 400 MiB under a 512 MiB pods cgroup is evicted with a plain-words event; MemoryPressure is reported', { skip, timeout: 180_000 }, async () => {
  const k = kubelet!;
  const rec = (n: string) => k.status.all().find((r) => r.pod.metadata.name === n);
  const idle = apiPod('idle', 'exec sleep 3600');
  const hog = apiPod('hog', 'dd if=/dev/zero of=/mem/fill bs=1M count=400 && echo filled && exec sleep 3600', {
    volumes: [{ name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '450Mi' } }],
  });
  hog.spec.containers[0]!.volumeMounts = [{ name: 'mem', mountPath: '/mem' }];
  k.podConfig.set('e2e', [idle]);
  await waitFor(() => rec('idle')?.status.phase === 'Running', { what: 'idle Running', timeoutMs: 60_000, intervalMs: 100 });
  // The pods really run in the pods cgroup, and nothing is under pressure yet.
  const before = await k.eviction!.signals.observe();
  assert.equal(before['allocatableMemory.available']?.capacity, LIMIT);
  assert.ok(before['allocatableMemory.available']!.available > 200 * 2 ** 20, 'not under pressure before the hog');
  assert.ok(existsSync(join(memoryRoot, PODS_CGROUP, `pod${idle.metadata.uid}`)), 'pod cgroup under podsCgroup');
  assert.equal(k.eviction!.manager.conditions().find((x) => x.type === 'MemoryPressure')!.status, 'False');

  k.podConfig.set('e2e', [idle, hog]);
  const evicted = await waitFor(() => (rec('hog')?.status.reason === 'Evicted' ? rec('hog') : undefined), { what: 'hog evicted', timeoutMs: 120_000, intervalMs: 100 });
  assert.equal(evicted.status.phase, 'Failed');
  assert.match(evicted.status.message ?? '', /^The node was low on resource: memory\. Threshold quantity: 200Mi, available: \d+(\.\d+)?(Ki|Mi)?\. Container main was using \d+\S*, request is 50Mi, has larger consumption of memory\. $/);
  const events = k.events.list({ reason: 'Evicted' });
  assert.equal(events.length, 1, 'one eviction');
  assert.equal(events[0]!.type, 'Warning');
  assert.equal(events[0]!.object, 'default/hog');
  assert.match(
    events[0]!.message,
    /^allocatableMemory\.available was \d+(\.\d)?Mi, below the 200Mi eviction threshold \(hard\); evicted this pod because it uses \d+(\.\d)?Mi memory, \d+(\.\d)?Mi above its 50Mi request, priority 0; ahead of default\/idle: above its request while default\/idle is not$/,
  );
  const pressure = k.eviction!.manager.conditions().find((x) => x.type === 'MemoryPressure')!;
  assert.equal(pressure.status, 'True');
  assert.equal(pressure.reason, 'KubeletHasInsufficientMemory');
  assert.match(pressure.message, /allocatableMemory\.available is \d+(\.\d)?Mi, threshold 200Mi|recovered, held for the 300s pressure transition period/);
  // the hog's container is stopped; the idle pod is untouched
  await waitFor(async () => (await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': hog.metadata.uid! } })).every((x) => x.state !== ContainerState.CONTAINER_RUNNING), {
    what: 'hog container stopped',
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  assert.equal(rec('idle')?.status.phase, 'Running');
  // Under pressure a BestEffort pod is refused at admission.
  const be = apiPod('besteffort', 'exec sleep 3600');
  delete be.spec.containers[0]!.resources;
  k.podConfig.set('e2e', [idle, hog, be]);
  const refused = await waitFor(() => rec('besteffort'), { what: 'besteffort status', timeoutMs: 10_000, intervalMs: 50 });
  assert.deepEqual([refused.status.phase, refused.status.reason, refused.status.message], ['Failed', 'Evicted', 'The node had condition: [MemoryPressure]. ']);
});
