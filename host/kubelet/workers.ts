/**
 * Pod workers (kl/pod_workers.go): one serial worker per pod UID. Each worker moves one way
 * through sync → terminating → terminated → finished. At most one pending update is kept (a
 * newer one replaces it); a kill only ever shrinks the grace period. Before each sync the worker
 * waits until the pod cache holds runtime state newer than its previous sync (no polling).
 *
 * API: `updatePod(uid, { type, pod, graceSeconds })`, `phase(uid)`, `forget(uid)`,
 * `idle()` (resolves when no worker is busy, for tests), `size`.
 */
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { Pod } from './api/types.js';
import type { Clock } from './clock.js';
import type { PodCache } from './pleg/cache.js';

export type UpdateType = 'create' | 'update' | 'sync' | 'kill';
export type WorkerPhase = 'sync' | 'terminating' | 'terminated' | 'finished';

export interface WorkUpdate {
  type: UpdateType;
  pod?: Pod;
  /** For kill: the grace period (seconds); only a shorter one replaces an earlier one. */
  graceSeconds?: number;
  /** For kill: the pod is being deleted (remove everything once terminated). */
  deleted?: boolean;
}

export interface SyncOutcome {
  terminal: boolean;
  requeueAfterMs?: number;
  error?: Error;
  /**
   * The sync stopped before it asked the runtime to change anything (a volume set-up failed): the
   * next sync need not wait for a runtime state newer than this one, only newer than the last sync
   * that did act, so a quick retry is not held until the next relist.
   */
  runtimeUntouched?: boolean;
}

export interface PodSyncer {
  syncPod(uid: string, pod: Pod): Promise<SyncOutcome>;
  syncTerminatingPod(uid: string, pod: Pod, graceSeconds: number | undefined): Promise<void>;
  syncTerminatedPod(uid: string, pod: Pod, deleted: boolean): Promise<void>;
}

export interface PodWorkersOptions {
  syncer: PodSyncer;
  cache: PodCache;
  clock: Clock;
  /** Requeue a pod for a sync after `ms`. */
  requeue: (uid: string, ms: number) => void;
  /** Normal resync (syncFrequency, 1 min), jittered by 0.5. */
  resyncMs?: number;
  /** After a failed sync (backOffPeriod 10 s), jittered by 0.5. */
  backoffMs?: number;
  /** Workers wait for cache entries newer than this before their first sync (kubelet start). */
  startTime?: number;
  logger?: Logger;
}

interface Worker {
  uid: string;
  pod: Pod;
  phase: WorkerPhase;
  pending?: WorkUpdate;
  busy: boolean;
  lastSyncAt: number;
  grace?: number;
  deleted: boolean;
  /** A create that arrived while the pod was being deleted. */
  restart?: WorkUpdate;
}

const jitter = (ms: number, factor = 0.5): number => ms + Math.random() * factor * ms;

export class PodWorkers {
  private readonly workers = new Map<string, Worker>();
  private readonly log: Logger;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly o: PodWorkersOptions) {
    this.log = o.logger ?? silentLogger();
  }

  get size(): number {
    return this.workers.size;
  }

  phase(uid: string): WorkerPhase | undefined {
    return this.workers.get(uid)?.phase;
  }

  uids(): string[] {
    return [...this.workers.keys()];
  }

  updatePod(uid: string, u: WorkUpdate): void {
    let w = this.workers.get(uid);
    if (!w) {
      if (!u.pod) return;
      w = { uid, pod: u.pod, phase: 'sync', busy: false, lastSyncAt: this.o.startTime ?? 0, deleted: false };
      this.workers.set(uid, w);
    }
    if (u.type === 'create' && w.deleted && w.phase !== 'sync') {
      // Re-added while being torn down (e.g. a static manifest removed and restored): start it
      // again once the old instance is gone.
      w.restart = u;
      return;
    }
    if (w.phase === 'finished') {
      // A pod that finished on its own (terminal phase) is cleaned up once it is deleted.
      if (u.type !== 'kill' || !u.deleted || w.deleted) return;
      w.phase = 'terminated';
    }
    if (u.pod) w.pod = u.pod;
    if (u.type === 'kill') {
      if (u.graceSeconds !== undefined) w.grace = w.grace === undefined ? u.graceSeconds : Math.min(w.grace, u.graceSeconds);
      if (u.deleted) w.deleted = true;
      if (w.phase === 'sync') w.phase = 'terminating';
      w.pending = u;
    } else if (!w.pending || w.pending.type !== 'kill') {
      w.pending = u;
    }
    if (!w.busy && !this.stopped) void this.run(w);
  }

  /** Stops taking work (pending updates stay unprocessed); running syncs finish. */
  stop(): void {
    this.stopped = true;
  }

  forget(uid: string): void {
    const w = this.workers.get(uid);
    if (w && !w.busy) this.workers.delete(uid);
  }

  /** Resolves once no worker is busy. */
  idle(): Promise<void> {
    if (![...this.workers.values()].some((w) => w.busy)) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async run(w: Worker): Promise<void> {
    w.busy = true;
    try {
      while (w.pending && w.phase !== 'finished') {
        w.pending = undefined;
        let untouched = false;
        if (w.phase === 'sync') await this.o.cache.getNewerThan(w.uid, w.lastSyncAt);
        if (this.stopped) break;
        try {
          switch (w.phase) {
            case 'sync': {
              const r = await this.o.syncer.syncPod(w.uid, w.pod);
              untouched = r.runtimeUntouched === true;
              if (w.phase !== 'sync') break; // killed meanwhile
              if (r.terminal) {
                w.phase = 'terminating';
                w.pending ??= { type: 'sync' };
              } else if (r.error) this.o.requeue(w.uid, r.requeueAfterMs ?? jitter(this.o.backoffMs ?? 10_000));
              else this.o.requeue(w.uid, r.requeueAfterMs ?? jitter(this.o.resyncMs ?? 60_000));
              break;
            }
            case 'terminating':
              await this.o.syncer.syncTerminatingPod(w.uid, w.pod, w.grace);
              w.phase = 'terminated';
              w.pending ??= { type: 'sync' };
              break;
            case 'terminated':
              await this.o.syncer.syncTerminatedPod(w.uid, w.pod, w.deleted);
              w.phase = 'finished';
              break;
            default:
              break;
          }
        } catch (e) {
          this.log.warn({ pod: w.uid, phase: w.phase, err: e }, 'pod sync failed');
          this.o.requeue(w.uid, jitter(this.o.backoffMs ?? 10_000));
        }
        if (!untouched) w.lastSyncAt = this.o.clock.now();
      }
    } finally {
      w.busy = false;
      if (w.phase === 'finished' && w.deleted) {
        this.workers.delete(w.uid);
        if (w.restart && !this.stopped) this.updatePod(w.uid, w.restart);
      }
      if (![...this.workers.values()].some((x) => x.busy)) {
        const ws = this.idleWaiters;
        this.idleWaiters = [];
        for (const r of ws) r();
      }
    }
  }
}
