/**
 * The container manager: the resource managers behind one admission call, and the node's
 * capacity and allocatable (the kubelet's cm.ContainerManager, the parts cocolet needs).
 *
 * Admission, in the kubelet's order (its admit handlers: resource allocation, then predicates):
 *   1. the topology manager: hints from the device, CPU and memory managers (that order, as the
 *      kubelet adds them), merge, then allocation on each (TopologyAffinityError naming the
 *      resources that could not be aligned, the provider's reason, or UnexpectedAdmissionError);
 *   2. extended resources no device plugin serves (OutOf<resource>);
 *   3. resource fit against Node Allocatable minus what admitted pods request
 *      (OutOfcpu / OutOfmemory / OutOf<resource>, the kubelet's message).
 * Unlike the kubelet, a pod refused at 2 or 3 gives back what 1 allocated.
 * The CPU manager plugs in through the HintProvider seam (cm/types.ts) when present.
 */
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Container, Pod } from '../api/types.js';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import type { KubeletConfiguration } from '../config/kubeletconfig.js';
import { nodeAllocatable, nodeAllocatableReservation, parseReservedResources, type ResourceList } from './allocatable.js';
import { MemoryManager } from './memorymanager/manager.js';
import { CpuManager } from './cpumanager/manager.js';
import { CpuSet } from '../../../shared/cpuset/cpuset.js';
import { durationMs } from '../config/kubeletconfig.js';
import { podOverhead, podRequests } from './requests.js';
import { TopologyManager, type AdmitResult, type TopologyMetrics } from './topologymanager/manager.js';
import type { AdmissionError, HintProvider, MachineTopology } from './types.js';

/** What the container manager needs of the device manager beyond the HintProvider seam. */
export interface DeviceResources extends HintProvider {
  resources(): Record<string, { capacity: number; allocatable: number }>;
  refuseUnserved?(pod: Pod): AdmissionError | undefined;
}

export type ContainerManagerConfig = Pick<
  KubeletConfiguration,
  | 'maxPods'
  | 'evictionHard'
  | 'evictionSoft'
  | 'evictionSoftGracePeriod'
  | 'evictionMinimumReclaim'
  | 'enforceNodeAllocatable'
  | 'memoryManagerPolicy'
  | 'reservedMemory'
  | 'topologyManagerPolicy'
  | 'topologyManagerScope'
  | 'topologyManagerPolicyOptions'
  | 'kubeReserved'
  | 'systemReserved'
  | 'cpuManagerPolicy'
  | 'cpuManagerPolicyOptions'
  | 'cpuManagerReconcilePeriod'
  | 'reservedSystemCPUs'
> & { mergeDefaultEvictionSettings?: boolean; featureGates?: unknown };

export interface ContainerManagerOptions {
  config: ContainerManagerConfig;
  machine: MachineTopology;
  /** The kubelet root dir: memory_manager_state lives there, and its filesystem is nodefs. */
  rootDir?: string;
  devices?: DeviceResources;
  /** Replaces the CPU manager made from the configuration (tests). */
  cpu?: HintProvider;
  /** NUMA id -> hugepages resource -> bytes (from sysfs when known). */
  hugepagesPerNuma?: Record<number, Record<string, number>>;
  /**
   * Bytes of memory capacity (the kubelet's: MemTotal of /proc/meminfo, cAdvisor's MemoryCapacity);
   * default: the NUMA nodes' memory summed, else totalmem(). The two can differ (memory the NUMA
   * nodes' meminfo does not list, as on this build machine: 14 GiB on node 0 of 24 GiB MemTotal).
   */
  memoryCapacity?: number;
  /** Bytes of the nodefs; read with statfs of rootDir when not given. */
  ephemeralStorageCapacity?: number;
  topologyMetrics?: TopologyMetrics;
  logger?: Logger;
}

function cpuMilli(v: number): number {
  return Math.round(v * 1000);
}

export class ContainerManager {
  readonly topology: TopologyManager;
  readonly memory: MemoryManager;
  /** The CPU manager made from the configuration (undefined when `cpu` was given instead). */
  readonly cpuManager: CpuManager | undefined;
  private readonly log: Logger;
  private readonly baseCapacity: ResourceList;
  private readonly kubeReserved: ResourceList;
  private readonly systemReserved: ResourceList;
  /** Admitted pods still holding resources: uid -> (pod, its requests). */
  private readonly admitted = new Map<string, { pod: Pod; requests: ResourceList }>();

