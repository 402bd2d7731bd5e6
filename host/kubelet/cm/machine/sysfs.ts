/**
 * The machine topology read from Linux sysfs (what cAdvisor gives the upstream kubelet):
 *
 *   <root>/devices/system/cpu/online                                online CPUs (list syntax)
 *   <root>/devices/system/cpu/cpuN/topology/physical_package_id     socket
 *   <root>/devices/system/cpu/cpuN/topology/core_id                 core, unique only per package
 *   <root>/devices/system/cpu/cpuN/cache/index3/id                  L3 ("uncore") cache, when present
 *   <root>/devices/system/node/nodeN/{cpulist,distance,meminfo}     NUMA nodes
 *
 * A core is numbered by the lowest CPU id of its threads (the kubelet's convention), so core ids
 * are unique across the machine. Without node directories (a kernel without NUMA) every CPU is on
 * node 0. `root` is a parameter so tests build a fake tree in a temporary directory.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import type { CpuInfo, MachineTopology } from '../types.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import { defaultDistances, validateMachineTopology } from './topology.js';

export interface SysfsOptions {
  /** sysfs mount point; default `/sys`. */
  root?: string;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new CocoletError(ErrorCode.Unavailable, `machine topology: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function readInt(path: string): number {
  const t = readText(path);
  if (!/^-?\d+$/.test(t)) throw new CocoletError(ErrorCode.Unavailable, `machine topology: ${path} holds ${JSON.stringify(t)}, not an integer`);
  return Number(t);
}

function readList(path: string): CpuSet {
  try {
    return CpuSet.parse(readText(path));
  } catch (e) {
    if (e instanceof CocoletError && e.code === ErrorCode.Unavailable) throw e;
    throw new CocoletError(ErrorCode.Unavailable, `machine topology: ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Bytes of `Node N MemTotal: X kB` in a node's meminfo, undefined if absent. */
export function parseNodeMemTotal(meminfo: string): number | undefined {
  const m = /^Node\s+\d+\s+MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

export function readMachineTopology(opts: SysfsOptions = {}): MachineTopology {
  const root = opts.root ?? '/sys';
  const cpuDir = join(root, 'devices/system/cpu');
  const nodeDir = join(root, 'devices/system/node');
  const online = readList(join(cpuDir, 'online'));

  const numaOf = new Map<number, number>();
  let numaNodes: number[] = [];
  const memoryPerNuma: Record<number, number> = {};
  const nodeNames = existsSync(nodeDir) ? readdirSync(nodeDir).filter((n) => /^node\d+$/.test(n)) : [];
  for (const name of nodeNames) {
    const id = Number(name.slice(4));
    numaNodes.push(id);
    for (const c of readList(join(nodeDir, name, 'cpulist'))) numaOf.set(c, id);
    const mi = join(nodeDir, name, 'meminfo');
    if (existsSync(mi)) {
      const bytes = parseNodeMemTotal(readFileSync(mi, 'utf8'));
      if (bytes !== undefined) memoryPerNuma[id] = bytes;
    }
  }
  numaNodes.sort((a, b) => a - b);
  if (numaNodes.length === 0) numaNodes = [0];

  // Threads of one core share (package, core_id); the core's id is its lowest CPU.
  const raw: { cpu: number; socket: number; coreKey: string; numa: number; uncore?: number }[] = [];
  for (const cpu of online) {
    const t = join(cpuDir, `cpu${cpu}`, 'topology');
    const socket = readInt(join(t, 'physical_package_id'));
    const coreId = readInt(join(t, 'core_id'));
    const numa = numaOf.get(cpu) ?? (nodeNames.length === 0 ? 0 : undefined);
    if (numa === undefined) throw new CocoletError(ErrorCode.Unavailable, `machine topology: online cpu ${cpu} is in no NUMA node's cpulist under ${nodeDir}`);
    const l3 = join(cpuDir, `cpu${cpu}`, 'cache/index3/id');
    const e: (typeof raw)[number] = { cpu, socket: Math.max(socket, 0), coreKey: `${socket}/${numa}/${coreId}`, numa };
    if (existsSync(l3)) e.uncore = readInt(l3);
    raw.push(e);
  }
  const coreNumber = new Map<string, number>();
  for (const r of raw) coreNumber.set(r.coreKey, Math.min(coreNumber.get(r.coreKey) ?? Infinity, r.cpu));
  const cpus: CpuInfo[] = raw.map((r) => {
    const c: CpuInfo = { cpu: r.cpu, core: coreNumber.get(r.coreKey)!, socket: r.socket, numa: r.numa };
    if (r.uncore !== undefined) c.uncoreCache = r.uncore;
    return c;
  });

  let distances = defaultDistances(numaNodes);
  if (nodeNames.length > 0) {
    distances = {};
    for (const n of numaNodes) {
      const path = join(nodeDir, `node${n}`, 'distance');
      const row = readText(path).split(/\s+/).map(Number);
      if (row.length !== numaNodes.length || !row.every((x) => Number.isInteger(x) && x > 0)) {
        throw new CocoletError(ErrorCode.Unavailable, `machine topology: ${path} lists ${row.length} distances for ${numaNodes.length} NUMA nodes`);
      }
      distances[n] = row;
    }
  }
  const t: MachineTopology = { cpus, numaNodes, distances };
  if (Object.keys(memoryPerNuma).length > 0) t.memoryPerNuma = memoryPerNuma;
  validateMachineTopology(t);
  return t;
}

/** `hugepages-2Mi`, `hugepages-1Gi` for a page size in KiB (the API's names). */
function hugepageName(kib: number): string {
  if (kib % (1024 * 1024) === 0) return `hugepages-${kib / (1024 * 1024)}Gi`;
  if (kib % 1024 === 0) return `hugepages-${kib / 1024}Mi`;
  return `hugepages-${kib}Ki`;
}

/**
 * Preallocated hugepages per NUMA node, node → `hugepages-<size>` → bytes
 * (`<root>/devices/system/node/nodeN/hugepages/hugepages-<kB>kB/nr_hugepages`; a size with 0
 * pages is listed with 0, as cAdvisor reports it). {} without NUMA directories.
 */
export function readHugepagesPerNuma(opts: SysfsOptions = {}): Record<number, Record<string, number>> {
  const nodeDir = join(opts.root ?? '/sys', 'devices/system/node');
  const out: Record<number, Record<string, number>> = {};
  let nodes: string[] = [];
  try {
    nodes = readdirSync(nodeDir).filter((n) => /^node\d+$/.test(n));
  } catch {
    return out;
  }
  for (const n of nodes) {
    const id = Number(n.slice(4));
    const dir = join(nodeDir, n, 'hugepages');
    if (!existsSync(dir)) continue;
    for (const size of readdirSync(dir)) {
      const kib = /^hugepages-(\d+)kB$/.exec(size)?.[1];
      if (!kib) continue;
      (out[id] ??= {})[hugepageName(Number(kib))] = readInt(join(dir, size, 'nr_hugepages')) * Number(kib) * 1024;
    }
  }
  return out;
}
