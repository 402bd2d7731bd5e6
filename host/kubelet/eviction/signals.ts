/**
 * Eviction signals measured on the real machine, behind `SignalSource` so tests feed numbers.
 *
 * - memory.available = MemTotal − working set of the root cgroup, working set = usage −
 *   inactive_file (cgroup v1: memory.usage_in_bytes and memory.stat total_inactive_file; cgroup
 *   v2: memory.current and memory.stat inactive_file, or /proc/meminfo MemTotal − MemFree and
 *   Inactive(file) where the root has no memory.current).
 * - allocatableMemory.available = allocatable − working set of the pods cgroup (`podsCgroup`,
 *   e.g. `/kubepods`); allocatable is `allocatableBytes`, else the cgroup's own memory limit, else
 *   MemTotal. No observation when there is no pods cgroup (the kubelet then skips the signal).
 * - nodefs.* by statfs of the kubelet root dir, imagefs.* by statfs of containerd's image
 *   directory (the same filesystem as nodefs when not given): available = bavail × bsize,
 *   inodesFree = ffree.
 * - pid.available = min(kernel.pid_max, kernel.threads-max) − tasks (the total in /proc/loadavg).
 *
 * `podUsage()` gives per-pod usage for the ranking: memory working set and writable-layer bytes /
 * inodes from CRI ListContainerStats, log bytes / files under the pod's log directory, emptyDir
 * usage under `<rootDir>/pods/<uid>/volumes`, and the pod cgroup's pids.current when pods run
 * under `podsCgroup`.
 */
