/**
 * What the kubelet's HTTPS API answers, as pure functions over the kubelet's state: the `/pods`
 * PodList, `/containerLogs` path and query parsing with the tail / byte-limit logic, and the
 * `/stats/summary` document (statsapi Summary: node CPU and memory from /proc, pods and containers
 * from CRI ListContainerStats, running containers only).
 *
 * API: `podList(records)`, `parseLogsPath(path)`, `parseLogQuery(params)`, `renderLogs(entries, q)`,
 * `procNodeStats(procDir)`, `summary({ node, pods, stats, nodeStats, prev })`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStats } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import { Labels, type Pod } from '../api/types.js';
import type { LogEntry } from '../logs/crilog.js';
import type { PodRecord } from '../status/manager.js';

/** A v1 PodList of the pods as this kubelet sees them, with their status. */
export function podList(records: PodRecord[]): { kind: 'PodList'; apiVersion: 'v1'; metadata: Record<string, never>; items: Pod[] } {
  const items = records.map((r) => ({ ...r.pod, apiVersion: 'v1', kind: 'Pod', status: r.status }));
  items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  return { kind: 'PodList', apiVersion: 'v1', metadata: {}, items };
}

/** An answer other than 200 with its reason: 400 by default (bad request), or the status given. */
export class HttpError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** `/containerLogs/{namespace}/{pod}/{container}` → its three parts (URL-decoded). */
export function parseLogsPath(path: string): { namespace: string; pod: string; container: string } {
  const parts = path.split('/').slice(2);
  if (parts.length !== 3 || parts.some((p) => !p)) throw new HttpError(`expected /containerLogs/{namespace}/{pod}/{container}, got ${path}`, 404);
  const [namespace, pod, container] = parts.map((p) => decodeURIComponent(p)) as [string, string, string];
  return { namespace, pod, container };
}

export interface LogQuery {
  tailLines?: number;
  limitBytes?: number;
  timestamps: boolean;
  previous: boolean;
  /** Keep streaming as the container writes, until it exits. */
  follow?: true;
  /** Only entries at or after this time (ms since the epoch), from sinceSeconds or sinceTime. */
  sinceMs?: number;
}

function bool(q: URLSearchParams, k: string): boolean {
  const v = q.get(k);
  if (v === null) return false;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new HttpError(`${k}: must be true or false, got ${JSON.stringify(v)}`);
}

