/**
 * A reflector (client-go tools/cache/reflector.go, our own code): keeps a local store of API
 * objects in step with the API server by list + watch.
 *
 *   - List (paginated, `limit` 500, a consistent read) → the store is replaced as a whole; the
 *     list's resourceVersion is where the watch starts.
 *   - Watch from the last resourceVersion seen (with `allowWatchBookmarks`, a random server
 *     timeout of 5-10 min): ADDED / MODIFIED / DELETED change the store, BOOKMARK only moves the
 *     resourceVersion. A watch that ends cleanly is reopened at once from the last version, so no
 *     event is lost or replayed.
 *   - 410 Gone / Expired (as the HTTP status or as an ERROR event) → relist at once.
 *   - Transport errors (connection refused or reset, API server restarting) → back-off, then watch
 *     again from the last version; any other error, or 5 failed watches in a row → relist.
 *   - Back-off: 800 ms doubling to 30 s, each wait jittered to [d, 2d), reset after 2 min of health.
 *   - A watch with no event (bookmarks come every minute or so) for longer than its timeout + 30 s
 *     is abandoned (a silent half-open connection); one closed within 1 s without any event counts
 *     as a failure (no spinning), as does a second 410 straight after a relist.
 * Objects are keyed by `keyOf` (pods: the UID), so a relist after a drop neither loses a deleted
 * object (it disappears in the replace) nor duplicates one.
 *
 * API: `new Reflector({ lw, keyOf, onChange })`; `start()`; `stop()`; `items()`; `stats`;
 * `synced` (the first list arrived).
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';

export interface ObjectWithMeta {
  metadata?: { resourceVersion?: string; uid?: string; name?: string; namespace?: string };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface ListPage<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

export interface WatchHandle {
  /** Resolves when the watch ends cleanly, rejects with the error that ended it. */
  done: Promise<void>;
  abort(): void;
}

/** The two API calls a reflector needs (the raw-JSON implementation is `listerWatcher` in apipods.ts). */
export interface ListerWatcher<T> {
  list(o: { limit: number; continue?: string }): Promise<ListPage<T>>;
  watch(o: { resourceVersion: string; timeoutSeconds: number; allowWatchBookmarks: true }, onEvent: (type: WatchEventType, obj: unknown) => void): WatchHandle;
}

export const BACKOFF_INITIAL_MS = 800;
export const BACKOFF_MAX_MS = 30_000;
export const BACKOFF_RESET_MS = 120_000;
export const LIST_PAGE_SIZE = 500;
export const MIN_WATCH_TIMEOUT_S = 300;
/** Consecutive failed watches after which the reflector relists. */
export const MAX_WATCH_FAILURES = 5;

export interface ReflectorStats {
  lists: number;
  watches: number;
  /** 410 Gone answers (each followed by a relist). */
  expired: number;
  errors: number;
  events: number;
  bookmarks: number;
}

export interface ReflectorOptions<T> {
  lw: ListerWatcher<T>;
  keyOf: (obj: T) => string;
  /** Called after every change of the store (a relist, or one watch event). */
  onChange: (items: T[]) => void;
  /** Objects the store should not hold (return false to skip one). */
  accept?: (obj: unknown) => obj is T;
  name?: string;
  logger?: Logger;
  random?: () => number;
  now?: () => number;
  backoff?: { initialMs?: number; maxMs?: number; resetMs?: number };
  /** Server-side watch timeout; default random in [300, 600) s. */
  watchTimeoutSeconds?: number;
}

/** An API error's HTTP status (ApiError `code` / `statusCode`, or a Status object). */
export function httpStatusOf(e: unknown): number | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const o = e as { code?: unknown; statusCode?: unknown };
  if (typeof o.statusCode === 'number') return o.statusCode;
  if (typeof o.code === 'number') return o.code;
  return undefined;
}

export class WatchExpiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchExpiredError';
  }
}

class WatchStatusError extends Error {
  constructor(
    message: string,
    readonly statusCode: number | undefined,
  ) {
    super(message);
    this.name = 'WatchStatusError';
  }
}

const rvOf = (o: unknown): string | undefined => (o as ObjectWithMeta | undefined)?.metadata?.resourceVersion;

export class Reflector<T> {
  private readonly store = new Map<string, T>();
  private resourceVersion = '';
  private stopped = false;
  private running: Promise<void> | undefined;
  private watch: WatchHandle | undefined;
  private wake: (() => void) | undefined;
  private backoffMs: number;
  private lastBackoffAt = 0;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly now: () => number;
  readonly stats: ReflectorStats = { lists: 0, watches: 0, expired: 0, errors: 0, events: 0, bookmarks: 0 };
  synced = false;

