/**
 * What the Node reports as capacity and allocatable, and where its pressure conditions come from.
 *
 * Seams (owned here, implemented by whoever knows): `NodeResourceSource` adds extended resources
 * and lowers allocatable (the container / device manager: reserved CPUs, devices from device
 * plugins); `NodeConditionSource` reports MemoryPressure / DiskPressure / PIDPressure (the
 * eviction manager). Without them the node reports the machine and no pressure.
 *
 * Machine capacity as upstream: cpu = online CPUs, memory = MemTotal, ephemeral-storage = size of
 * the filesystem holding the root dir, hugepages-<size> = preallocated pages × size, pods =
 * maxPods. Allocatable = capacity − kubeReserved − systemReserved − the hard eviction threshold
 * (memory.available, nodefs.available), and memory also minus preallocated hugepages; never < 0.
 */
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseQuantity } from '../config/kubeletconfig.js';

/** Resource name → quantity string, as the API writes them (`4`, `8130344Ki`, `110`). */
export type ResourceList = Record<string, string>;

export interface NodeResources {
  capacity: ResourceList;
  allocatable: ResourceList;
}

/** Adds to / adjusts the machine's resources (container manager, device manager). */
export interface NodeResourceSource {
  /** Called at every status computation with the machine's figures; returns the node's. */
  resources(machine: NodeResources): NodeResources;
}

export type PressureType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';

export interface PressureState {
  pressure: boolean;
  /** Why, when under pressure (e.g. the threshold met). */
  message?: string;
}

/** The eviction manager's view of node pressure. */
export interface NodeConditionSource {
  pressure(type: PressureType): PressureState;
}

export interface MachineFacts {
  cpus: number;
  memoryBytes: number;
  /** Bytes of the filesystem holding the kubelet's root dir. */
  ephemeralStorageBytes: number;
  /** Page size in bytes → preallocated pages. */
  hugepages: Record<number, number>;
}

export function readMachineFacts(rootDir: string): MachineFacts {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kib = /^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1];
  let storage = 0;
  try {
    const s = statfsSync(rootDir);
    storage = s.blocks * s.bsize;
  } catch {
    /* root dir not created yet: 0 until it is */
  }
  const hugepages: Record<number, number> = {};
  try {
    for (const d of readdirSync('/sys/kernel/mm/hugepages')) {
      const size = /^hugepages-(\d+)kB$/.exec(d)?.[1];
      if (!size) continue;
      const n = Number.parseInt(readFileSync(`/sys/kernel/mm/hugepages/${d}/nr_hugepages`, 'utf8'), 10);
      hugepages[Number(size) * 1024] = Number.isFinite(n) ? n : 0;
    }
  } catch {
    /* no hugetlbfs support */
  }
  return { cpus: availableParallelism(), memoryBytes: kib ? Number(kib) * 1024 : 0, ephemeralStorageBytes: storage, hugepages };
}

/** `hugepages-2Mi`, `hugepages-1Gi` (the API's names). */
export function hugepageResourceName(bytes: number): string {
  const units: [string, number][] = [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]];
  for (const [u, m] of units) if (bytes % m === 0) return `hugepages-${bytes / m}${u}`;
  return `hugepages-${bytes}`;
}

/** Bytes as the API prints memory: whole Ki when divisible (as cAdvisor's MemTotal is), else bytes. */
export function formatBytes(n: number): string {
  const v = Math.max(0, Math.floor(n));
  for (const [u, m] of [['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) if (v > 0 && v % m === 0) return `${v / m}${u}`;
  return String(v);
}

/** Millicores as the API prints CPU (`4`, `3500m`). */
export function formatCpu(millis: number): string {
  const v = Math.max(0, Math.round(millis));
  return v % 1000 === 0 ? String(v / 1000) : `${v}m`;
}

export interface AllocatableInput {
  maxPods: number;
  kubeReserved?: Record<string, string>;
  systemReserved?: Record<string, string>;
  evictionHard?: Record<string, string>;
}

/** A quantity as a number (cpu in millicores, others in units); 0 when absent or malformed. */
function amount(resource: string, q: string | undefined): number {
  if (!q) return 0;
  const n = parseQuantity(q) ?? 0;
  return resource === 'cpu' ? n * 1000 : n;
}

/** Hard-eviction threshold of `signal` (`100Mi` or `10%` of `capacity`) in bytes. */
function threshold(value: string | undefined, capacity: number): number {
  if (!value) return 0;
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(value.trim());
  if (pct) return (capacity * Number(pct[1])) / 100;
  return parseQuantity(value) ?? 0;
}

export function machineResources(m: MachineFacts, o: AllocatableInput): NodeResources {
  const capacity: ResourceList = {
    cpu: formatCpu(m.cpus * 1000),
    memory: formatBytes(m.memoryBytes),
    'ephemeral-storage': formatBytes(m.ephemeralStorageBytes),
    pods: String(o.maxPods),
  };
  let hugepageBytes = 0;
  for (const [size, pages] of Object.entries(m.hugepages)) {
    capacity[hugepageResourceName(Number(size))] = formatBytes(Number(size) * pages);
    hugepageBytes += Number(size) * pages;
  }
  const reserved = (r: string): number => amount(r, o.kubeReserved?.[r]) + amount(r, o.systemReserved?.[r]);
  const allocatable: ResourceList = { ...capacity };
  allocatable.cpu = formatCpu(m.cpus * 1000 - reserved('cpu'));
  allocatable.memory = formatBytes(m.memoryBytes - reserved('memory') - threshold(o.evictionHard?.['memory.available'], m.memoryBytes) - hugepageBytes);
  allocatable['ephemeral-storage'] = formatBytes(m.ephemeralStorageBytes - reserved('ephemeral-storage') - threshold(o.evictionHard?.['nodefs.available'], m.ephemeralStorageBytes));
  return { capacity, allocatable };
}

/** A NodeConditionSource over anything reporting node conditions (the eviction manager's `conditions()`). */
export function conditionSourceOf(m: { conditions(): { type: string; status: string; message: string }[] }): NodeConditionSource {
  return {
    pressure: (type) => {
      const c = m.conditions().find((x) => x.type === type);
      return c?.status === 'True' ? { pressure: true, message: c.message } : { pressure: false };
    },
  };
}

/** Capacity and allocatable as numbers (cpu in cores, memory / storage / hugepages in bytes, pods and devices in units): the container manager's. */
export interface ContainerManagerFigures {
  capacity(): Record<string, number>;
  allocatable(): Record<string, number>;
}

function formatResource(name: string, v: number): string {
  if (name === 'cpu') return formatCpu(v * 1000);
  if (name === 'memory' || name === 'ephemeral-storage' || name.startsWith('hugepages-')) return formatBytes(v);
  return String(Math.max(0, Math.floor(v)));
}

function formatList(l: Record<string, number>): ResourceList {
  return Object.fromEntries(Object.entries(l).map(([r, v]) => [r, formatResource(r, v)]));
}

/**
 * The Node's capacity and allocatable from the container manager (host/kubelet/cm/manager.ts):
 * one computation for the Node status and for admission, device plugin resources included.
 */
export function containerManagerSource(cm: ContainerManagerFigures): NodeResourceSource {
  return { resources: () => ({ capacity: formatList(cm.capacity()), allocatable: formatList(cm.allocatable()) }) };
}

/** Applies sources in order (each sees the previous one's result). */
export function chainResourceSources(sources: NodeResourceSource[]): NodeResourceSource {
  return { resources: (m) => sources.reduce((acc, s) => s.resources(acc), m) };
}
