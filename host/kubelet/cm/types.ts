// The seams between the kubelet's resource managers (CPU, memory, device) and the topology
// manager that aligns them. The shapes follow the upstream kubelet's (cm/topologymanager), so
// that decisions can be compared one for one; the names are ours.
import type { Container, Pod } from '../api/types.js';

/** One logical CPU of the machine, as sysfs (or a what-if file) describes it. */
export interface CpuInfo {
  cpu: number;
  core: number; // physical core id, unique across the machine (not per socket)
  socket: number;
  numa: number;
  /** L3 / uncore cache id, when known (prefer-align-cpus-by-uncorecache). */
  uncoreCache?: number;
}

/** What the resource managers know of the machine. */
export interface MachineTopology {
  cpus: CpuInfo[];
  /** NUMA node ids, ascending. */
  numaNodes: number[];
  /** distances[node][i] = distance from `node` to numaNodes[i] (sysfs nodeN/distance order). */
  distances: Record<number, number[]>;
  /** Memory per NUMA node in bytes, when known. */
  memoryPerNuma?: Record<number, number>;
}

/**
 * A NUMA affinity hint. `numaAffinity` null means "any NUMA node" (the kubelet's nil bitmask).
 * Ids are NUMA node ids, ascending, without duplicates.
 */
export interface TopologyHint {
  numaAffinity: number[] | null;
  preferred: boolean;
}

/**
 * resource name -> hints. A provider that has no opinion returns null (or {}), a resource mapped
 * to null means "no preference", a resource mapped to [] means "cannot be satisfied anywhere".
 */
export type ResourceHints = Record<string, TopologyHint[] | null> | null;

/** A resource manager the topology manager consults (CPU, memory, device managers). */
export interface HintProvider {
  readonly name: string;
  getTopologyHints(pod: Pod, container: Container): ResourceHints;
  getPodTopologyHints(pod: Pod): ResourceHints;
  /**
   * Allocates for the container, given the merged affinity the topology manager stored for it
   * (null = none). Throws an AdmissionError to refuse.
   */
  allocate(pod: Pod, container: Container, affinity: TopologyHint | null): void | Promise<void>;
  /** Frees what the container held (container removed or pod gone). */
  removeContainer(podUid: string, containerName: string): void | Promise<void>;
}

/** A refusal at admission, with the upstream reason string (e.g. TopologyAffinityError). */
export class AdmissionError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdmissionError';
  }
}
