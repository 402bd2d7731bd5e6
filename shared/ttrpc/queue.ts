/**
 * A single-consumer async queue with a high-water mark, used for the messages received on one
 * stream. `onPressure(true)` fires when it grows past the mark and `onPressure(false)` when the
 * consumer has drained it, so the connection can pause and resume its transport.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private ended = false;
  private failure: unknown;
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private pressured = false;
  private consumed = false;

  constructor(
    private readonly highWaterMark = 64,
    private readonly onPressure?: (high: boolean) => void,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get done(): boolean {
    return this.ended;
  }

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.pressured && this.length > this.highWaterMark) {
      this.pressured = true;
      this.onPressure?.(true);
    }
  }

  /** Ends the queue; queued items are still delivered first. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.settleWaiter();
  }

  /** Ends the queue with an error delivered after the queued items. */
  fail(e: unknown): void {
    if (this.ended) return;
    this.failure = e;
    this.ended = true;
    this.settleWaiter();
  }

  /** Drops everything queued (used when the consumer goes away). */
  clear(): void {
    this.items.length = 0;
    this.head = 0;
    this.release();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.length > 0) {
      const v = this.items[this.head]!;
      this.items[this.head] = undefined as T;
      this.head++;
      if (this.head === this.items.length) {
        this.items.length = 0;
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      if (this.pressured && this.length <= this.highWaterMark / 2) this.release();
      return Promise.resolve({ value: v, done: false });
    }
    if (this.ended) {
      if (this.failure !== undefined) {
        const f = this.failure;
        this.failure = undefined;
        return Promise.reject(f);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new Error('AsyncQueue can be iterated once');
    this.consumed = true;
    return {
      next: () => this.next(),
      return: () => {
        this.clear();
        this.ended = true;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private release(): void {
    if (this.pressured) {
      this.pressured = false;
      this.onPressure?.(false);
    }
  }

  private settleWaiter(): void {
    if (!this.waiter || this.length > 0) return;
    const w = this.waiter;
    this.waiter = undefined;
    if (this.failure !== undefined) {
      const f = this.failure;
      this.failure = undefined;
      w.reject(f);
    } else w.resolve({ value: undefined, done: true });
  }
}
