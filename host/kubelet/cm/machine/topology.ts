/**
 * The machine topology as the CPU allocator sees it (upstream `cpumanager/topology.CPUTopology`):
 * per CPU its core, socket and NUMA node, and the counts and groupings the allocator asks for.
 * Built from a `MachineTopology` (the resource managers' seam, read from sysfs or a what-if file).
 *
 * Core ids follow the kubelet's convention: unique across the machine (the kubelet uses the lowest
 * CPU id of the core's threads), so two CPUs share a core iff they have the same core id.
 */
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import type { CpuInfo, MachineTopology } from '../types.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';

function group(cpus: CpuInfo[], key: (c: CpuInfo) => number): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const c of cpus) {
    const k = key(c);
    const l = m.get(k);
    if (l) l.push(c.cpu);
    else m.set(k, [c.cpu]);
  }
  for (const l of m.values()) l.sort((a, b) => a - b);
  return m;
}

export class CpuTopology {
  readonly numCPUs: number;
  readonly numCores: number;
  readonly numSockets: number;
  readonly numNUMANodes: number;
  readonly numUncoreCaches: number;
  private readonly byCpu = new Map<number, CpuInfo>();
  private readonly coreCpus: Map<number, number[]>;
  private readonly socketCpus: Map<number, number[]>;
  private readonly numaCpus: Map<number, number[]>;
  readonly all: CpuSet;

  constructor(readonly machine: MachineTopology) {
    validateMachineTopology(machine);
    for (const c of machine.cpus) this.byCpu.set(c.cpu, c);
    this.coreCpus = group(machine.cpus, (c) => c.core);
    this.socketCpus = group(machine.cpus, (c) => c.socket);
    this.numaCpus = group(machine.cpus, (c) => c.numa);
    this.numCPUs = machine.cpus.length;
    this.numCores = this.coreCpus.size;
    this.numSockets = this.socketCpus.size;
    this.numNUMANodes = this.numaCpus.size;
    this.numUncoreCaches = new Set(machine.cpus.map((c) => c.uncoreCache ?? c.socket)).size;
    this.all = CpuSet.from(this.byCpu.keys());
  }

  /** CPUs per core (integer division, as upstream; 0 on an empty machine). */
  get cpusPerCore(): number {
    return this.numCores === 0 ? 0 : Math.trunc(this.numCPUs / this.numCores);
  }

  get cpusPerSocket(): number {
    return this.numSockets === 0 ? 0 : Math.trunc(this.numCPUs / this.numSockets);
  }

  info(cpu: number): CpuInfo | undefined {
    return this.byCpu.get(cpu);
  }

  /** NUMA node ids that have CPUs, ascending. */
  numaNodes(): number[] {
    return [...this.numaCpus.keys()].sort((a, b) => a - b);
  }

  sockets(): number[] {
    return [...this.socketCpus.keys()].sort((a, b) => a - b);
  }

  cpusInCore(core: number): readonly number[] {
    return this.coreCpus.get(core) ?? [];
  }

  cpusInSocket(socket: number): readonly number[] {
    return this.socketCpus.get(socket) ?? [];
  }

  cpusInNuma(numa: number): readonly number[] {
    return this.numaCpus.get(numa) ?? [];
  }

  cpusInNumaNodes(numas: Iterable<number>): CpuSet {
    const out: number[] = [];
    for (const n of numas) out.push(...this.cpusInNuma(n));
    return CpuSet.from(out);
  }

  cpusInSockets(sockets: Iterable<number>): CpuSet {
    const out: number[] = [];
    for (const s of sockets) out.push(...this.cpusInSocket(s));
    return CpuSet.from(out);
  }

  /** Sockets holding CPUs of the given NUMA nodes, ascending. */
  socketsOfNumaNodes(numas: Iterable<number>): number[] {
    const want = new Set(numas);
    return [...new Set(this.machine.cpus.filter((c) => want.has(c.numa)).map((c) => c.socket))].sort((a, b) => a - b);
  }

  /** All hyperthread siblings of the given CPUs (the CPUs themselves included). */
  siblingsOf(cpus: CpuSet): CpuSet {
    const out: number[] = [];
    for (const c of cpus) {
      const i = this.byCpu.get(c);
      if (i) out.push(...this.cpusInCore(i.core));
    }
    return CpuSet.from(out);
  }
}

/**
 * Checks what the allocator relies on and names the first problem: unique CPU ids, non-negative
 * integer ids, and every CPU of a core on one socket and one NUMA node (core ids unique across the
 * machine).
 */
