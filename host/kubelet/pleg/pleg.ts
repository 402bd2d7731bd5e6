/**
 * Pod lifecycle event generator (kl/pleg/generic.go + evented.go).
 *
 * Generic: every `relistPeriodMs` (1 s) list all sandboxes and containers through CRI, diff each
 * one's state against the previous relist and emit ContainerStarted / ContainerDied /
 * ContainerRemoved; pods with events (or not yet inspected, or whose inspection failed) are
 * re-inspected into the pod cache; then the cache's global time is raised to the relist start.
 * Unhealthy when the last successful relist started more than `thresholdMs` (3 min) ago.
 *
 * Evented (`evented: true`): subscribes to CRI GetContainerEvents; each event re-inspects its pod
 * and emits the matching event; the generic relist keeps running as a safety net at 300 s.
 * After 5 stream failures (or at once when the runtime answers Unimplemented, as containerd 1.6
 * does) it falls back to the generic 1 s relist.
 *
 * API: `new Pleg({ cri, cache, clock, onEvent })`; `start()`, `stop()`, `relist()`,
 * `inspect(uid)` (refresh one pod now, used after a sync), `healthy()`, `mode`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { ErrorCode, isCocoletError } from '../../../shared/errors/errors.js';
import { ContainerEventType, ContainerState, PodSandboxState } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import type { CriRuntime } from '../../cri/api.js';
import type { Clock, TimerHandle } from '../clock.js';
import { inspectPod, listRuntimePods, type RuntimePodListing } from '../runtime/inspect.js';
import type { PodCache } from './cache.js';

export const GENERIC_RELIST_PERIOD_MS = 1_000;
export const GENERIC_RELIST_THRESHOLD_MS = 180_000;
export const EVENTED_RELIST_PERIOD_MS = 300_000;
export const EVENTED_RELIST_THRESHOLD_MS = 600_000;
export const EVENTED_MAX_STREAM_RETRIES = 5;

export type PlegEventType = 'ContainerStarted' | 'ContainerDied' | 'ContainerRemoved' | 'PodSync';

export interface PlegEvent {
  uid: string;
  type: PlegEventType;
  /** Container (or sandbox) ID. */
  data: string;
}

type State = 'running' | 'exited' | 'unknown' | 'non-existent';

export interface PlegOptions {
  cri: CriRuntime;
  cache: PodCache;
  clock: Clock;
  onEvent: (e: PlegEvent) => void;
  relistPeriodMs?: number;
  thresholdMs?: number;
  /** Called after each successful relist (durations in ms). */
  onRelist?: (durationMs: number, intervalMs: number) => void;
  /** Called once, when the first relist has succeeded (the PLEG turns healthy: the node may be Ready). */
  onFirstRelist?: () => void;
  /** Try CRI container events first. */
  evented?: boolean;
  logger?: Logger;
}

export class Pleg {
  private prev = new Map<string, Map<string, State>>();
  /** Pods whose last inspection failed (re-inspected next relist). */
  private readonly reinspect = new Set<string>();
  private lastRelistStart = 0;
  private timer: TimerHandle | undefined;
  private running = false;
  private relisting: Promise<void> | undefined;
  private eventsAbort: AbortController | undefined;
  private streamFailures = 0;
  private periodMs: number;
  private thresholdMs: number;
  private readonly log: Logger;
  mode: 'generic' | 'evented' = 'generic';
  /** Relists done (for tests and metrics). */
  relists = 0;

  constructor(private readonly opts: PlegOptions) {
    this.periodMs = opts.relistPeriodMs ?? GENERIC_RELIST_PERIOD_MS;
    this.thresholdMs = opts.thresholdMs ?? GENERIC_RELIST_THRESHOLD_MS;
    this.log = opts.logger ?? silentLogger();
  }

  start(): void {
    this.running = true;
    if (this.opts.evented && this.opts.cri.getContainerEvents) {
      this.mode = 'evented';
      this.periodMs = EVENTED_RELIST_PERIOD_MS;
      this.thresholdMs = EVENTED_RELIST_THRESHOLD_MS;
      void this.watchEvents();
    }
    void this.loop();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.eventsAbort?.abort();
  }

  private async loop(): Promise<void> {
    if (!this.running) return;
    await this.relist();
    if (!this.running) return;
    this.timer = this.opts.clock.setTimer(() => void this.loop(), this.periodMs);
  }

  private fallBackToGeneric(reason: string): void {
    if (this.mode !== 'evented') return;
    this.log.warn({ reason }, 'evented PLEG unavailable; falling back to generic relist');
    this.mode = 'generic';
    this.periodMs = this.opts.relistPeriodMs ?? GENERIC_RELIST_PERIOD_MS;
    this.thresholdMs = this.opts.thresholdMs ?? GENERIC_RELIST_THRESHOLD_MS;
    this.eventsAbort?.abort();
    if (this.running) {
      this.timer?.cancel();
      void this.loop();
    }
  }

