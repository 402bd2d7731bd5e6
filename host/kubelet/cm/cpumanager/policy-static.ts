/**
 * The `static` CPU manager policy (upstream `cpumanager/policy_static.go`).
 *
 * Pools: reserved (never exclusive; `reservedSystemCPUs`, or ceil(kube + system reserved) CPUs
 * picked by the allocator, i.e. the lowest whole cores); shared = the state's default set (all CPUs
 * minus exclusive assignments; reserved CPUs stay in it unless strict-cpu-reservation); assignable
 * = shared - reserved. A container gets exclusive CPUs iff its pod is Guaranteed and its CPU
 * request is a whole number. CPUs of regular init containers are reused by the pod's later
 * containers; sidecars (restartable init containers) count as app containers.
 */
import type { Logger } from '../../../../shared/log/logger.js';
import type { Container, Pod } from '../../api/types.js';
import { qosClass } from '../../runtime/podspec.js';
import { AdmissionError, type ResourceHints, type TopologyHint } from '../types.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import type { CpuTopology } from '../machine/topology.js';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import { forEachCombination, takeByTopologyNUMADistributed, takeByTopologyNUMAPacked } from './allocator.js';
import { validateStaticPolicyOptions, type StaticPolicyOptions } from './options.js';
import type { CpuState } from './state.js';

export const SMT_ALIGNMENT_ERROR = 'SMTAlignmentError';
export const UNEXPECTED_ADMISSION_ERROR = 'UnexpectedAdmissionError';