  constructor(private readonly o: ReflectorOptions<T>) {
    this.log = o.logger ?? silentLogger();
    this.random = o.random ?? Math.random;
    this.now = o.now ?? Date.now;
    this.backoffMs = o.backoff?.initialMs ?? BACKOFF_INITIAL_MS;
  }

  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.abort();
    this.wake?.();
    await this.running;
    this.running = undefined;
  }

  items(): T[] {
    return [...this.store.values()];
  }

  /** The resourceVersion the next watch starts from. */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Test hook: pretend the last version seen was `rv` and drop the current watch (to force a 410 with a too-old version). */
  resumeFrom(rv: string): void {
    this.resourceVersion = rv;
    this.watch?.abort();
  }

  private async run(): Promise<void> {
    let expiredInARow = 0;
    while (!this.stopped) {
      // A second 410 straight after a relist would spin: back off from then on.
      if (expiredInARow > 1) await this.sleepBackoff();
      try {
        await this.relist();
      } catch (e) {
        this.stats.errors++;
        this.log.warn({ reflector: this.o.name, err: e, status: httpStatusOf(e) }, 'list failed');
        await this.sleepBackoff();
        continue;
      }
      let failures = 0;
      while (!this.stopped) {
        const r = await this.watchOnce();
        if (r === 'ended') {
          failures = 0;
          expiredInARow = 0;
          continue;
        }
        if (r === 'expired') {
          expiredInARow++;
          break;
        }
        failures++;
        if (r === 'relist' || failures >= MAX_WATCH_FAILURES) break;
        await this.sleepBackoff();
      }
      if (!this.stopped && failures > 0) await this.sleepBackoff();
    }
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.o.lw.list({ limit: LIST_PAGE_SIZE, ...(cont ? { continue: cont } : {}) });
      for (const it of page.items) if (!this.o.accept || this.o.accept(it)) items.push(it);
      rv = page.resourceVersion;
      cont = page.continue || undefined;
    } while (cont && !this.stopped);
    if (this.stopped) return;
    this.stats.lists++;
    this.store.clear();
    for (const it of items) this.store.set(this.o.keyOf(it), it);
    this.resourceVersion = rv;
    this.synced = true;
    this.log.debug({ reflector: this.o.name, items: items.length, resourceVersion: rv }, 'listed');
    this.o.onChange(this.items());
  }

  /** One watch: 'ended' (clean close), 'expired' (410), 'retry' (transport error) or 'relist' (other error). */
  private async watchOnce(): Promise<'ended' | 'expired' | 'retry' | 'relist'> {
    const timeoutSeconds = this.o.watchTimeoutSeconds ?? Math.floor(MIN_WATCH_TIMEOUT_S * (1 + this.random()));
    let handle: WatchHandle;
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => handle.abort(), (timeoutSeconds + 30) * 1000);
      idle.unref();
    };
    let failure: Error | undefined;
    let events = 0;
    const started = this.now();
    this.stats.watches++;
    try {
      handle = this.o.lw.watch({ resourceVersion: this.resourceVersion, timeoutSeconds, allowWatchBookmarks: true }, (type, obj) => {
        if (failure || this.stopped) return;
        events++;
        arm();
        try {
          this.apply(type, obj);
        } catch (e) {
          failure = e as Error;
          handle.abort();
        }
      });
      this.watch = handle;
      arm();
      await handle.done;
      if (failure) throw failure;
    } catch (e) {
      const err = failure ?? e;
      if (this.stopped) return 'ended';
      const status = err instanceof WatchExpiredError ? 410 : httpStatusOf(err);
      if (status === 410) {
        this.stats.expired++;
        this.log.info({ reflector: this.o.name, resourceVersion: this.resourceVersion, reason: (err as Error).message }, 'watch expired; relisting');
        return 'expired';
      }
      this.stats.errors++;
      this.log.warn({ reflector: this.o.name, err, status }, 'watch failed');
      // No HTTP status: the connection failed or dropped; 429 / 5xx: the server is busy or restarting.
      return status === undefined || status === 429 || status >= 500 ? 'retry' : 'relist';
    } finally {
      if (idle) clearTimeout(idle);
      this.watch = undefined;
    }
    // A watch the server closes at once without a word would spin: treat it as a failure.
    if (events === 0 && this.now() - started < 1000 && !this.stopped) return 'retry';
    this.maybeResetBackoff();
    return 'ended';
  }

  private apply(type: WatchEventType, obj: unknown): void {
    if (type === 'ERROR') {
      const s = obj as { code?: number; reason?: string; message?: string };
      if (s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone') throw new WatchExpiredError(s.message ?? 'resource version too old');
      throw new WatchStatusError(`watch error event: ${s.message ?? s.reason ?? 'unknown'}`, s.code);
    }
    const rv = rvOf(obj);
    if (type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.resourceVersion = rv;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
    this.stats.events++;
    if (rv) this.resourceVersion = rv;
    if (this.o.accept && !this.o.accept(obj)) return;
    const item = obj as T;
    const key = this.o.keyOf(item);
    if (type === 'DELETED') {
      if (!this.store.delete(key)) return;
    } else this.store.set(key, item);
    this.o.onChange(this.items());
  }

  private maybeResetBackoff(): void {
    if (this.now() - this.lastBackoffAt > (this.o.backoff?.resetMs ?? BACKOFF_RESET_MS)) this.backoffMs = this.o.backoff?.initialMs ?? BACKOFF_INITIAL_MS;
  }

  private sleepBackoff(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.maybeResetBackoff();
    const d = this.backoffMs * (1 + this.random());
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.backoff?.maxMs ?? BACKOFF_MAX_MS);
    this.lastBackoffAt = this.now();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, d);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
