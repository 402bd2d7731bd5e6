/**
 * Kubernetes-style events kept in memory (bounded) and logged: `record(pod, type, reason, message)`.
 * The status file carries the newest ones so `cocolet status` shows why a pod is not running.
 */
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';

export interface KubeEvent {
  time: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** `namespace/name` or a manifest path for pods that could not be decoded. */
  object: string;
  uid?: string;
}

export class EventRecorder {
  private readonly events: KubeEvent[] = [];
  private readonly listeners: ((e: KubeEvent) => void)[] = [];

  constructor(
    private readonly log: Logger = silentLogger(),
    private readonly max = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  record(object: string, type: KubeEvent['type'], reason: string, message: string, uid?: string): void {
    const e: KubeEvent = { time: new Date(this.now()).toISOString(), type, reason, message, object, ...(uid ? { uid } : {}) };
    this.events.push(e);
    if (this.events.length > this.max) this.events.splice(0, this.events.length - this.max);
    for (const l of this.listeners) l(e);
    if (type === 'Warning') this.log.warn({ pod: object, reason, detail: message }, 'event');
    else this.log.info({ pod: object, reason, detail: message }, 'event');
  }

  onEvent(cb: (e: KubeEvent) => void): void {
    this.listeners.push(cb);
  }

  list(filter?: { object?: string; uid?: string; reason?: string }): KubeEvent[] {
    return this.events.filter(
      (e) => (!filter?.object || e.object === filter.object) && (!filter?.uid || e.uid === filter.uid) && (!filter?.reason || e.reason === filter.reason),
    );
  }
}
