/**
 * The clock seam: everything in the kubelet that reads time or waits goes through a `Clock`, so
 * unit tests drive time with `FakeClock` (advance() fires due timers in order).
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms`; the returned handle cancels it. Timers never keep the process alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
}

/** Node's timers hold a signed 32-bit millisecond count; a longer one would fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    // A wait longer than Node can hold (a certificate rotated in months) is a chain of shorter ones
    // towards the same deadline.
    const due = Date.now() + Math.max(0, ms);
    let t: NodeJS.Timeout;
    const arm = (): void => {
      const left = due - Date.now();
      t = setTimeout(left > MAX_TIMER_MS ? arm : fn, Math.min(Math.max(0, left), MAX_TIMER_MS));
      t.unref();
    };
    arm();
    return { cancel: () => clearTimeout(t) };
  },
};

/** Resolves after `ms` on `clock` (or at once when aborted). */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const h = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      h.cancel();
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A loop on a clock: `start()` runs a round at once; each round returns the milliseconds until the
 * next (or undefined when it armed its own timer with `after`); `stop()` cancels what is pending,
 * and nothing is scheduled once stopped. One timer is pending at most.
 */
export class PeriodicTask {
  private timer: TimerHandle | undefined;
  private active = false;

  constructor(
    private readonly clock: Clock,
    private readonly round: () => Promise<number | undefined>,
  ) {}

  get running(): boolean {
    return this.active;
  }

  start(): void {
    this.active = true;
    this.after(0, () => this.run());
  }

  stop(): void {
    this.active = false;
    this.timer?.cancel();
  }

  /** Runs `fn` after `ms` unless stopped first (replaces nothing: a round arms one timer at a time). */
  after(ms: number, fn: () => void): void {
    if (!this.active) return;
    this.timer = this.clock.setTimer(fn, ms);
  }

  /** A round now; what it returns schedules the next. */
  run(): void {
    void this.round().then((ms) => {
      if (ms !== undefined) this.after(ms, () => this.run());
    });
  }
}

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== timer)) };
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order (and letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await flushMicrotasks();
  }
}

/** Lets pending promise chains (including a few hops through the event loop) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
