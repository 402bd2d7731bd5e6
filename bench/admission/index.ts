/**
 * `npm run bench -- admission [iterations]` (default 300 admissions per policy).
 *
 * 1. Admission decision time for a Guaranteed pod (16 CPUs, 32Gi, 2 example.com/gpu) on a 256-CPU,
 *    8-NUMA machine (2 sockets, 2-way SMT, 64Gi and 2 GPUs per NUMA node): the container manager's
 *    admit(), i.e. hints from the device, CPU (static) and memory (Static) managers, the topology
 *    merge (single-numa-node, and best-effort) and the allocations, checkpoints written as in the
 *    kubelet. The GPUs are an in-process provider over the device manager's hint generator
 *    (generateDeviceHints), so no device plugin RPC is timed. Each admission is undone (removePod)
 *    before the next, untimed. p50 and p99.
 *    Peer, same run: the same pod through the trivial policies (cpuManagerPolicy none,
 *    memoryManagerPolicy None, topologyManagerPolicy none), i.e. what admission costs when nothing
 *    is aligned.
 * 2. Eviction ranking of 1,000 pods under memory.available (the eviction manager's
 *    rankForEviction: exceeds-request, priority, usage above request), p50 and p99 per ranking.
 *    Peer, same run: sorting the same pods by working set alone (the least any ranking costs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchReport, percentile } from '../report.js';
import type { Container, Pod } from '../../host/kubelet/api/types.js';
import { defaultKubeletConfiguration, type KubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { ContainerManager, type DeviceResources } from '../../host/kubelet/cm/manager.js';
import { generateDeviceHints, type DeviceInfo } from '../../host/kubelet/cm/devicemanager/hints.js';
import type { MachineTopology, ResourceHints, TopologyHint } from '../../host/kubelet/cm/types.js';
import { rankForEviction, type PodStats, type RankPod } from '../../host/kubelet/eviction/rank.js';

const N = Number(process.argv[2] ?? 300);
const Gi = 1024 ** 3;
const GPU = 'example.com/gpu';

/** 256 CPUs: cpu c and c+128 are SMT siblings; 16 cores per NUMA node, 4 NUMA nodes per socket. */
function machine(): MachineTopology {
  const cpus = Array.from({ length: 256 }, (_, cpu) => {
    const core = cpu % 128;
    const numa = Math.floor(core / 16);
    return { cpu, core, socket: numa < 4 ? 0 : 1, numa };
  });
  const nodes = [0, 1, 2, 3, 4, 5, 6, 7];
  const distances: Record<number, number[]> = {};
  for (const a of nodes) distances[a] = nodes.map((b) => (a === b ? 10 : (a < 4) === (b < 4) ? 12 : 32));
  const memoryPerNuma: Record<number, number> = {};
  for (const n of nodes) memoryPerNuma[n] = 64 * Gi;
  return { cpus, numaNodes: nodes, distances, memoryPerNuma };
}

/** Two GPUs per NUMA node, hinted with the device manager's own generator, allocated in process. */
class Gpus implements DeviceResources {
  readonly name = 'devices';
  private readonly all = new Map<string, DeviceInfo>();
  private readonly used = new Map<string, string[]>();
  constructor(private readonly nodes: number[]) {
    for (const n of nodes) for (const k of [0, 1]) this.all.set(`gpu-${n}-${k}`, { id: `gpu-${n}-${k}`, healthy: true, numa: [n] });
  }
  private free(): string[] {
    const taken = new Set([...this.used.values()].flat());
    return [...this.all.keys()].filter((id) => !taken.has(id));
  }
  resources() {
    return { [GPU]: { capacity: this.all.size, allocatable: this.all.size } };
  }
  private want(c: Container): number {
    return Number(c.resources?.limits?.[GPU] ?? 0);
  }
  getTopologyHints(_pod: Pod, c: Container): ResourceHints {
    const n = this.want(c);
    return n ? { [GPU]: generateDeviceHints(this.nodes, this.all, this.free(), [], n) } : null;
  }
  getPodTopologyHints(pod: Pod): ResourceHints {
    const c = pod.spec.containers[0]!;
    return this.getTopologyHints(pod, c);
  }
  allocate(pod: Pod, c: Container, affinity: TopologyHint | null): void {
    const n = this.want(c);
    if (!n) return;
    const free = this.free();
    const inAff = affinity?.numaAffinity ? free.filter((id) => this.all.get(id)!.numa.some((x) => affinity.numaAffinity!.includes(x))) : [];
    const pick = [...inAff, ...free.filter((id) => !inAff.includes(id))].slice(0, n);
    if (pick.length < n) throw new Error(`requested number of devices unavailable for ${GPU}`);
    this.used.set(`${pod.metadata.uid}/${c.name}`, pick);
  }
  removeContainer(uid: string, name: string): void {
    this.used.delete(`${uid}/${name}`);
  }
}

