/**
 * Ready-made interceptors. Metric names live with the component that owns the metrics: these only
 * measure and hand the observation to a callback (e.g. a prom-client histogram's observe).
 */
import { statusCodeOf } from '../errors/index.js';
import type { ClientInterceptor, ServerInterceptor } from './types.js';

export interface CallObservation {
  /** `/service/method`. */
  fullMethod: string;
  kind: string;
  /** google.rpc.Code the call ended with (0 = OK). */
  code: number;
  seconds: number;
}

/** Runs `next`, then reports how long it took and the status code it ended with. */
async function timed<T>(observe: (o: CallObservation) => void, fullMethod: string, kind: string, next: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  let code = 0;
  try {
    return await next();
  } catch (e) {
    code = statusCodeOf(e);
    throw e;
  } finally {
    observe({ fullMethod, kind, code, seconds: (performance.now() - t0) / 1000 });
  }
}

/** Times every server call and reports it with its status code. */
export function observeServerCalls(observe: (o: CallObservation) => void): ServerInterceptor {
  return (call, next) => timed(observe, call.ctx.fullMethod, call.kind, next);
}

/** Times every client call made through createClient and reports it with its status code. */
export function observeClientCalls(observe: (o: CallObservation) => void): ClientInterceptor {
  return (call, next) => timed(observe, `/${call.service}/${call.method}`, call.kind, next);
}
