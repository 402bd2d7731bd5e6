/**
 * Pod cache (kl/container/cache.go): the newest runtime status per pod with the time it was
 * observed, plus a global timestamp raised after every relist. `getNewerThan(uid, t)` resolves
 * once the pod's entry or the global time is ≥ t — pod workers wait on it instead of polling, so
 * a sync never acts on runtime state older than its previous sync.
 */
import { emptyPodStatus, type RuntimePodStatus } from '../runtime/status.js';

export interface CacheEntry {
  status: RuntimePodStatus;
  error?: Error;
  modified: number;
}

export class PodCache {
  private readonly entries = new Map<string, CacheEntry>();
  private globalTime = 0;
  private closed = false;
  private waiters: { uid: string; t: number; resolve: (e: CacheEntry) => void }[] = [];

  get(uid: string): CacheEntry {
    return this.entries.get(uid) ?? { status: emptyPodStatus(uid), modified: 0 };
  }

  set(uid: string, status: RuntimePodStatus, error: Error | undefined, t: number): void {
    const e: CacheEntry = { status, modified: t, ...(error ? { error } : {}) };
    const old = this.entries.get(uid);
    if (old && old.modified > t) return; // never go back in time
    this.entries.set(uid, e);
    this.notify();
  }

  delete(uid: string): void {
    this.entries.delete(uid);
  }

  uids(): string[] {
    return [...this.entries.keys()];
  }

  /** Raises the global timestamp (after a complete relist that started at `t`). */
  updateTime(t: number): void {
    if (t > this.globalTime) this.globalTime = t;
    this.notify();
  }

  /** Releases every waiter and makes later waits return at once (shutdown). */
  close(): void {
    this.closed = true;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.resolve(this.get(w.uid));
  }

  getNewerThan(uid: string, t: number): Promise<CacheEntry> {
    const e = this.get(uid);
    if (this.closed || e.modified >= t || this.globalTime >= t) return Promise.resolve(e);
    return new Promise((resolve) => this.waiters.push({ uid, t, resolve }));
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      const e = this.get(w.uid);
      if (e.modified >= w.t || this.globalTime >= w.t) w.resolve(e);
      else still.push(w);
    }
    this.waiters = still;
  }

  get waiting(): number {
    return this.waiters.length;
  }
}