function guaranteedPod(i: number): Pod {
  const limits = { cpu: '16', memory: '32Gi', [GPU]: '2' };
  return { metadata: { name: `p${i}`, namespace: 'bench', uid: `uid-${i}` }, spec: { containers: [{ name: 'app', image: 'x', resources: { limits } }] } };
}

type Setup = { name: string; config: Partial<KubeletConfiguration> };

const aligned = (policy: string): Setup => ({
  name: policy,
  config: {
    cpuManagerPolicy: 'static',
    memoryManagerPolicy: 'Static',
    topologyManagerPolicy: policy,
    kubeReserved: { cpu: '2', memory: '924Mi' },
    reservedMemory: [{ numaNode: 0, limits: { memory: '1Gi' } }],
  },
});
const trivial: Setup = { name: 'none', config: { kubeReserved: { cpu: '2', memory: '924Mi' } } };

async function admissionTimes(s: Setup): Promise<number[]> {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-bench-admission-'));
  try {
    const m = machine();
    const cm = new ContainerManager({
      config: { ...defaultKubeletConfiguration(), ...s.config } as KubeletConfiguration,
      machine: m,
      rootDir: root,
      devices: new Gpus(m.numaNodes),
      ephemeralStorageCapacity: 1000 * Gi,
    });
    cm.start();
    const times: number[] = [];
    for (let i = -50; i < N; i++) {
      const pod = guaranteedPod(i + 50);
      const t0 = performance.now();
      const r = await cm.admit(pod);
      const dt = performance.now() - t0;
      if (!r.admit) throw new Error(`bench admission (${s.name}): the pod was refused: ${r.reason}: ${r.message}`);
      if (i >= 0) times.push(dt);
      await cm.removePod(pod.metadata.uid!);
    }
    await cm.stop();
    return times;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function rankingPods(n: number): { pods: RankPod[]; stats: Record<string, PodStats> } {
  const pods: RankPod[] = [];
  const stats: Record<string, PodStats> = {};
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const req = Math.floor(rnd() * 512) * 1024 * 1024;
    pods.push({ name: `p${i}`, priority: rnd() < 0.1 ? 1000 : 0, containers: [{ name: 'c', requests: req ? { memory: req } : {} }] });
    stats[`p${i}`] = { memoryWorkingSet: Math.floor(rnd() * 1024) * 1024 * 1024 };
  }
  return { pods, stats };
}

function timesOf(fn: () => void, n: number): number[] {
  for (let i = 0; i < 20; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const report = new BenchReport('admission');
  const peer = await admissionTimes(trivial);
  for (const policy of ['single-numa-node', 'best-effort']) {
    const t = await admissionTimes(aligned(policy));
    const tag = policy.replace(/-/g, '_');
    report.add({ figure: `admission_p50_${tag}_256cpu_8numa`, unit: 'ms', value: percentile(t, 50), peer: 'none-policies', peer_value: percentile(peer, 50), better: 'lower' });
    report.add({ figure: `admission_p99_${tag}_256cpu_8numa`, unit: 'ms', value: percentile(t, 99), peer: 'none-policies', peer_value: percentile(peer, 99), better: 'lower' });
  }
  report.note('peer none-policies: the same Guaranteed pod admitted with cpuManagerPolicy none, memoryManagerPolicy None, topologyManagerPolicy none (no hints, no alignment), same run');
  report.note('GPU hints come from the device manager generateDeviceHints in process; no device plugin RPC is timed; checkpoints are written as in the kubelet');

  const { pods, stats } = rankingPods(1000);
  const rank = timesOf(() => void rankForEviction('memory.available', pods, stats), Math.max(100, Math.floor(N / 5)));
  const sortOnly = timesOf(() => void [...pods].sort((a, b) => Number(stats[b.name]!.memoryWorkingSet) - Number(stats[a.name]!.memoryWorkingSet)), Math.max(100, Math.floor(N / 5)));
  report.add({ figure: 'eviction_rank_1000_pods_p50', unit: 'ms', value: percentile(rank, 50), peer: 'sort-by-usage', peer_value: percentile(sortOnly, 50), better: 'lower' });
  report.add({ figure: 'eviction_rank_1000_pods_p99', unit: 'ms', value: percentile(rank, 99), peer: 'sort-by-usage', peer_value: percentile(sortOnly, 99), better: 'lower' });
  report.note('peer sort-by-usage: the same 1,000 pods sorted by working set alone (no exceeds-request, priority or per-pod reasons)');
  report.print();
}

main().catch((e: unknown) => {
  process.stderr.write(`bench admission: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