/** (whole units rounded up, thousandths rounded up) of a CPU quantity, as resource.Quantity Value() / MilliValue(). */
export function cpuQuantity(q: string | number): { value: number; milli: number } | undefined {
  const m = /^([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(String(q).trim());
  if (!m) return undefined;
  const mult: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
  };
  const x = Number(m[1]) * mult[m[2] ?? '']!;
  // toFixed(6) drops binary noise (0.1 * 1000 = 100.00000000000001) before rounding up.
  const up = (v: number): number => Math.ceil(Number(v.toFixed(6)));
  return { value: up(x), milli: up(x * 1000) };
}

export function isRestartableInit(pod: Pod, container: Container): boolean {
  return (pod.spec.initContainers ?? []).some((c) => c.name === container.name && c.restartPolicy === 'Always');
}

/** Exclusive CPUs the container asks for: its whole CPU request if the pod is Guaranteed, else 0. */
export function guaranteedCpus(pod: Pod, container: Container): number {
  if (qosClass(pod) !== 'Guaranteed') return 0;
  const req = container.resources?.requests?.cpu ?? container.resources?.limits?.cpu;
  if (req === undefined) return 0;
  const q = cpuQuantity(req);
  if (!q || q.value * 1000 !== q.milli) return 0;
  return q.value;
}

/** Exclusive CPUs the whole pod needs at its peak (init containers run one at a time; sidecars stay). */
export function podGuaranteedCpus(pod: Pod): number {
  let byInit = 0;
  let bySidecars = 0;
  for (const c of pod.spec.initContainers ?? []) {
    if (c.resources?.requests?.cpu === undefined && c.resources?.limits?.cpu === undefined) continue;
    const n = guaranteedCpus(pod, c);
    if (c.restartPolicy === 'Always') bySidecars += n;
    else byInit = Math.max(byInit, bySidecars + n);
  }
  let byApps = 0;
  for (const c of pod.spec.containers) {
    if (c.resources?.requests?.cpu === undefined && c.resources?.limits?.cpu === undefined) continue;
    byApps += guaranteedCpus(pod, c);
  }
  return Math.max(byInit, byApps + bySidecars);
}

export interface StaticPolicyConfig {
  topology: CpuTopology;
  options: StaticPolicyOptions;
  /** ceil(kubeReserved.cpu + systemReserved.cpu), or the size of reservedSystemCPUs. */
  numReservedCpus: number;
  /** `reservedSystemCPUs`, when set. */
  reservedCpus?: CpuSet;
  topologyManagerPolicy?: string;
  logger?: Logger;
}

export class StaticPolicy {
  readonly name = 'static';
  readonly topology: CpuTopology;
  readonly options: StaticPolicyOptions;
  readonly reserved: CpuSet;
  /** The reserved CPUs and all their hyperthread siblings (full-pcpus-only never hands those out). */
  readonly reservedPhysical: CpuSet;
  readonly cpuGroupSize: number;
  private readonly reuse = new Map<string, CpuSet>();
  private readonly log: Logger | undefined;

  constructor(cfg: StaticPolicyConfig) {
    this.topology = cfg.topology;
    this.options = cfg.options;
    this.log = cfg.logger;
    validateStaticPolicyOptions(cfg.options, cfg.topology, cfg.topologyManagerPolicy);
    this.cpuGroupSize = cfg.topology.cpusPerCore;
    let reserved: CpuSet;
    if (cfg.reservedCpus && cfg.reservedCpus.size > 0) {
      const unknown = cfg.reservedCpus.difference(cfg.topology.all);
      if (!unknown.isEmpty()) {
        throw new CocoletError(ErrorCode.ConfigInvalid, `reservedSystemCPUs "${cfg.reservedCpus}" names CPUs this machine does not have online: "${unknown}"`, {
          context: { field: 'reservedSystemCPUs' },
        });
      }
      reserved = cfg.reservedCpus;
    } else {
      try {
        reserved = this.takeByTopology(cfg.topology.all, cfg.numReservedCpus);
      } catch {
        reserved = CpuSet.EMPTY;
      }
    }
    if (reserved.size !== cfg.numReservedCpus) {
      throw new CocoletError(ErrorCode.ConfigInvalid, `[cpumanager] unable to reserve the required amount of CPUs (size of ${reserved} did not equal ${cfg.numReservedCpus})`);
    }
    this.reserved = reserved;
    this.reservedPhysical = cfg.topology.siblingsOf(reserved);
    this.log?.info({ reserved: reserved.toString(), reservedPhysical: this.reservedPhysical.toString() }, 'reserved CPUs not available for exclusive assignment');
  }

  /** Every CPU the state must account for (all online CPUs, minus reserved with strict-cpu-reservation). */
  allCpus(): CpuSet {
    return this.options.strictCPUReservation ? this.topology.all.difference(this.reserved) : this.topology.all;
  }

  allocatableCpus(): CpuSet {
    return this.topology.all.difference(this.reserved);
  }

  availableCpus(s: CpuState): CpuSet {
    return s.defaultCpuSet.difference(this.reserved);
  }

  availablePhysicalCpus(s: CpuState): CpuSet {
    return s.defaultCpuSet.difference(this.reservedPhysical);
  }

  takeByTopology(available: CpuSet, n: number): CpuSet {
    const strategy = this.options.distributeCPUsAcrossCores ? 'spread' : 'packed';
    if (this.options.distributeCPUsAcrossNUMA) {
      const group = this.options.fullPhysicalCPUsOnly ? this.cpuGroupSize : 1;
      return takeByTopologyNUMADistributed(this.topology, available, n, group, strategy);
    }
    return takeByTopologyNUMAPacked(this.topology, available, n, strategy);
  }

  /**
   * The problem with a state loaded from the checkpoint, or undefined if it is consistent with this
   * configuration (messages as upstream's, plus overlaps between assignments, which it misses).
   * An empty default set with no assignments is a fresh state: it is initialised here.
   */
  validateState(s: CpuState): string | undefined {
    const all = this.allCpus();
    const assignments = s.assignments();
    if (s.defaultCpuSet.isEmpty()) {
      if (assignments.length > 0) return 'default cpuset cannot be empty';
      s.setDefaultCpuSet(all);
      return undefined;
    }
    if (this.options.strictCPUReservation) {
      const both = this.reserved.intersection(s.defaultCpuSet);
      if (!both.isEmpty()) return `some of strictly reserved cpus: "${both}" are present in defaultCpuSet: "${s.defaultCpuSet}"`;
    } else if (!this.reserved.isSubsetOf(s.defaultCpuSet)) {
      return `not all reserved cpus: "${this.reserved}" are present in defaultCpuSet: "${s.defaultCpuSet}"`;
    }
    let seen = CpuSet.EMPTY;
    for (const a of assignments) {
      if (!s.defaultCpuSet.intersection(a.cpus).isEmpty()) {
        return `pod: ${a.podUid}, container: ${a.container} cpuset: "${a.cpus}" overlaps with default cpuset "${s.defaultCpuSet}"`;
      }
      const shared = seen.intersection(a.cpus);
      if (!shared.isEmpty()) return `pod: ${a.podUid}, container: ${a.container} cpuset: "${a.cpus}" shares cpus "${shared}" with another assignment`;
      if (!this.reserved.intersection(a.cpus).isEmpty()) return `pod: ${a.podUid}, container: ${a.container} cpuset: "${a.cpus}" holds reserved cpus "${this.reserved.intersection(a.cpus)}"`;
      seen = seen.union(a.cpus);
    }
    const known = s.defaultCpuSet.union(seen);
    if (!known.equals(all)) return `current set of available CPUs "${all}" doesn't match with CPUs in state "${known}"`;
    return undefined;
  }

  private updateReuse(pod: Pod, container: Container, cpus: CpuSet): void {
    const uid = pod.metadata.uid ?? '';
    for (const k of [...this.reuse.keys()]) if (k !== uid) this.reuse.delete(k);
    const cur = this.reuse.get(uid) ?? CpuSet.EMPTY;
    const regularInit = (pod.spec.initContainers ?? []).some((c) => c.name === container.name && c.restartPolicy !== 'Always');
    this.reuse.set(uid, regularInit ? cur.union(cpus) : cur.difference(cpus));
  }

  /** The full-pcpus-only refusal for `n` CPUs, or undefined. */
  smtAlignmentError(s: CpuState, n: number): AdmissionError | undefined {
    if (!this.options.fullPhysicalCPUsOnly) return undefined;
    if (n % this.cpuGroupSize !== 0) {
      return new AdmissionError(SMT_ALIGNMENT_ERROR, `SMT Alignment Error: requested ${n} cpus not multiple cpus per core = ${this.cpuGroupSize}`);
    }
    const physical = this.availablePhysicalCpus(s).size;
    if (n > physical) {
      return new AdmissionError(
        SMT_ALIGNMENT_ERROR,
        `SMT Alignment Error: not enough free physical CPUs: available physical CPUs = ${physical}, requested CPUs = ${n}, CPUs per core = ${this.cpuGroupSize}`,
      );
    }
    return undefined;
  }

  /**
   * Gives the container its exclusive CPUs (nothing for shared-pool containers). Throws an
   * AdmissionError: SMTAlignmentError, or UnexpectedAdmissionError when the CPUs are not there.
   */
  allocate(s: CpuState, pod: Pod, container: Container, affinity: TopologyHint | null): CpuSet | undefined {
    const n = guaranteedCpus(pod, container);
    if (n === 0) return undefined;
    const uid = pod.metadata.uid ?? '';
    // An assignment that survived a restart is kept before any check: re-admitting a running pod
    // must not fail because its own CPUs are no longer free.
    const existing = s.getCpuSet(uid, container.name);
    if (existing) {
      this.updateReuse(pod, container, existing);
      return existing;
    }
    const smt = this.smtAlignmentError(s, n);
    if (smt) throw smt;
    let cpus: CpuSet;
    try {
      cpus = this.allocateCpus(s, n, affinity?.numaAffinity ?? null, this.reuse.get(uid) ?? CpuSet.EMPTY);
    } catch (e) {
      this.log?.warn({ pod: pod.metadata.name, container: container.name, cpus: n, err: (e as Error).message }, 'unable to allocate CPUs');
      throw new AdmissionError(UNEXPECTED_ADMISSION_ERROR, `Allocate failed due to ${(e as Error).message}, which is unexpected`);
    }
    s.setCpuSet(uid, container.name, cpus);
    this.updateReuse(pod, container, cpus);
    this.log?.info({ pod: pod.metadata.name, container: container.name, cpuset: cpus.toString() }, 'allocated exclusive CPUs');
    return cpus;
  }

  /** CPUs on the hinted NUMA nodes (or their sockets with align-by-socket) first, the rest anywhere. */
  allocateCpus(s: CpuState, n: number, numaAffinity: number[] | null, reusable: CpuSet): CpuSet {
    const allocatable = this.availableCpus(s).union(reusable);
    let result = CpuSet.EMPTY;
    if (numaAffinity) {
      const aligned = this.alignedCpus(numaAffinity, allocatable);
      result = this.takeByTopology(aligned, Math.min(n, aligned.size));
    }
    result = result.union(this.takeByTopology(allocatable.difference(result), n - result.size));
    s.setDefaultCpuSet(s.defaultCpuSet.difference(result));
    return result;
  }

  alignedCpus(numaAffinity: number[], allocatable: CpuSet): CpuSet {
    if (this.options.alignBySocket) return allocatable.intersection(this.topology.cpusInSockets(this.topology.socketsOfNumaNodes(numaAffinity)));
    return allocatable.intersection(this.topology.cpusInNumaNodes(numaAffinity));
  }

  /** Returns the container's CPUs that no sibling container still uses to the shared pool. */
  removeContainer(s: CpuState, podUid: string, containerName: string): CpuSet {
    const cpus = s.getCpuSet(podUid, containerName);
    if (!cpus) return CpuSet.EMPTY;
    const inUse = s.cpusOfPod(podUid, containerName);
    s.delete(podUid, containerName);
    const release = cpus.difference(inUse);
    s.setDefaultCpuSet(s.defaultCpuSet.union(release));
    return release;
  }

  getTopologyHints(s: CpuState, pod: Pod, container: Container): ResourceHints {
    const requested = guaranteedCpus(pod, container);
    if (requested === 0) return null;
    const allocated = s.getCpuSet(pod.metadata.uid ?? '', container.name);
    if (allocated) {
      if (allocated.size !== requested) return { cpu: [] };
      return { cpu: this.generateHints(allocated, CpuSet.EMPTY, requested) };
    }
    return { cpu: this.generateHints(this.availableCpus(s), this.reuse.get(pod.metadata.uid ?? '') ?? CpuSet.EMPTY, requested) };
  }

  getPodTopologyHints(s: CpuState, pod: Pod): ResourceHints {
    const requested = podGuaranteedCpus(pod);
    if (requested === 0) return null;
    const uid = pod.metadata.uid ?? '';
    let assigned = CpuSet.EMPTY;
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      const allocated = s.getCpuSet(uid, c.name);
      if (!allocated) continue;
      if (allocated.size !== guaranteedCpus(pod, c)) return { cpu: [] };
      assigned = assigned.union(allocated);
    }
    if (assigned.size === requested) return { cpu: this.generateHints(assigned, CpuSet.EMPTY, requested) };
    const reusable = (this.reuse.get(uid) ?? CpuSet.EMPTY).union(assigned);
    return { cpu: this.generateHints(this.availableCpus(s), reusable, requested) };
  }

  /**
   * One hint per set of NUMA nodes (1 node, then 2, ... in lexicographic order) whose CPUs can hold
   * the request; preferred iff it has as few nodes as the request needs on the whole machine
   * (or, with align-by-socket, spans as few sockets as that needs).
   */
  generateHints(available: CpuSet, reusable: CpuSet, request: number): TopologyHint[] {
    const nodes = this.topology.numaNodes();
    // Per-node counts once, then every mask is a sum over its nodes (2^nodes masks on big machines).
    const total = new Map(nodes.map((n) => [n, this.topology.cpusInNuma(n).length]));
    const free = new Map(nodes.map((n) => [n, 0]));
    for (const c of available) {
      const n = this.topology.info(c)?.numa;
      if (n !== undefined) free.set(n, free.get(n)! + 1);
    }
    const reusableNodes = new Set([...reusable].map((c) => this.topology.info(c)?.numa ?? -1));
    let minAffinity = nodes.length;
    const hints: TopologyHint[] = [];
    for (let k = 1; k <= nodes.length; k++) {
      forEachCombination(nodes, k, (mask) => {
        if (mask.reduce((s, n) => s + total.get(n)!, 0) >= request && mask.length < minAffinity) minAffinity = mask.length;
        for (const n of reusableNodes) if (!mask.includes(n)) return false;
        const matching = reusable.size + mask.reduce((s, n) => s + free.get(n)!, 0);
        if (matching >= request) hints.push({ numaAffinity: mask, preferred: false });
        return false;
      });
    }
    for (const h of hints) {
      const bits = h.numaAffinity!;
      if (this.options.alignBySocket && this.isSocketAligned(bits, minAffinity)) h.preferred = true;
      else if (bits.length === minAffinity) h.preferred = true;
    }
    return hints;
  }

  private isSocketAligned(numas: number[], minAffinity: number): boolean {
    const perSocket = Math.trunc(this.topology.numNUMANodes / this.topology.numSockets);
    if (perSocket === 0) return false;
    const minSockets = Math.trunc((minAffinity + perSocket - 1) / perSocket);
    return this.topology.socketsOfNumaNodes(numas).length === minSockets;
  }
}
