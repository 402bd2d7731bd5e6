/**
 * The eviction manager (kl/eviction/eviction_manager.go): every evictionMonitoringPeriod (10 s)
 * `synchronize()` observes the signals, finds the thresholds met (a threshold already met stays
 * met until the signal recovers past threshold + minimum reclaim), keeps node conditions
 * (MemoryPressure, DiskPressure, PIDPressure) true until their signal has been clear for
 * evictionPressureTransitionPeriod, waits out soft grace periods, then acts on one threshold
 * (memory first): disk signals first reclaim node-level resources (dead containers, then unused
 * images, as the filesystem layout says) and stop there when that was enough; otherwise the active
 * pods are ranked (rank.ts) and at most one pod is evicted per round (critical pods never: static,
 * mirror, priority ≥ 2000000000). Hard evictions give the pod 1 s, soft ones
 * min(evictionMaxPodGracePeriod, terminationGracePeriodSeconds). After an eviction the next round
 * starts as soon as the pod is cleaned up (at most 30 s later) instead of after the full period.
 *
 * The evicted pod gets phase Failed, reason Evicted and the kubelet's message; the Warning event
 * says in plain words which signal crossed which threshold (observed vs threshold) and why this pod
 * was chosen. Admission refuses pods while under pressure as the kubelet does (`admit`).
 *
 * API: `new EvictionManager({...})`, `start()`, `stop()`, `synchronize()` → the evicted pod or
 * undefined, `conditions()` (node conditions for node status), `admit(pod)`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, type Pod } from '../api/types.js';
import { PeriodicTask, type Clock } from '../clock.js';
import { qosClass } from '../runtime/podspec.js';
import { formatBytes, human, quantityValue } from './quantity.js';
import { chosenBecause, rankForEviction, type PodStats, type RankPod } from './rank.js';
import type { Observations, SignalSource } from './signals.js';
import {
  DEFAULT_PRESSURE_TRANSITION_MS,
  EVICTION_MONITORING_PERIOD_MS,
  isHard,
  SIGNAL_CONDITION,
  SIGNAL_RESOURCE,
  thresholdQuantity,
  type NodeConditionType,
  type Signal,
  type Threshold,
} from './thresholds.js';

/** Hard evictions kill with this grace period (immediateEvictionGracePeriodSeconds). */
export const HARD_EVICTION_GRACE_SECONDS = 1;
/** Pods at or above this priority are critical (SystemCriticalPriority). */
export const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;
const CLEANUP_POLL_MS = 1_000;
const CLEANUP_TIMEOUT_MS = 30_000;

export interface Eviction {
  pod: Pod;
  /** Always `Evicted`. */
  reason: 'Evicted';
  /** The kubelet's status message ("The node was low on resource: memory. ..."). */
  message: string;
  /** The plain-words event text. */
  event: string;
  gracePeriodSeconds: number;
  signal: Signal;
}

export interface NodeReclaim {
  /** Removes every dead container and sandbox (DeleteAllUnusedContainers). */
  containers?: () => Promise<unknown>;
  /** Removes every image no container uses (DeleteUnusedImages). */
  images?: () => Promise<unknown>;
}

export interface EvictionManagerOptions {
  thresholds: Threshold[];
  signals: SignalSource;
  /** Pods the manager may evict (admitted, not terminated). */
  activePods: () => Pod[];
  /** Per-pod usage keyed by pod UID. */
  podStats: (pods: Pod[]) => Promise<Map<string, PodStats>>;
  /** Kills the pod and records its status and event. */
  evict: (e: Eviction) => Promise<void> | void;
  reclaim?: NodeReclaim;
  /** Called when a node condition turns True or False (e.g. to rewrite the status file). */
  onConditionsChange?: () => void;
  /** True once an evicted pod's containers are gone (to start the next round early). */
  podCleanedUp?: (pod: Pod) => boolean;
  pressureTransitionMs?: number;
  maxPodGracePeriodSeconds?: number;
  /** Evict pods over their emptyDir sizeLimit or ephemeral-storage limits (localStorageCapacityIsolation). */
  localStorageCapacityIsolation?: boolean;
  periodMs?: number;
  clock: Clock;
  logger?: Logger;
}

