/**
 * The one gate every agent request passes: trace → policy check → handler → one error mapping.
 * It is a ttrpc server interceptor, so no handler can be reached around it. Each decision is
 * logged (method, rule, reason — never payloads) and counted.
 */
import { channel } from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { ServerInterceptor } from '../../shared/ttrpc/index.js';
import type { PolicyDocument } from './document.js';
import { PolicyEngine, type Decision } from './engine.js';
import type { PulledImageConfig } from './container.js';
import type { CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';

/** Tracing channel (costs nothing without subscribers). */
export const rpcChannel = channel('cocolet:agent:rpc');

/** Wire name of the health service. */
export const HEALTH_SERVICE = 'grpc.Health';

export interface DecisionCounts {
  [methodAndResult: string]: number;
}

export class PolicyGate {
  private engine: PolicyEngine;
  /** Per method: allowed and denied counts (no key string built per decision). */
  private readonly counts = new Map<string, { allowed: number; denied: number }>();

  /** `processMode`: the agent runs on the host, NOT confidential (see PolicyEngine). */
  constructor(doc: PolicyDocument, private readonly log: Logger, private readonly processMode = false) {
    this.engine = new PolicyEngine(doc, processMode);
  }

  /** Whether the current policy pins image digests. */
  pinsImageDigests(): boolean {
    return this.engine.pinsImageDigests();
  }

  /** Whether the current policy would allow `method` with `request` (not recorded as a decision). */
  wouldAllow(method: string, request: unknown): boolean {
    return this.engine.evaluate(method, request).allowed;
  }

  get policyName(): string {
    return this.engine.name;
  }

  /** Whether the container entry a request matched keeps setuid/setgid bits of its image's layers. */
  keepsSetuid(req: CreateContainerRequest): boolean {
    return this.engine.keepsSetuid(req);
  }

  /** Replaces the policy (SetPolicy, when the current policy allowed it). */
  replace(doc: PolicyDocument): void {
    this.engine = new PolicyEngine(doc, this.processMode);
    this.log.info({ policy: doc.name }, 'policy replaced');
  }

  /** Decision counts keyed `<method>:<allowed|denied>`. */
  decisionCounts(): DecisionCounts {
    const out: DecisionCounts = {};
    for (const [method, c] of this.counts) {
      if (c.allowed > 0) out[`${method}:allowed`] = c.allowed;
      if (c.denied > 0) out[`${method}:denied`] = c.denied;
    }
    return out;
  }

  private record(method: string, d: Decision): void {
    let c = this.counts.get(method);
    if (c === undefined) this.counts.set(method, (c = { allowed: 0, denied: 0 }));
    if (d.allowed) c.allowed++;
    else c.denied++;
    const fields = { rpc: method, rule: d.rule, reason: d.reason, policy: this.engine.name };
    if (d.allowed) this.log.info(fields, 'policy allowed request');
    else this.log.warn(fields, 'policy denied request');
  }

  /** Checks one request; throws PERMISSION_DENIED naming the request and the rule. */
  check(method: string, request: unknown): void {
    this.enforce(method, this.engine.evaluate(method, request));
  }

  private enforce(method: string, d: Decision): void {
    this.record(method, d);
    if (!d.allowed) {
      throw new CocoletError(ErrorCode.PolicyDenied, `${method} is blocked by policy: ${d.rule}: ${d.reason}`, { context: { rpc: method, rule: d.rule } });
    }
  }

  /** Later check once the guest resolved the image manifest (before any layer is fetched). */
  checkImageDigest(req: CreateContainerRequest, digest: string): void {
    const d = this.engine.checkImageDigest(req, digest);
    if (!d.allowed) this.enforce('CreateContainer', d); // the request was counted as allowed already; count the denial
  }

  /** Later check of what the policy leaves to the image, against the pulled image's config. */
  checkImageConfig(req: CreateContainerRequest, config: PulledImageConfig | undefined): void {
    const d = this.engine.checkImageConfig(req, config);
    if (!d.allowed) this.enforce('CreateContainer', d);
  }

  /** The server interceptor. */
  interceptor(): ServerInterceptor {
    return async (call, next) => {
      const method = call.ctx.method;
      const started = performance.now();
      if (rpcChannel.hasSubscribers) rpcChannel.publish({ phase: 'start', method });
      try {
        // Liveness (grpc.Health) carries no data and changes nothing: never policy-gated.
        if (call.ctx.service !== HEALTH_SERVICE) this.check(method, call.request);
        return await next();
      } catch (e) {
        throw this.mapError(method, e);
      } finally {
        if (rpcChannel.hasSubscribers) rpcChannel.publish({ phase: 'end', method, ms: performance.now() - started });
      }
    };
  }

  /** Every failure leaves as a CocoletError with the rpc in its context; unknown errors become INTERNAL. */
  private mapError(method: string, e: unknown): CocoletError {
    if (e instanceof CocoletError) {
      if (e.code !== ErrorCode.PolicyDenied) this.log.info({ rpc: method, code: e.code, err: e.message }, 'request failed');
      return e.withContext({ rpc: method });
    }
    this.log.error({ rpc: method, err: e instanceof Error ? e.message : String(e) }, 'request failed unexpectedly');
    return new CocoletError(ErrorCode.Internal, `${method} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e, context: { rpc: method } });
  }
}
