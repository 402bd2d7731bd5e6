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

/** Methods with a cached allow logger per decision (the agent service has fewer). */
const MAX_METHODS = 64;

/** Wire name of the health service. */
export const HEALTH_SERVICE = 'grpc.Health';

export interface DecisionCounts {
  [methodAndResult: string]: number;
}

export class PolicyGate {
  private engine: PolicyEngine;
  /** Per method: allowed and denied counts (no key string built per decision). */
  private readonly counts = new Map<string, { allowed: number; denied: number }>();
  /** Per allow decision and method, its logger (see allowLog); allow decisions are the engine's own objects, so a new policy drops them. */
  private allowLogs = new WeakMap<Decision, Map<string, Logger>>();

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
    this.allowLogs = new WeakMap();
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
    if (d.allowed) this.allowLog(method, d)?.info('policy allowed request');
    else this.log.warn({ rpc: method, rule: d.rule, reason: d.reason, policy: this.engine.name }, 'policy denied request');
  }

  /**
   * The logger of an allowed decision: a child with the decision's fields bound, made once per
   * method and allow decision (the engine makes those once per rule or container entry), so an
   * allowed request writes the same line as `log.info(fields, msg)` without building or redacting
   * a fields object each time. Undefined when info is not logged.
   */
  private allowLog(method: string, d: Decision): Logger | undefined {
    if (!this.log.isLevelEnabled('info')) return undefined;
    let byMethod = this.allowLogs.get(d);
    if (byMethod === undefined) this.allowLogs.set(d, (byMethod = new Map()));
    let child = byMethod.get(method);
    if (child === undefined) {
      if (byMethod.size >= MAX_METHODS) byMethod.clear(); // method names come from the host: keep the cache bounded
      byMethod.set(method, (child = this.log.child({ rpc: method, rule: d.rule, reason: d.reason, policy: this.engine.name })));
    }
    return child;
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