  constructor(private readonly o: ContainerManagerOptions) {
    this.log = o.logger ?? silentLogger();
    const c = o.config;
    this.kubeReserved = parseReservedResources('kubeReserved', c.kubeReserved);
    this.systemReserved = parseReservedResources('systemReserved', c.systemReserved);
    if (c.reservedSystemCPUs?.trim()) {
      // As upstream: the reserved cpuset's size replaces the cpu of kubeReserved and systemReserved.
      delete this.kubeReserved.cpu;
      this.systemReserved.cpu = CpuSet.parse(c.reservedSystemCPUs.trim()).size;
    }
    this.baseCapacity = this.machineCapacity();
    const reservation = nodeAllocatableReservation({ capacity: this.baseCapacity, kubeReserved: this.kubeReserved, systemReserved: this.systemReserved, eviction: c });
    this.memory = new MemoryManager({
      policy: c.memoryManagerPolicy ?? 'None',
      machine: o.machine,
      ...(o.hugepagesPerNuma ? { hugepagesPerNuma: o.hugepagesPerNuma } : {}),
      reservedMemory: c.reservedMemory ?? [],
      nodeAllocatableReservation: reservation,
      ...(o.rootDir ? { rootDir: o.rootDir } : {}),
      logger: this.log,
    });
    this.topology = new TopologyManager({
      policy: c.topologyManagerPolicy ?? 'none',
      scope: c.topologyManagerScope ?? 'container',
      policyOptions: c.topologyManagerPolicyOptions ?? {},
      topology: o.machine,
      logger: this.log,
      ...(o.topologyMetrics ? { metrics: o.topologyMetrics } : {}),
    });
    this.cpuManager = o.cpu
      ? undefined
      : new CpuManager({
          policy: c.cpuManagerPolicy ?? 'none',
          policyOptions: c.cpuManagerPolicyOptions ?? {},
          featureGates: c.featureGates,
          reservedSystemCPUs: c.reservedSystemCPUs ?? '',
          kubeReserved: c.kubeReserved ?? {},
          systemReserved: c.systemReserved ?? {},
          topology: o.machine,
          rootDir: o.rootDir ?? '',
          reconcilePeriodMs: durationMs(c.cpuManagerReconcilePeriod ?? '10s'),
          topologyManagerPolicy: c.topologyManagerPolicy ?? 'none',
          logger: this.log,
        });
    if (o.devices) this.topology.addHintProvider(o.devices);
    const cpu = o.cpu ?? this.cpuManager;
    if (cpu) this.topology.addHintProvider(cpu);
    this.topology.addHintProvider(this.memory);
  }

  /** Loads the managers' checkpoints (recovering from bad ones); starts the CPU reconcile loop given a source. */
  start(cpuReconcile?: Parameters<CpuManager['start']>): void {
    this.memory.start();
    if (this.o.rootDir) this.cpuManager?.start(...(cpuReconcile ?? []));
  }

  async stop(): Promise<void> {
    await this.cpuManager?.stop();
  }

  /** What the container is created with: its cpuset (CPU manager) and memory nodes (memory manager). */
  cpusets(podUid: string, containerName: string): { cpusetCpus?: string; cpusetMems?: string } {
    const cpus = this.cpuManager?.cpusetFor(podUid, containerName);
    const mems = this.memory.getMemoryNumaNodes(podUid, containerName);
    return { ...(cpus ? { cpusetCpus: cpus } : {}), ...(mems ? { cpusetMems: mems.join(',') } : {}) };
  }

