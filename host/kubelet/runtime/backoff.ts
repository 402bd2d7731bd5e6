/**
 * Per-key exponential back-off (client-go util/flowcontrol/backoff.go), used for
 * CrashLoopBackOff (10 s doubling to 5 min) and image pulls. An entry expires (resets to the
 * initial delay) when more than 2×max passes between two events.
 */
import type { Clock } from '../clock.js';

export const INITIAL_CRASHLOOP_BACKOFF_MS = 10_000;
export const MAX_CRASHLOOP_BACKOFF_MS = 300_000;

interface Entry {
  backoff: number;
  lastUpdate: number;
}

export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    readonly initialMs = INITIAL_CRASHLOOP_BACKOFF_MS,
    readonly maxMs = MAX_CRASHLOOP_BACKOFF_MS,
  ) {}

  private expired(eventTime: number, lastUpdate: number): boolean {
    return eventTime - lastUpdate > 2 * this.maxMs;
  }

  /** Records an event at `eventTime` and grows the delay. */
  next(key: string, eventTime: number): void {
    const e = this.entries.get(key);
    if (!e || this.expired(eventTime, e.lastUpdate)) this.entries.set(key, { backoff: this.initialMs, lastUpdate: eventTime });
    else this.entries.set(key, { backoff: Math.min(e.backoff * 2, this.maxMs), lastUpdate: eventTime });
  }

  /** True while `now - eventTime` is shorter than the key's current delay. */
  isInBackOffSince(key: string, eventTime: number): boolean {
    const e = this.entries.get(key);
    if (!e || this.expired(eventTime, e.lastUpdate)) return false;
    return this.clock.now() - eventTime < e.backoff;
  }

  /** True while less than the key's delay has passed since its last event. */
  isInBackOffSinceUpdate(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    const now = this.clock.now();
    if (this.expired(now, e.lastUpdate)) return false;
    return now - e.lastUpdate < e.backoff;
  }

  /** The key's current delay (0 when none). */
  get(key: string): number {
    return this.entries.get(key)?.backoff ?? 0;
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Drops entries whose last event is older than 2×max (garbage collection). */
  gc(): void {
    const now = this.clock.now();
    for (const [k, e] of this.entries) if (this.expired(now, e.lastUpdate)) this.entries.delete(k);
  }
}