  private async watchEvents(): Promise<void> {
    const cri = this.opts.cri;
    while (this.running && this.mode === 'evented') {
      this.eventsAbort = new AbortController();
      try {
        for await (const ev of cri.getContainerEvents!(this.eventsAbort.signal)) {
          this.streamFailures = 0;
          const uid = ev.podSandboxStatus?.metadata?.uid ?? '';
          if (!uid) continue;
          const type: PlegEventType | undefined =
            ev.containerEventType === ContainerEventType.CONTAINER_STARTED_EVENT
              ? 'ContainerStarted'
              : ev.containerEventType === ContainerEventType.CONTAINER_STOPPED_EVENT
                ? 'ContainerDied'
                : ev.containerEventType === ContainerEventType.CONTAINER_DELETED_EVENT
                  ? 'ContainerRemoved'
                  : undefined;
          await this.inspect(uid);
          if (type === 'ContainerRemoved') this.opts.onEvent({ uid, type: 'ContainerDied', data: ev.containerId });
          if (type) this.opts.onEvent({ uid, type, data: ev.containerId });
        }
        if (!this.running) return;
        throw new Error('event stream ended');
      } catch (e) {
        if (!this.running) return;
        this.streamFailures++;
        void this.relist();
        if ((isCocoletError(e) && e.code === ErrorCode.Unimplemented) || this.streamFailures >= EVENTED_MAX_STREAM_RETRIES) {
          this.fallBackToGeneric(e instanceof Error ? e.message : String(e));
          return;
        }
      }
    }
  }

  /** One relist; concurrent calls share the running one. */
  relist(): Promise<void> {
    this.relisting ??= this.doRelist().finally(() => (this.relisting = undefined));
    return this.relisting;
  }

  private async doRelist(): Promise<void> {
    const start = this.opts.clock.now();
    let pods: Map<string, RuntimePodListing>;
    try {
      pods = await listRuntimePods(this.opts.cri);
    } catch (e) {
      this.log.warn({ err: e }, 'PLEG relist failed');
      return;
    }
    this.relists++;
    const events: PlegEvent[] = [];
    const next = new Map<string, Map<string, State>>();
    const uids = new Set<string>([...pods.keys(), ...this.prev.keys()]);
    for (const uid of uids) {
      const cur = new Map<string, State>();
      const l = pods.get(uid);
      if (l) {
        for (const c of l.containers) cur.set(c.id, c.state === ContainerState.CONTAINER_RUNNING ? 'running' : c.state === ContainerState.CONTAINER_EXITED ? 'exited' : 'unknown');
        for (const s of l.sandboxes) cur.set(s.id, s.state === PodSandboxState.SANDBOX_READY ? 'running' : 'exited');
      }
      const old = this.prev.get(uid);
      diff(uid, old, cur, events);
      if (cur.size > 0) next.set(uid, cur);
    }
    this.prev = next;
    const toInspect = new Set<string>([...events.map((e) => e.uid), ...this.reinspect]);
    for (const uid of pods.keys()) if (this.opts.cache.get(uid).modified === 0) toInspect.add(uid);
    this.reinspect.clear();
    await Promise.all([...toInspect].map((uid) => this.inspect(uid, pods.get(uid) ?? emptyListing(uid), start)));
    this.opts.cache.updateTime(start);
    const first = this.lastRelistStart === 0;
    if (!first) this.opts.onRelist?.(this.opts.clock.now() - start, start - this.lastRelistStart);
    this.lastRelistStart = start;
    if (first) this.opts.onFirstRelist?.();
    for (const e of events) this.opts.onEvent(e);
  }

  /** Inspects one pod now and stores it in the cache. */
  async inspect(uid: string, listing?: RuntimePodListing, at?: number): Promise<void> {
    const t = at ?? this.opts.clock.now();
    try {
      const st = await inspectPod(this.opts.cri, uid, listing);
      this.opts.cache.set(uid, st, undefined, t);
    } catch (e) {
      this.reinspect.add(uid);
      this.log.warn({ pod: uid, err: e }, 'pod inspection failed');
    }
  }

  healthy(): { ok: boolean; message: string } {
    if (this.lastRelistStart === 0) return { ok: false, message: 'pleg has yet to be successful' };
    const since = this.opts.clock.now() - this.lastRelistStart;
    if (since > this.thresholdMs) {
      return { ok: false, message: `pleg was last seen active ${Math.round(since / 1000)}s ago; threshold is ${this.thresholdMs / 1000}s` };
    }
    return { ok: true, message: '' };
  }
}

function emptyListing(uid: string): RuntimePodListing {
  return { uid, name: '', namespace: '', sandboxes: [], containers: [] };
}

function diff(uid: string, old: Map<string, State> | undefined, cur: Map<string, State>, out: PlegEvent[]): void {
  const ids = new Set<string>([...(old?.keys() ?? []), ...cur.keys()]);
  for (const id of ids) {
    const before = old?.get(id) ?? 'non-existent';
    const after = cur.get(id) ?? 'non-existent';
    if (before === after) continue;
    switch (after) {
      case 'running':
        out.push({ uid, type: 'ContainerStarted', data: id });
        break;
      case 'exited':
        out.push({ uid, type: 'ContainerDied', data: id });
        break;
      case 'unknown':
        // ContainerChanged: generated upstream but never sent; still refresh the pod.
        out.push({ uid, type: 'PodSync', data: id });
        break;
      case 'non-existent':
        if (before !== 'exited') out.push({ uid, type: 'ContainerDied', data: id });
        out.push({ uid, type: 'ContainerRemoved', data: id });
        break;
    }
  }
}
