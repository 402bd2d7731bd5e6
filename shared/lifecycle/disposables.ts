/**
 * Explicit lifecycles: everything that owns a process, socket, timer, mount or VM registers its
 * teardown in a DisposableStack-like store, so teardown is one call and runs in reverse order,
 * and every failure during teardown is collected instead of stopping the rest.
 */

export type Teardown = () => void | Promise<void>;

export class DisposableStore {
  private readonly items: { name: string; fn: Teardown }[] = [];
  private disposed = false;

  get isDisposed(): boolean {
    return this.disposed;
  }

  get size(): number {
    return this.items.length;
  }

  /** Registers a teardown; if the store is already disposed it runs at once. */
  add(name: string, fn: Teardown): void {
    if (this.disposed) {
      void Promise.resolve().then(fn).catch(() => undefined);
      return;
    }
    this.items.push({ name, fn });
  }

  /** Registers an object with an async or sync dispose method. */
  use<T extends AsyncDisposable | Disposable>(name: string, value: T): T {
    this.add(name, async () => {
      if (Symbol.asyncDispose in value) await (value as AsyncDisposable)[Symbol.asyncDispose]();
      else (value as Disposable)[Symbol.dispose]();
    });
    return value;
  }

  /** A timer that is cleared on dispose. */
  setInterval(name: string, fn: () => void, ms: number): NodeJS.Timeout {
    const t = setInterval(fn, ms);
    t.unref();
    this.add(name, () => clearInterval(t));
    return t;
  }

  /** Runs every teardown in reverse order; throws an AggregateError naming each failure. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const errors: Error[] = [];
    while (this.items.length > 0) {
      const item = this.items.pop()!;
      try {
        await item.fn();
      } catch (e) {
        errors.push(new Error(`teardown of ${item.name} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} teardown step(s) failed`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when aborted. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