  /**
   * The NUMA nodes the memory manager granted any of the pod's containers, as a Linux list (the
   * sandbox's `io.cocolet.numa-nodes`: a confidential pod's guest RAM is bound to them); undefined
   * when none was (policy None, or a pod that is not Guaranteed).
   */
  podNumaNodes(pod: Pod): string | undefined {
    const uid = pod.metadata.uid ?? '';
    const nodes = new Set<number>();
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) for (const n of this.memory.getMemoryNumaNodes(uid, c.name) ?? []) nodes.add(n);
    return nodes.size ? CpuSet.from(nodes).toString() : undefined;
  }

  private machineCapacity(): ResourceList {
    const m = this.o.machine;
    const perNuma = Object.values(m.memoryPerNuma ?? {});
    const cap: ResourceList = {
      cpu: m.cpus.length,
      memory: this.o.memoryCapacity ?? (perNuma.length ? perNuma.reduce((a, b) => a + b, 0) : totalmem()),
      pods: this.o.config.maxPods ?? 110,
    };
    for (const node of Object.values(this.o.hugepagesPerNuma ?? {})) for (const [r, v] of Object.entries(node)) cap[r] = (cap[r] ?? 0) + v;
    const storage = this.o.ephemeralStorageCapacity ?? this.nodefsSize();
    if (storage !== undefined) cap['ephemeral-storage'] = storage;
    return cap;
  }

  /** Bytes of the filesystem holding the root dir; undefined until it exists (read again at the next call). */
  private nodefsSize(): number | undefined {
    if (!this.o.rootDir) return undefined;
    try {
      const s = statfsSync(this.o.rootDir);
      return s.blocks * s.bsize;
    } catch {
      return undefined;
    }
  }

  /** The machine's capacity; ephemeral-storage joins once the root dir exists (the kubelet creates it after this manager). */
  private base(): ResourceList {
    if (this.baseCapacity['ephemeral-storage'] === undefined) {
      const storage = this.nodefsSize();
      if (storage !== undefined) this.baseCapacity['ephemeral-storage'] = storage;
    }
    return this.baseCapacity;
  }

  /** Node capacity, device plugin resources included. */
  capacity(): ResourceList {
    const cap = { ...this.base() };
    for (const [r, v] of Object.entries(this.o.devices?.resources() ?? {})) cap[r] = v.capacity;
    return cap;
  }

  /** Node allocatable: capacity minus reservations and hard eviction; devices: the healthy ones. */
  allocatable(): ResourceList {
    const a = nodeAllocatable({ capacity: this.base(), kubeReserved: this.kubeReserved, systemReserved: this.systemReserved, eviction: this.o.config });
    for (const [r, v] of Object.entries(this.o.devices?.resources() ?? {})) a[r] = v.allocatable;
    return a;
  }

  private used(except: string): ResourceList {
    const u: ResourceList = {};
    for (const [uid, a] of this.admitted) {
      if (uid === except) continue;
      for (const [r, v] of Object.entries(a.requests)) u[r] = (u[r] ?? 0) + v;
    }
    return u;
  }

  /** The kubelet's resource fit: a refusal for the first resource that does not fit, or undefined. */
  checkFit(pod: Pod): AdmitResult | undefined {
    const req = podRequests(pod);
    const alloc = this.allocatable();
    const used = this.used(pod.metadata.uid ?? '');
    // Device plugin resources: the device manager's allocation already took healthy devices for the
    // pod (the kubelet raises allocatable to what is allocated for the same effect), so a pod
    // re-admitted after a restart, before its plugin registered again, is not refused here.
    const devices = this.o.devices?.resources() ?? {};
    for (const r of Object.keys(req).sort()) {
      if (r === 'pods' || Object.hasOwn(devices, r)) continue;
      const cap = alloc[r];
      if (cap === undefined) continue; // unknown to the node: extended resources are checked below
      const want = req[r]!;
      const have = used[r] ?? 0;
      if (want > cap - have + 1e-9) {
        const fmt = r === 'cpu' ? cpuMilli : Math.ceil;
        // The kubelet's text; we add the overhead's share, so a pod whose containers alone would
        // fit is not a riddle (its sandbox, e.g. a confidential pod's VM, is what did not fit).
        const overhead = podOverhead(pod)[r];
        const why = overhead ? ` (requested includes the pod overhead ${fmt(overhead)} of RuntimeClass ${pod.spec.runtimeClassName ?? '(none)'})` : '';
        return { admit: false, reason: `OutOf${r}`, message: `Node didn't have enough resource: ${r}, requested: ${fmt(want)}, used: ${fmt(have)}, capacity: ${fmt(cap)}${why}` };
      }
    }
    return undefined;
  }

  /** Admits a pod (fit, then topology + allocation); on refusal nothing stays allocated. */
  async admit(pod: Pod): Promise<AdmitResult> {
    const uid = pod.metadata.uid ?? '';
    const r = await this.topology.admit(pod);
    if (!r.admit) return r;
    const unserved = this.o.devices?.refuseUnserved?.(pod);
    const refused: AdmitResult | undefined = unserved ? { admit: false, reason: unserved.reason, message: unserved.message } : this.checkFit(pod);
    if (refused) {
      await this.topology.removePod(pod);
      return refused;
    }
    this.admitted.set(uid, { pod, requests: podRequests(pod) });
    return r;
  }

  /** The pod's containers have stopped: its CPUs, memory and devices go back to the node. */
  async removePod(uid: string): Promise<void> {
    const a = this.admitted.get(uid);
    this.admitted.delete(uid);
    if (a) await this.topology.removePod(a.pod);
  }

  /** A container was removed (its exclusive resources are free again). */
  async removeContainer(uid: string, container: Container): Promise<void> {
    await this.topology.removeContainer(uid, container.name);
  }
}