export function validateMachineTopology(m: MachineTopology): void {
  const bad = (msg: string): never => {
    throw new CocoletError(ErrorCode.InvalidArgument, `machine topology: ${msg}`);
  };
  if (!Array.isArray(m.cpus)) bad('cpus must be a list');
  const seen = new Map<number, CpuInfo>();
  const coreHome = new Map<number, CpuInfo>();
  m.cpus.forEach((c, i) => {
    for (const k of ['cpu', 'core', 'socket', 'numa'] as const) {
      const v = c[k];
      if (!Number.isInteger(v) || v < 0) bad(`cpus[${i}].${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    if (c.uncoreCache !== undefined && (!Number.isInteger(c.uncoreCache) || c.uncoreCache < 0)) {
      bad(`cpus[${i}].uncoreCache must be a non-negative integer, got ${JSON.stringify(c.uncoreCache)}`);
    }
    if (seen.has(c.cpu)) bad(`cpu ${c.cpu} is listed twice`);
    seen.set(c.cpu, c);
    const home = coreHome.get(c.core);
    if (!home) coreHome.set(c.core, c);
    else if (home.socket !== c.socket || home.numa !== c.numa) {
      bad(
        `cpus ${home.cpu} and ${c.cpu} share core ${c.core} but sit on socket ${home.socket}/NUMA ${home.numa} and socket ${c.socket}/NUMA ${c.numa}; ` +
          'core ids must be unique across the machine (the kubelet numbers a core by the lowest CPU id of its threads)',
      );
    }
  });
}

/** Distances Linux reports when the firmware gives none: 10 to itself, 20 to every other node. */
export function defaultDistances(nodes: number[]): Record<number, number[]> {
  const d: Record<number, number[]> = {};
  for (const n of nodes) d[n] = nodes.map((o) => (o === n ? 10 : 20));
  return d;
}

/**
 * A topology from a what-if document: `{"cpus": [{"cpu", "core", "socket", "numa", "uncoreCache"?}],
 * "numaNodes"?: [ids], "distances"?: {"<node>": [..]}, "memoryPerNuma"?: {"<node>": bytes}}`.
 * Missing NUMA nodes come from the CPUs; missing distances are Linux's defaults (10 local, 20 remote).
 */
export function machineTopologyFromJson(doc: unknown, what = 'topology'): MachineTopology {
  const bad = (msg: string): never => {
    throw new CocoletError(ErrorCode.InvalidArgument, `${what}: ${msg}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) bad('must be an object with a "cpus" list');
  const o = doc as Record<string, unknown>;
  if (!Array.isArray(o.cpus)) bad('"cpus" must be a list of {"cpu", "core", "socket", "numa"}');
  const cpus: CpuInfo[] = (o.cpus as unknown[]).map((e, i) => {
    if (typeof e !== 'object' || e === null) return bad(`cpus[${i}] must be an object {"cpu", "core", "socket", "numa"}`);
    const r = e as Record<string, unknown>;
    for (const k of Object.keys(r)) {
      if (!['cpu', 'core', 'socket', 'numa', 'uncoreCache'].includes(k)) bad(`cpus[${i}] has an unknown field ${JSON.stringify(k)}`);
    }
    for (const k of ['cpu', 'core', 'socket', 'numa']) if (!(k in r)) bad(`cpus[${i}] lacks "${k}"`);
    const c: CpuInfo = { cpu: r.cpu as number, core: r.core as number, socket: r.socket as number, numa: r.numa as number };
    if (r.uncoreCache !== undefined) c.uncoreCache = r.uncoreCache as number;
    return c;
  });
  const fromCpus = [...new Set(cpus.map((c) => c.numa))].sort((a, b) => a - b);
  let numaNodes = fromCpus;
  if (o.numaNodes !== undefined) {
    if (!Array.isArray(o.numaNodes) || !o.numaNodes.every((n) => Number.isInteger(n) && (n as number) >= 0)) bad('"numaNodes" must be a list of node ids');
    numaNodes = [...new Set([...(o.numaNodes as number[]), ...fromCpus])].sort((a, b) => a - b);
  }
  let distances = defaultDistances(numaNodes);
  if (o.distances !== undefined) {
    if (typeof o.distances !== 'object' || o.distances === null) bad('"distances" must map node ids to lists of distances');
    distances = {};
    for (const n of numaNodes) {
      const row = (o.distances as Record<string, unknown>)[String(n)];
      if (!Array.isArray(row) || row.length !== numaNodes.length || !row.every((x) => Number.isInteger(x) && (x as number) > 0)) {
        bad(`distances["${n}"] must list ${numaNodes.length} positive integers (one per NUMA node, ascending node order)`);
      }
      distances[n] = row as number[];
    }
  }
  const t: MachineTopology = { cpus, numaNodes, distances };
  if (o.memoryPerNuma !== undefined) {
    const mem: Record<number, number> = {};
    for (const [k, v] of Object.entries(o.memoryPerNuma as Record<string, unknown>)) {
      if (!/^\d+$/.test(k) || typeof v !== 'number' || v < 0) bad(`memoryPerNuma["${k}"] must be a byte count of a NUMA node id`);
      mem[Number(k)] = v as number;
    }
    t.memoryPerNuma = mem;
  }
  validateMachineTopology(t);
  return t;
}
