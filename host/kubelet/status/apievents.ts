/**
 * Events to the API server as the upstream kubelet records them (client-go tools/record, our own
 * code): core/v1 Events in the pod's namespace with `involvedObject` = the pod (kind, namespace,
 * name, uid), `source.component` = kubelet and `source.host` = the node, `reportingComponent` /
 * `reportingInstance`, first/last timestamps and a count. The same event (object, type, reason,
 * message) seen again within 10 minutes PATCHes `count` and `lastTimestamp` of the first instead
 * of creating another. A token bucket per object (burst 25, one more every 5 minutes, as the
 * upstream spam filter) drops floods; the send queue holds at most 1000 events (oldest dropped).
 * Events without a pod uid (a broken manifest) stay local.
 *
 * API: `new ApiEventSink({ api, nodeName, pods })`; `record(e)` (EventRecorder.onEvent); `idle()`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import type { KubeEvent } from '../events.js';
import type { PodApi } from '../sources/apiclient.js';

export const EVENT_AGGREGATE_MS = 10 * 60_000;
export const EVENT_BURST = 25;
export const EVENT_REFILL_MS = 5 * 60_000;
export const EVENT_QUEUE_MAX = 1000;

export interface ApiEventSinkOptions {
  api: Pick<PodApi, 'createEvent' | 'patchEvent'>;
  nodeName: string;
  /** The API object an event's pod uid refers to (a static pod's events go to its mirror); undefined = do not send. */
  involvedObject?: (uid: string, object: string) => { namespace: string; name: string; uid: string } | undefined;
  now?: () => number;
  logger?: Logger;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  first: string;
  at: number;
}

export class ApiEventSink {
  private readonly queue: KubeEvent[] = [];
  private readonly seen = new Map<string, Seen>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sending: Promise<void> | undefined;
  private seq = 0;
  private readonly log: Logger;
  private readonly now: () => number;
  dropped = 0;

  constructor(private readonly o: ApiEventSinkOptions) {
    this.log = o.logger ?? silentLogger();
    this.now = o.now ?? Date.now;
  }

  record(e: KubeEvent): void {
    if (!e.uid) return;
    if (!this.allow(e.uid)) {
      this.dropped++;
      return;
    }
    this.queue.push(e);
    if (this.queue.length > EVENT_QUEUE_MAX) {
      this.queue.shift();
      this.dropped++;
    }
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  idle(): Promise<void> {
    return this.sending ?? Promise.resolve();
  }

  private allow(key: string): boolean {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: EVENT_BURST, at: now };
    const refill = Math.floor((now - b.at) / EVENT_REFILL_MS);
    if (refill > 0) {
      b.tokens = Math.min(EVENT_BURST, b.tokens + refill);
      b.at += refill * EVENT_REFILL_MS;
    }
    this.buckets.set(key, b);
    if (b.tokens <= 0) return false;
    b.tokens--;
    return true;
  }

  private async drain(): Promise<void> {
    for (let e = this.queue.shift(); e; e = this.queue.shift()) {
      try {
        await this.send(e);
      } catch (err) {
        this.log.warn({ pod: e.object, reason: e.reason, err }, 'event not recorded in the API server');
      }
    }
  }

  private async send(e: KubeEvent): Promise<void> {
    const obj = this.o.involvedObject ? this.o.involvedObject(e.uid!, e.object) : defaultObject(e);
    if (!obj) return;
    const key = JSON.stringify([obj.uid, e.type, e.reason, e.message]);
    const now = this.now();
    const prev = this.seen.get(key);
    if (prev && now - prev.at < EVENT_AGGREGATE_MS) {
      prev.count++;
      prev.at = now;
      try {
        await this.o.api.patchEvent({ namespace: prev.namespace, name: prev.name }, { count: prev.count, lastTimestamp: e.time });
        return;
      } catch {
        // gone (events expire after an hour): create a new one below
      }
    }
    const name = `${obj.name}.${(BigInt(now) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    await this.o.api.createEvent(obj.namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: obj.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: obj.namespace, name: obj.name, uid: obj.uid },
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: 'kubelet', host: this.o.nodeName },
      reportingComponent: 'kubelet',
      reportingInstance: this.o.nodeName,
      firstTimestamp: e.time,
      lastTimestamp: e.time,
      count: 1,
    });
    this.seen.set(key, { name, namespace: obj.namespace, count: 1, first: e.time, at: now });
    if (this.seen.size > 4096) for (const [k, s] of this.seen) if (now - s.at >= EVENT_AGGREGATE_MS) this.seen.delete(k);
  }
}

function defaultObject(e: KubeEvent): { namespace: string; name: string; uid: string } | undefined {
  const i = e.object.indexOf('/');
  if (i <= 0 || !e.uid) return undefined;
  return { namespace: e.object.slice(0, i), name: e.object.slice(i + 1), uid: e.uid };
}