import { existsSync, readdirSync, readFileSync, lstatSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { CriRuntime } from '../../cri/api.js';
import type { Pod } from '../api/types.js';
import { Labels } from '../api/types.js';
import { podLogDir } from '../runtime/podspec.js';
import type { FsLayout, PodStats } from './rank.js';
import type { Signal } from './thresholds.js';

export interface Observation {
  available: number;
  capacity: number;
  /** When it was measured (ms since the epoch). */
  time: number;
}
export type Observations = Partial<Record<Signal, Observation>>;

/** The eviction manager's view of the machine. */
export interface SignalSource {
  observe(): Promise<Observations> | Observations;
  /** Where images and writable layers live (ranking and node-level reclaim depend on it). */
  layout(): FsLayout;
}

export interface MachineSignalOptions {
  /** nodefs: the kubelet's root directory. */
  rootDir: string;
  /** imagefs: containerd's root (where image layers live); nodefs when absent. */
  imageFsDir?: string;
  /** The pods cgroup, relative to the hierarchy root (e.g. `/kubepods`). */
  podsCgroup?: string;
  /** Node allocatable memory (capacity − reserved); default the pods cgroup limit, else MemTotal. */
  allocatableBytes?: number;
  cgroupRoot?: string;
  procDir?: string;
  now?: () => number;
}

const NO_LIMIT = 2 ** 62; // cgroup v1 "unlimited" is 9223372036854771712

function readNum(path: string): number | undefined {
  try {
    const t = readFileSync(path, 'utf8').trim();
    if (t === 'max') return undefined;
    const n = Number(t);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readKeyed(path: string): Map<string, number> {
  const m = new Map<string, number>();
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [k, v] = line.split(/:?\s+/);
      if (k && v !== undefined) m.set(k, Number(v));
    }
  } catch {
    /* absent */
  }
  return m;
}

/** /proc/meminfo in bytes. */
function meminfo(procDir: string): Map<string, number> {
  const m = readKeyed(join(procDir, 'meminfo'));
  for (const [k, v] of m) m.set(k, v * 1024);
  return m;
}

export class MachineSignals implements SignalSource {
  private readonly cg: string;
  private readonly proc: string;
  private readonly now: () => number;
  readonly cgroupV2: boolean;

  constructor(private readonly o: MachineSignalOptions) {
    this.cg = o.cgroupRoot ?? '/sys/fs/cgroup';
    this.proc = o.procDir ?? '/proc';
    this.now = o.now ?? Date.now;
    this.cgroupV2 = existsSync(join(this.cg, 'cgroup.controllers'));
  }

  /** Directory of a cgroup's memory controller. */
  memoryDir(cgroup: string): string {
    return this.cgroupV2 ? join(this.cg, cgroup) : join(this.cg, 'memory', cgroup);
  }

  /** Working set (usage − inactive_file) and limit of a cgroup; undefined when it does not exist. */
  cgroupMemory(cgroup: string): { workingSet: number; limit?: number } | undefined {
    const dir = this.memoryDir(cgroup);
    if (!existsSync(dir)) return undefined;
    const stat = readKeyed(join(dir, 'memory.stat'));
    let usage: number | undefined;
    let inactive: number | undefined;
    let limit: number | undefined;
    if (this.cgroupV2) {
      usage = readNum(join(dir, 'memory.current'));
      inactive = stat.get('inactive_file');
      limit = readNum(join(dir, 'memory.max'));
    } else {
      usage = readNum(join(dir, 'memory.usage_in_bytes'));
      inactive = stat.get('total_inactive_file');
      limit = readNum(join(dir, 'memory.limit_in_bytes'));
    }
    if (usage === undefined) {
      if (cgroup !== '/' && cgroup !== '') return undefined;
      const mi = meminfo(this.proc); // cgroup v2 root: no memory.current
      usage = (mi.get('MemTotal') ?? 0) - (mi.get('MemFree') ?? 0);
      inactive ??= mi.get('Inactive(file)');
    }
    const workingSet = Math.max(0, usage - (inactive ?? 0));
    return { workingSet, ...(limit !== undefined && limit < NO_LIMIT ? { limit } : {}) };
  }

  observe(): Observations {
    const time = this.now();
    const out: Observations = {};
    const capacity = meminfo(this.proc).get('MemTotal');
    const root = this.cgroupMemory('/');
    if (capacity !== undefined && root) out['memory.available'] = { available: capacity - root.workingSet, capacity, time };
    if (this.o.podsCgroup) {
      const pods = this.cgroupMemory(this.o.podsCgroup);
      const alloc = this.o.allocatableBytes ?? pods?.limit ?? capacity;
      if (pods && alloc !== undefined) out['allocatableMemory.available'] = { available: alloc - pods.workingSet, capacity: alloc, time };
    }
    const nodefs = fsStats(this.o.rootDir);
    const imagefs = this.o.imageFsDir ? fsStats(this.o.imageFsDir) : nodefs;
    if (nodefs) {
      out['nodefs.available'] = { available: nodefs.bytesFree, capacity: nodefs.bytes, time };
      out['nodefs.inodesFree'] = { available: nodefs.inodesFree, capacity: nodefs.inodes, time };
    }
    if (imagefs) {
      out['imagefs.available'] = { available: imagefs.bytesFree, capacity: imagefs.bytes, time };
      out['imagefs.inodesFree'] = { available: imagefs.inodesFree, capacity: imagefs.inodes, time };
    }
    const pidMax = Math.min(readNum(join(this.proc, 'sys/kernel/pid_max')) ?? Infinity, readNum(join(this.proc, 'sys/kernel/threads-max')) ?? Infinity);
    const tasks = runningTasks(this.proc);
    if (Number.isFinite(pidMax) && tasks !== undefined) out['pid.available'] = { available: pidMax - tasks, capacity: pidMax, time };
    return out;
  }

  layout(): FsLayout {
    if (!this.o.imageFsDir) return 'shared';
    try {
      return statSync(this.o.rootDir).dev === statSync(this.o.imageFsDir).dev ? 'shared' : 'imagefs';
    } catch {
      return 'shared';
    }
  }

  /** pids.current of a pod's cgroup (pods run under `<podsCgroup>/pod<uid>`), when known. */
  podProcesses(uid: string): number | undefined {
    if (!this.o.podsCgroup) return undefined;
    const rel = join(this.o.podsCgroup, `pod${uid}`);
    return readNum(this.cgroupV2 ? join(this.cg, rel, 'pids.current') : join(this.cg, 'pids', rel, 'pids.current'));
  }
}

function fsStats(dir: string): { bytes: number; bytesFree: number; inodes: number; inodesFree: number } | undefined {
  try {
    const s = statfsSync(dir);
    return { bytes: s.blocks * s.bsize, bytesFree: s.bavail * s.bsize, inodes: s.files, inodesFree: s.ffree };
  } catch {
    return undefined;
  }
}

/** Tasks on the machine: the total after the slash in /proc/loadavg's fourth field. */
function runningTasks(procDir: string): number | undefined {
  try {
    const f = readFileSync(join(procDir, 'loadavg'), 'utf8').split(/\s+/)[3];
    const n = Number(f?.split('/')[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes and entries under a directory (not following symlinks); zeros when it is absent. */
export function du(dir: string): { bytes: number; inodes: number } {
  let bytes = 0;
  let inodes = 0;
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      try {
        const st = lstatSync(p);
        inodes++;
        bytes += st.blocks * 512;
        if (st.isDirectory()) walk(p);
      } catch {
        /* raced with removal */
      }
    }
  };
  walk(dir);
  return { bytes, inodes };
}

export interface PodUsageOptions {
  cri: Pick<CriRuntime, 'listContainerStats'>;
  podLogsDir: string;
  /** The kubelet root dir (emptyDir volumes live under <rootDir>/pods/<uid>/volumes). */
  rootDir: string;
  machine?: MachineSignals;
}

/** Per-pod usage keyed by pod UID; pods with no running container have no entry (no stats). */
export async function podUsage(pods: Pod[], o: PodUsageOptions): Promise<Map<string, PodStats>> {
  const out = new Map<string, PodStats>();
  if (!o.cri.listContainerStats) return out;
  const stats = await o.cri.listContainerStats();
  const byUid = new Map<string, typeof stats>();
  for (const s of stats) {
    const uid = s.attributes?.labels[Labels.podUid];
    if (uid) byUid.set(uid, [...(byUid.get(uid) ?? []), s]);
  }
  for (const pod of pods) {
    const uid = pod.metadata.uid!;
    const cs = byUid.get(uid);
    if (!cs?.length) continue;
    let memory = 0;
    let rootfs = 0;
    let rootfsInodes = 0;
    const containers: NonNullable<PodStats['containers']> = {};
    const logDir = podLogDir(o.podLogsDir, pod);
    for (const c of cs) {
      const ws = Number(c.memory?.workingSetBytes?.value ?? 0n);
      const layer = Number(c.writableLayer?.usedBytes?.value ?? 0n);
      memory += ws;
      rootfs += layer;
      rootfsInodes += Number(c.writableLayer?.inodesUsed?.value ?? 0n);
      const name = c.attributes?.metadata?.name;
      if (name) containers[name] = { memoryWorkingSet: ws, rootfsUsed: layer, logsUsed: du(join(logDir, name)).bytes };
    }
    const logs = du(logDir);
    const volumes: Record<string, number> = {};
    const volumeInodes: Record<string, number> = {};
    for (const v of pod.spec.volumes ?? []) {
      if (!v.emptyDir || v.emptyDir.medium === 'Memory') continue;
      const u = du(join(o.rootDir, 'pods', uid, 'volumes', 'kubernetes.io~empty-dir', v.name));
      volumes[v.name] = u.bytes;
      volumeInodes[v.name] = u.inodes;
    }
    const processes = o.machine?.podProcesses(uid);
    out.set(uid, {
      memoryWorkingSet: memory,
      rootfsUsed: rootfs,
      rootfsInodesUsed: rootfsInodes,
      logsUsed: logs.bytes,
      logsInodesUsed: logs.inodes,
      perLocalVolumeUsed: volumes,
      perLocalVolumeInodesUsed: volumeInodes,
      ...(processes !== undefined ? { processCount: processes } : {}),
      containers,
    });
  }
  return out;
}
