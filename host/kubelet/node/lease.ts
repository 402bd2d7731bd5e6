/**
 * The node's heartbeat: a Lease `kube-node-lease/<node>` (holder = the node, leaseDurationSeconds
 * 40 by default) renewed every leaseDuration × 0.25 (10 s), as upstream's lease controller does:
 * the Lease is got or created (owned by the Node, so it goes with it), then updated with a new
 * renewTime; a conflict or error is retried up to 5 times at once, then at the next tick after a
 * back-off (200 ms doubling to 7 s) — the node controller declares the node unreachable only after
 * the grace period without a renewal.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { PeriodicTask, realClock, type Clock } from '../clock.js';
import { isConflict, isNotFound, type RestClient } from '../client/rest.js';

export const LEASE_NAMESPACE = 'kube-node-lease';
export const RENEW_INTERVAL_FRACTION = 0.25;
export const MAX_UPDATE_RETRIES = 5;
export const BACKOFF_MIN_MS = 200;
export const BACKOFF_MAX_MS = 7_000;

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; ownerReferences?: unknown[] };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
}

/** RFC 3339 with microseconds (the API's MicroTime). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface LeaseOptions {
  api: RestClient;
  nodeName: string;
  leaseDurationSeconds: number;
  /** The Node's uid once known (owner reference of a Lease this controller creates). */
  nodeUid?: () => string | undefined;
  clock?: Clock;
  logger?: Logger;
}

export class NodeLease {
  private readonly task: PeriodicTask;
  private backoffMs = BACKOFF_MIN_MS;
  private latest: Lease | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly path: string;
  /** Time of the last successful renewal (0 = never). */
  lastRenewed = 0;

  constructor(private readonly o: LeaseOptions) {
    this.clock = o.clock ?? realClock;
    this.log = (o.logger ?? silentLogger()).child({ component: 'node-lease' });
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${encodeURIComponent(o.nodeName)}`;
    this.task = new PeriodicTask(this.clock, () => this.tick());
  }

  get intervalMs(): number {
    return this.o.leaseDurationSeconds * 1000 * RENEW_INTERVAL_FRACTION;
  }

  start(): void {
    this.task.start();
  }

  stop(): void {
    this.task.stop();
  }

  /** One renewal; the next comes after the interval, or after the back-off when it failed. */
  private async tick(): Promise<number> {
    let ok = false;
    try {
      ok = await this.renew();
    } catch (e) {
      this.log.warn({ err: e, node: this.o.nodeName }, 'node lease not renewed');
    }
    if (ok) {
      this.backoffMs = BACKOFF_MIN_MS;
      return this.intervalMs;
    }
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    return wait;
  }

  private spec(): Lease['spec'] {
    return { holderIdentity: this.o.nodeName, leaseDurationSeconds: this.o.leaseDurationSeconds, renewTime: microTime(this.clock.now()) };
  }

  private ownerRefs(): unknown[] | undefined {
    const uid = this.o.nodeUid?.();
    return uid ? [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid }] : undefined;
  }

  /** Gets the Lease, creating it when absent. */
  private async ensure(): Promise<Lease> {
    try {
      return await this.o.api.get<Lease>(this.path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const owners = this.ownerRefs();
    const body: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.o.nodeName, namespace: LEASE_NAMESPACE, ...(owners ? { ownerReferences: owners } : {}) },
      spec: this.spec(),
    };
    const created = await this.o.api.create<Lease>(this.path.slice(0, this.path.lastIndexOf('/')), body);
    this.lastRenewed = this.clock.now();
    return created;
  }

  /** One renewal (with retries on conflict); true when the Lease now carries a fresh renewTime. */
  async renew(): Promise<boolean> {
    if (!this.latest) {
      const before = this.lastRenewed;
      this.latest = await this.ensure();
      if (this.lastRenewed !== before) return true; // just created with a fresh renewTime
    }
    for (let i = 0; i < MAX_UPDATE_RETRIES; i++) {
      const base = this.latest!;
      const owners = base.metadata.ownerReferences?.length ? undefined : this.ownerRefs();
      const next: Lease = { ...base, metadata: { ...base.metadata, ...(owners ? { ownerReferences: owners } : {}) }, spec: { ...base.spec, ...this.spec() } };
      try {
        this.latest = await this.o.api.update<Lease>(this.path, next);
        this.lastRenewed = this.clock.now();
        return true;
      } catch (e) {
        if (isConflict(e) || isNotFound(e)) {
          this.latest = await this.ensure();
          continue;
        }
        this.latest = undefined;
        throw e;
      }
    }
    this.latest = undefined;
    return false;
  }
}