export interface NodeCondition {
  type: NodeConditionType;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

const CONDITION_TEXT: Record<NodeConditionType, { true: [string, string]; false: [string, string] }> = {
  MemoryPressure: {
    true: ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'],
    false: ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
  },
  DiskPressure: { true: ['KubeletHasDiskPressure', 'kubelet has disk pressure'], false: ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure'] },
  PIDPressure: { true: ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'], false: ['KubeletHasSufficientPID', 'kubelet has sufficient PID available'] },
};
const CONDITION_TYPES: NodeConditionType[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

/** thresholdsMet: thresholds whose signal is below value (+ minimum reclaim when enforced). */
export function thresholdsMet(thresholds: Threshold[], obs: Observations, enforceMinReclaim: boolean): Threshold[] {
  return thresholds.filter((t) => {
    const o = obs[t.signal];
    if (!o) return false;
    let q = thresholdQuantity(t.value, o.capacity);
    if (enforceMinReclaim && t.minReclaim) q += thresholdQuantity(t.minReclaim, o.capacity);
    return q > o.available;
  });
}

export function isCriticalPod(pod: Pod): boolean {
  const src = pod.metadata.annotations?.[Annotations.configSource];
  const isStatic = src !== undefined && src !== 'api';
  const isMirror = pod.metadata.annotations?.[Annotations.configMirror] !== undefined;
  return isStatic || isMirror || (pod.spec.priority ?? 0) >= SYSTEM_CRITICAL_PRIORITY;
}

/** Local volumes of a pod as the kubelet counts them (hostPath, disk-backed emptyDir). */
function localVolumes(pod: Pod): string[] {
  return (pod.spec.volumes ?? []).filter((v) => v.hostPath || (v.emptyDir && v.emptyDir.medium !== 'Memory')).map((v) => v.name);
}

export function toRankPod(pod: Pod): RankPod & { source: Pod } {
  const c = (x: Pod['spec']['containers'][number]): RankPod['containers'][number] => ({
    name: x.name,
    ...(x.resources?.requests ? { requests: x.resources.requests } : {}),
    ...(x.resources?.limits ? { limits: x.resources.limits } : {}),
    ...(x.restartPolicy ? { restartPolicy: x.restartPolicy } : {}),
  });
  return {
    name: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`,
    priority: pod.spec.priority ?? 0,
    containers: pod.spec.containers.map(c),
    initContainers: (pod.spec.initContainers ?? []).map(c),
    localVolumes: localVolumes(pod),
    ...(pod.spec.overhead ? { overhead: pod.spec.overhead } : {}),
    source: pod,
  };
}

function tolerates(pod: Pod, key: string, effect: string): boolean {
  return (pod.spec.tolerations ?? []).some((t) => {
    const x = t as { key?: string; operator?: string; effect?: string };
    const keyOk = x.key === key || (x.key === undefined && x.operator === 'Exists') || (x.key === '' && x.operator === 'Exists');
    return keyOk && (!x.effect || x.effect === effect);
  });
}

const fmt = (signal: Signal, n: number): string => (SIGNAL_RESOURCE[signal] === 'memory' || SIGNAL_RESOURCE[signal] === 'ephemeral-storage' ? human(n) : String(n));

export class EvictionManager {
  private readonly log: Logger;
  private readonly transitionMs: number;
  private readonly periodMs: number;
  /** Thresholds met in the last round (minimum reclaim keeps them met). */
  private lastMet: Threshold[] = [];
  private readonly firstObservedAt = new Map<Threshold, number>();
  private readonly conditionLastObservedAt = new Map<NodeConditionType, number>();
  private readonly conditionSince = new Map<NodeConditionType, { status: boolean; at: number }>();
  private current = new Set<NodeConditionType>();
  private lastObservations: Observations = {};
  private readonly task: PeriodicTask;
  private busy = false;

  constructor(private readonly o: EvictionManagerOptions) {
    this.log = (o.logger ?? silentLogger()).child({ component: 'eviction' });
    this.transitionMs = o.pressureTransitionMs ?? DEFAULT_PRESSURE_TRANSITION_MS;
    this.periodMs = o.periodMs ?? EVICTION_MONITORING_PERIOD_MS;
    const now = o.clock.now();
    for (const t of CONDITION_TYPES) this.conditionSince.set(t, { status: false, at: now });
    this.task = new PeriodicTask(o.clock, () => this.monitor());
  }

  start(): void {
    this.task.start();
  }

  stop(): void {
    this.task.stop();
  }

  /** One monitoring round; the next comes after the period, or once the evicted pod is gone. */
  private async monitor(): Promise<number | undefined> {
    let evicted: Pod | undefined;
    try {
      evicted = await this.synchronize();
    } catch (e) {
      this.log.warn({ err: e }, 'eviction round failed');
    }
    if (!evicted || !this.o.podCleanedUp) return this.periodMs;
    // Start the next round once the evicted pod is gone (the kubelet waits up to 30 s).
    const deadline = this.o.clock.now() + CLEANUP_TIMEOUT_MS;
    const poll = (): void => {
      if (!this.task.running) return;
      if (this.o.podCleanedUp!(evicted) || this.o.clock.now() >= deadline) return this.task.run();
      this.task.after(CLEANUP_POLL_MS, poll);
    };
    this.task.after(CLEANUP_POLL_MS, poll);
    return undefined;
  }

  /** Node conditions as the node status reports them (all three, True or False). */
  conditions(): NodeCondition[] {
    const now = new Date(this.o.clock.now()).toISOString();
    return CONDITION_TYPES.map((type) => {
      const on = this.current.has(type);
      const [reason, message] = CONDITION_TEXT[type][on ? 'true' : 'false'];
      const detail = on ? this.pressureDetail(type) : '';
      return {
        type,
        status: on ? 'True' : 'False',
        reason,
        message: detail ? `${message}: ${detail}` : message,
        lastHeartbeatTime: now,
        lastTransitionTime: new Date(this.conditionSince.get(type)!.at).toISOString(),
      };
    });
  }

  isUnderPressure(type: NodeConditionType): boolean {
    return this.current.has(type);
  }

  /** Which met thresholds hold a condition up, with their observed values. */
  private pressureDetail(type: NodeConditionType): string {
    const met = this.lastMet.filter((t) => SIGNAL_CONDITION[t.signal] === type);
    if (!met.length) return `recovered, held for the ${Math.round(this.transitionMs / 1000)}s pressure transition period`;
    return met
      .map((t) => {
        const ob = this.lastObservations[t.signal];
        return ob ? `${t.signal} is ${fmt(t.signal, ob.available)}, threshold ${fmt(t.signal, thresholdQuantity(t.value, ob.capacity))}` : t.signal;
      })
      .join('; ');
  }

  /** Admission while under pressure (the kubelet's eviction admit handler). */
  admit(pod: Pod): { admit: true } | { admit: false; reason: 'Evicted'; message: string } {
    if (this.current.size === 0 || isCriticalPod(pod)) return { admit: true };
    const conds = CONDITION_TYPES.filter((c) => this.current.has(c));
    if (conds.length === 1 && conds[0] === 'MemoryPressure') {
      if (qosClass(pod) !== 'BestEffort') return { admit: true };
      if (tolerates(pod, 'node.kubernetes.io/memory-pressure', 'NoSchedule')) return { admit: true };
    }
    return { admit: false, reason: 'Evicted', message: `The node had condition: [${conds.join(', ')}]. ` };
  }

  /** One round; returns the evicted pod, if any. */
  async synchronize(): Promise<Pod | undefined> {
    if (this.busy) return undefined;
    this.busy = true;
    try {
      return await this.round();
    } finally {
      this.busy = false;
    }
  }

  private async round(): Promise<Pod | undefined> {
    const now = this.o.clock.now();
    const obs = await this.o.signals.observe();
    const met = thresholdsMet(this.o.thresholds, obs, false);
    if (this.lastMet.length) {
      for (const t of thresholdsMet(this.lastMet, obs, true)) if (!met.includes(t)) met.push(t);
    }
    // first observation time of each met threshold
    const first = new Map<Threshold, number>();
    for (const t of met) first.set(t, this.firstObservedAt.get(t) ?? now);
    this.firstObservedAt.clear();
    for (const [t, at] of first) this.firstObservedAt.set(t, at);
    // node conditions, held for the transition period
    for (const t of met) this.conditionLastObservedAt.set(SIGNAL_CONDITION[t.signal], now);
    const conditions = new Set<NodeConditionType>();
    for (const [c, at] of this.conditionLastObservedAt) if (now - at < this.transitionMs) conditions.add(c);
    for (const c of CONDITION_TYPES) {
      const on = conditions.has(c);
      if (this.conditionSince.get(c)!.status !== on) {
        this.conditionSince.set(c, { status: on, at: now });
        this.log.info({ condition: c, status: on }, on ? 'node condition raised' : 'node condition cleared');
      }
    }
    const changed = [...CONDITION_TYPES].some((c) => conditions.has(c) !== this.current.has(c));
    this.current = conditions;
    if (changed) this.o.onConditionsChange?.();
    // grace periods, then only signals with fresh stats
    let actionable = [...first].filter(([t, at]) => now - at >= t.gracePeriodMs).map(([t]) => t);
    actionable = actionable.filter((t) => {
      const last = this.lastObservations[t.signal];
      const o = obs[t.signal];
      return !last || !o || o.time > last.time;
    });
    this.lastMet = met;
    this.lastObservations = obs;
    // Local storage limits (emptyDir sizeLimit, pod and container ephemeral-storage limits) come first.
    if (this.o.localStorageCapacityIsolation) {
      const evicted = await this.localStorageEviction();
      if (evicted) return evicted;
    }
    if (!actionable.length) return undefined;
    // memory signals first (byEvictionPriority)
    const isMem = (t: Threshold): boolean => SIGNAL_RESOURCE[t.signal] === 'memory';
    actionable.sort((a, b) => Number(isMem(b)) - Number(isMem(a)));
    const threshold = actionable[0]!;
    const observed = obs[threshold.signal]!;
    this.log.warn(
      { signal: threshold.signal, available: observed.available, threshold: thresholdQuantity(threshold.value, observed.capacity) },
      'eviction threshold crossed',
    );
    if (await this.reclaimNodeLevel(threshold)) return undefined;
    const active = this.o.activePods();
    if (!active.length) {
      this.log.warn({ signal: threshold.signal }, 'eviction threshold crossed, but there are no pods to evict');
      return undefined;
    }
    const stats = await this.o.podStats(active);
    const candidates = active.map(toRankPod);
    const ranked = rankForEviction(threshold.signal, candidates, (p) => stats.get(p.source.metadata.uid!), { layout: this.o.signals.layout() });
    const evictable = ranked.filter((r) => !isCriticalPod(r.pod.source));
    const chosen = evictable[0];
    if (!chosen) {
      this.log.warn({ signal: threshold.signal, pods: ranked.length }, 'eviction threshold crossed, but every pod is critical (static, mirror or system priority)');
      return undefined;
    }
    const pod = chosen.pod.source;
    const grace = isHard(threshold)
      ? HARD_EVICTION_GRACE_SECONDS
      : Math.min(this.o.maxPodGracePeriodSeconds ?? 0, pod.spec.terminationGracePeriodSeconds ?? 30);
    const thresholdBytes = thresholdQuantity(threshold.value, observed.capacity);
    const kind = isHard(threshold) ? 'hard' : `soft, for more than ${threshold.gracePeriodMs / 1000}s`;
    const skipped = ranked.length - evictable.length;
    const because = chosenBecause(evictable.length === ranked.length ? ranked : evictable);
    const event =
      `${threshold.signal} was ${fmt(threshold.signal, observed.available)}, below the ${threshold.value.text}` +
      `${'percentage' in threshold.value ? ` (${fmt(threshold.signal, thresholdBytes)})` : ''} eviction threshold (${kind}); ` +
      `evicted this pod because it ${because}${skipped ? ` (${skipped} critical pod${skipped > 1 ? 's' : ''} not considered)` : ''}`;
    const message = evictionMessage(threshold.signal, pod, stats.get(pod.metadata.uid!), thresholdBytes, observed.available);
    this.log.warn({ pod: chosen.pod.name, signal: threshold.signal, gracePeriodSeconds: grace, why: because }, 'evicting pod');
    await this.o.evict({ pod, reason: 'Evicted', message, event, gracePeriodSeconds: grace, signal: threshold.signal });
    return pod;
  }

  /**
   * Pods over a local storage limit, each evicted at once (grace 0), as the kubelet does before it
   * looks at thresholds; returns the first evicted pod.
   */
  private async localStorageEviction(): Promise<Pod | undefined> {
    const active = this.o.activePods().filter((p) => !isCriticalPod(p));
    if (!active.length) return undefined;
    const stats = await this.o.podStats(active);
    let first: Pod | undefined;
    for (const pod of active) {
      const st = stats.get(pod.metadata.uid!);
      const v = st ? localStorageViolation(pod, st) : undefined;
      if (!v) continue;
      this.log.warn({ pod: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`, why: v.event }, 'evicting pod over its local storage limit');
      await this.o.evict({ pod, reason: 'Evicted', message: v.message, event: v.event, gracePeriodSeconds: 0, signal: 'nodefs.available' });
      first ??= pod;
    }
    return first;
  }

  /** Dead containers, then unused images, for disk signals; true when that was enough. */
  private async reclaimNodeLevel(t: Threshold): Promise<boolean> {
    const r = this.o.reclaim;
    if (!r || SIGNAL_RESOURCE[t.signal] === 'memory' || SIGNAL_RESOURCE[t.signal] === 'pids') return false;
    const layout = this.o.signals.layout();
    const fs = t.signal.split('.')[0];
    const steps: (() => Promise<unknown>)[] = [];
    if (layout === 'shared') steps.push(...[r.containers, r.images].filter((f) => f !== undefined));
    else if (layout === 'imagefs') {
      if (fs !== 'nodefs') steps.push(...[r.containers, r.images].filter((f) => f !== undefined));
    } else if (fs === 'imagefs') {
      if (r.images) steps.push(r.images);
    } else if (r.containers) steps.push(r.containers);
    if (!steps.length) return false;
    for (const s of steps) {
      try {
        await s();
      } catch (e) {
        this.log.warn({ err: e, signal: t.signal }, 'node-level reclaim failed');
      }
    }
    const after = await this.o.signals.observe();
    const still = thresholdsMet([t], after, true);
    if (!still.length) {
      const o = after[t.signal];
      this.log.info({ signal: t.signal, available: o?.available }, 'node-level reclaim freed enough; no pod evicted');
      this.lastObservations = after;
      return true;
    }
    return false;
  }
}

/**
 * The kubelet's eviction status message (evictionMessage in helpers.go): the starved resource, the
 * threshold and what was available, and each container using more than its request.
 */
export function evictionMessage(signal: Signal, pod: Pod, st: PodStats | undefined, threshold: number, available: number): string {
  const resource = SIGNAL_RESOURCE[signal];
  const q = (n: number): string => (resource === 'memory' || resource === 'ephemeral-storage' ? formatBytes(n) : String(n));
  let m = `The node was low on resource: ${resource}. Threshold quantity: ${q(threshold)}, available: ${q(available)}. `;
  if (!st?.containers || (resource !== 'memory' && resource !== 'ephemeral-storage')) return m;
  const specs = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  for (const [name, cs] of Object.entries(st.containers)) {
    const spec = specs.find((c) => c.name === name);
    if (!spec) continue;
    const reqText = spec.resources?.requests?.[resource] ?? 0;
    const request = quantityValue(reqText) ?? 0;
    const usage = resource === 'memory' ? cs.memoryWorkingSet : cs.rootfsUsed !== undefined && cs.logsUsed !== undefined ? cs.rootfsUsed + cs.logsUsed : undefined;
    if (usage !== undefined && usage > request) {
      m += `Container ${name} was using ${formatBytes(usage)}, request is ${String(reqText)}, has larger consumption of ${resource}. `;
    }
  }
  return m;
}

/**
 * The first local storage limit a pod is over (emptyDirLimitEviction, podEphemeralStorageLimitEviction,
 * containerEphemeralStorageLimitEviction, in that order), with the kubelet's message and a plain one.
 */
export function localStorageViolation(pod: Pod, st: PodStats): { message: string; event: string } | undefined {
  const volumes = typeof st.perLocalVolumeUsed === 'object' ? st.perLocalVolumeUsed : {};
  for (const v of pod.spec.volumes ?? []) {
    const limit = v.emptyDir?.sizeLimit;
    const used = volumes[v.name];
    if (limit === undefined || used === undefined) continue;
    const max = quantityValue(limit) ?? 0;
    const u = Number(quantityValue(used) ?? 0);
    if (max > 0 && u > max) {
      return {
        message: `Usage of EmptyDir volume "${v.name}" exceeds the limit "${limit}". `,
        event: `emptyDir volume ${v.name} holds ${human(u)}, over its sizeLimit ${limit}; evicted at once (local storage limits do not wait for node pressure)`,
      };
    }
  }
  const containers = st.containers ?? {};
  const containerUse = (name: string): number => (containers[name]?.rootfsUsed ?? 0) + (containers[name]?.logsUsed ?? 0);
  const limits = pod.spec.containers.map((c) => c.resources?.limits?.['ephemeral-storage']);
  if (limits.some((l) => l !== undefined)) {
    const podLimit = limits.reduce<number>((s, l) => s + (l === undefined ? 0 : (quantityValue(l) ?? 0)), 0);
    const ephemeralVolumes = (pod.spec.volumes ?? []).filter((v) => v.emptyDir && v.emptyDir.medium !== 'Memory').reduce((s, v) => s + Number(quantityValue(volumes[v.name] ?? 0) ?? 0), 0);
    const podUse = pod.spec.containers.reduce((s, c) => s + containerUse(c.name), 0) + ephemeralVolumes;
    if (podLimit > 0 && podUse > podLimit) {
      return {
        message: `Pod ephemeral local storage usage exceeds the total limit of containers ${formatBytes(podLimit)}. `,
        event: `the pod uses ${human(podUse)} of local storage (writable layers, logs, emptyDirs), over the ${human(podLimit)} its containers' ephemeral-storage limits add up to; evicted at once`,
      };
    }
  }
  for (const c of pod.spec.containers) {
    const l = c.resources?.limits?.['ephemeral-storage'];
    if (l === undefined || !containers[c.name]) continue;
    const use = containerUse(c.name);
    if (use > (quantityValue(l) ?? Infinity)) {
      return {
        message: `Container ${c.name} exceeded its local ephemeral storage limit "${String(l)}". `,
        event: `container ${c.name} uses ${human(use)} of local storage (writable layer and logs), over its ephemeral-storage limit ${String(l)}; evicted at once`,
      };
    }
  }
  return undefined;
}
