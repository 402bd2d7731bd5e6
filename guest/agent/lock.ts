/**
 * The measurement lock: until init-data is measured into a TEE register (initdata/measure.ts),
 * the agent answers only grpc.Health and GetGuestDetails. Every other request waits for the
 * measurement; it proceeds (to the policy gate) once it succeeded and is refused with the reason
 * once it failed. It is the first server interceptor, so nothing reaches the gate or a handler
 * around it.
 */
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { ServerInterceptor } from '../../shared/ttrpc/index.js';
import { HEALTH_SERVICE } from '../policy/gate.js';

/** Requests served before init-data is measured (they carry no data and change nothing). */
export const UNLOCKED_METHODS: ReadonlySet<string> = new Set(['GetGuestDetails']);

export type LockState = { state: 'pending' } | { state: 'open' } | { state: 'failed'; reason: string };

export class MeasurementLock {
  private current: LockState = { state: 'pending' };
  private readonly settled: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: Error) => void;

  constructor() {
    this.settled = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // a failure with no request waiting is not an unhandled rejection
    this.settled.catch(() => undefined);
  }

  get state(): LockState {
    return this.current;
  }

  open(): void {
    if (this.current.state !== 'pending') return;
    this.current = { state: 'open' };
    this.resolve();
  }

  fail(reason: string): void {
    if (this.current.state !== 'pending') return;
    this.current = { state: 'failed', reason };
    this.reject(new CocoletError(ErrorCode.FailedPrecondition, `agent stopped: ${reason}`));
  }

  /** Whether a call passes while the lock is not open. */
  static unlocked(service: string, method: string): boolean {
    return service === HEALTH_SERVICE || UNLOCKED_METHODS.has(method);
  }

  interceptor(): ServerInterceptor {
    return async (call, next) => {
      if (this.current.state !== 'open' && !MeasurementLock.unlocked(call.ctx.service, call.ctx.method)) {
        const signal = call.ctx.signal;
        await Promise.race([
          this.settled,
          new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new CocoletError(ErrorCode.Cancelled, `${call.ctx.method} cancelled while init-data was being measured`)), { once: true })),
        ]);
      }
      return await next();
    };
  }
}