function int(q: URLSearchParams, k: string, min: number): number | undefined {
  const v = q.get(k);
  if (v === null) return undefined;
  if (!/^-?\d+$/.test(v)) throw new HttpError(`${k}: must be an integer, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min) throw new HttpError(`${k}: must be ${min === 0 ? 'zero or more' : `at least ${min}`}, got ${n}`);
  return n;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** tailLines (≥ 0), limitBytes (≥ 1), timestamps, previous, follow, sinceSeconds (≥ 1) or sinceTime (RFC 3339). */
export function parseLogQuery(q: URLSearchParams, now = Date.now()): LogQuery {
  const tailLines = int(q, 'tailLines', 0);
  const limitBytes = int(q, 'limitBytes', 1);
  const sinceSeconds = int(q, 'sinceSeconds', 1);
  const sinceTime = q.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTime !== null) throw new HttpError('sinceSeconds and sinceTime: at most one may be given');
  let sinceMs: number | undefined;
  if (sinceSeconds !== undefined) sinceMs = now - sinceSeconds * 1000;
  if (sinceTime !== null) {
    if (!RFC3339.test(sinceTime) || Number.isNaN(Date.parse(sinceTime))) throw new HttpError(`sinceTime: must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got ${JSON.stringify(sinceTime)}`);
    sinceMs = Date.parse(sinceTime);
  }
  return {
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
    timestamps: bool(q, 'timestamps'),
    previous: bool(q, 'previous'),
    ...(bool(q, 'follow') ? { follow: true as const } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
  };
}

/** Whether an entry (RFC 3339 nano time) is at or after sinceMs (entries with an unreadable time are kept). */
export function sinceKeeps(time: string, sinceMs: number | undefined): boolean {
  if (sinceMs === undefined) return true;
  const t = Date.parse(time);
  return Number.isNaN(t) || t >= sinceMs;
}

/** The log text: entries since sinceMs, the last tailLines of them, each with its timestamp if asked, cut at limitBytes bytes. */
export function renderLogs(entries: LogEntry[], q: LogQuery): Buffer {
  const recent = q.sinceMs !== undefined ? entries.filter((e) => sinceKeeps(e.time, q.sinceMs)) : entries;
  const chosen = q.tailLines !== undefined ? (q.tailLines === 0 ? [] : recent.slice(-q.tailLines)) : recent;
  const text = Buffer.from(chosen.map((e) => (q.timestamps ? `${e.time} ${e.text}\n` : `${e.text}\n`)).join(''));
  return q.limitBytes !== undefined && text.length > q.limitBytes ? text.subarray(0, q.limitBytes) : text;
}

// ---- /stats/summary ----

export interface NodeProcStats {
  /** ns since epoch */
  time: number;
  usageCoreNanoSeconds: number;
  memTotal: number;
  memAvailable: number;
  memFree: number;
  bootTime: string;
}

/** Node CPU (busy jiffies of /proc/stat × 10 ms) and memory (/proc/meminfo). */
export function procNodeStats(procDir = '/proc', now = Date.now()): NodeProcStats {
  const stat = readFileSync(join(procDir, 'stat'), 'utf8');
  const cpu = stat.split('\n').find((l) => l.startsWith('cpu '))!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  const busy = cpu.slice(0, 8).reduce((s, v, i) => (i === 3 || i === 4 ? s : s + v), 0);
  const btime = Number(/^btime (\d+)/m.exec(stat)?.[1] ?? 0);
  const mem: Record<string, number> = {};
  for (const l of readFileSync(join(procDir, 'meminfo'), 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)(?: kB)?/.exec(l);
    if (m) mem[m[1]!] = Number(m[2]) * 1024;
  }
  return {
    time: now * 1e6,
    usageCoreNanoSeconds: busy * 1e7,
    memTotal: mem.MemTotal ?? 0,
    memAvailable: mem.MemAvailable ?? mem.MemFree ?? 0,
    memFree: mem.MemFree ?? 0,
    bootTime: new Date(btime * 1000).toISOString(),
  };
}

interface CpuStats {
  time: string;
  usageCoreNanoSeconds: number;
  usageNanoCores?: number;
}
interface MemStats {
  time: string;
  workingSetBytes: number;
  usageBytes?: number;
  availableBytes?: number;
  rssBytes?: number;
}
export interface ContainerSummary {
  name: string;
  startTime?: string;
  cpu: CpuStats;
  memory: MemStats;
}
export interface PodSummary {
  podRef: { name: string; namespace: string; uid: string };
  startTime?: string;
  containers: ContainerSummary[];
  cpu: CpuStats;
  memory: MemStats;
}
export interface Summary {
  node: { nodeName: string; startTime: string; cpu: CpuStats; memory: MemStats };
  pods: PodSummary[];
}

const iso = (ns: bigint | number): string => new Date(Number(ns) / 1e6).toISOString();
const num = (v: { value: bigint } | undefined): number | undefined => (v === undefined ? undefined : Number(v.value));

export interface SummaryInput {
  nodeName: string;
  node: NodeProcStats;
  /** The previous node sample, for usageNanoCores. */
  prevNode?: NodeProcStats;
  pods: PodRecord[];
  stats: ContainerStats[];
}

export function summary(i: SummaryInput): Summary {
  const n = i.node;
  const dt = i.prevNode ? n.time - i.prevNode.time : 0;
  const nodeCpu: CpuStats = {
    time: iso(n.time),
    usageCoreNanoSeconds: n.usageCoreNanoSeconds,
    ...(dt > 0 ? { usageNanoCores: Math.max(0, Math.round(((n.usageCoreNanoSeconds - i.prevNode!.usageCoreNanoSeconds) / dt) * 1e9)) } : {}),
  };
  const byUid = new Map<string, ContainerStats[]>();
  for (const s of i.stats) {
    const uid = s.attributes?.labels[Labels.podUid];
    if (!uid) continue;
    byUid.set(uid, [...(byUid.get(uid) ?? []), s]);
  }
  const pods: PodSummary[] = [];
  for (const r of i.pods) {
    const uid = r.pod.metadata.uid!;
    const statuses = [...(r.status.initContainerStatuses ?? []), ...(r.status.containerStatuses ?? [])];
    const starts = new Map(statuses.map((c) => [c.name, c.state.running?.startedAt]));
    // Only the running instance of each container (the runtime also reports exited ones, as zeros).
    const running = new Set(statuses.filter((c) => c.state.running && c.containerID).map((c) => c.containerID!.replace(/^[^:]+:\/\//, '')));
    const containers: ContainerSummary[] = [];
    for (const s of byUid.get(uid) ?? []) {
      if (!running.has(s.attributes?.id ?? '')) continue;
      const name = s.attributes?.metadata?.name ?? s.attributes?.labels[Labels.containerName] ?? '';
      const started = starts.get(name);
      const cpuTime = s.cpu?.timestamp ? iso(s.cpu.timestamp) : iso(n.time);
      const memTime = s.memory?.timestamp ? iso(s.memory.timestamp) : iso(n.time);
      const nanoCores = num(s.cpu?.usageNanoCores);
      const usage = num(s.memory?.usageBytes);
      const rss = num(s.memory?.rssBytes);
      containers.push({
        name,
        ...(started ? { startTime: started } : {}),
        cpu: { time: cpuTime, usageCoreNanoSeconds: num(s.cpu?.usageCoreNanoSeconds) ?? 0, ...(nanoCores !== undefined ? { usageNanoCores: nanoCores } : {}) },
        memory: { time: memTime, workingSetBytes: num(s.memory?.workingSetBytes) ?? 0, ...(usage !== undefined ? { usageBytes: usage } : {}), ...(rss !== undefined ? { rssBytes: rss } : {}) },
      });
    }
    containers.sort((a, b) => a.name.localeCompare(b.name));
    const sum = (f: (c: ContainerSummary) => number | undefined): number => containers.reduce((t, c) => t + (f(c) ?? 0), 0);
    pods.push({
      podRef: { name: r.pod.metadata.name, namespace: r.pod.metadata.namespace ?? 'default', uid },
      ...(r.status.startTime ? { startTime: r.status.startTime } : {}),
      containers,
      cpu: { time: iso(n.time), usageCoreNanoSeconds: sum((c) => c.cpu.usageCoreNanoSeconds), usageNanoCores: sum((c) => c.cpu.usageNanoCores) },
      memory: { time: iso(n.time), workingSetBytes: sum((c) => c.memory.workingSetBytes), usageBytes: sum((c) => c.memory.usageBytes) },
    });
  }
  pods.sort((a, b) => `${a.podRef.namespace}/${a.podRef.name}`.localeCompare(`${b.podRef.namespace}/${b.podRef.name}`));
  return {
    node: {
      nodeName: i.nodeName,
      startTime: n.bootTime,
      cpu: nodeCpu,
      memory: { time: iso(n.time), availableBytes: n.memAvailable, usageBytes: n.memTotal - n.memFree, workingSetBytes: n.memTotal - n.memAvailable },
    },
    pods,
  };
}
