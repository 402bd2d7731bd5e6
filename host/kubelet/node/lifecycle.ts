/**
 * The Node object of this kubelet, with the node's own credentials (Node,RBAC + NodeRestriction):
 *
 *   - registration (unless registerNode is false: then the Node is waited for, never created): POST the Node with its labels and full status; when it exists already
 *     (409, a restarted kubelet), GET it — a node may read its own Node — and merge-patch its labels
 *     and status, keeping the conditions' transition times. Retried with back-off (100 ms doubling
 *     to 7 s) until it succeeds; pods run meanwhile.
 *   - status: computed every nodeStatusUpdateFrequency (10 s) and sent by merge PATCH to
 *     `nodes/<name>/status` (never read-modify-write: a node may not GET that subresource) when it
 *     changed (anything but heartbeat times) or nodeStatusReportFrequency (5 min) has passed since
 *     the last report, as upstream does once leases carry the heartbeat; up to 5 tries per tick.
 *   - the Lease (lease.ts), started once the Node exists (it is owned by the Node).
 *   - fast first Ready (upstream's fastStatusUpdateOnce): a Node registered NotReady (the runtime,
 *     the network or the PLEG not ready yet: a kubelet just started has not relisted) has its
 *     readiness checked every 100 ms, and the status is sent the moment it turns Ready instead of
 *     at the next 10 s tick; the check gives up after 2 min (the regular ticks go on).
 *
 * API: `const n = new NodeLifecycle({...}); n.start(); ...; n.stop();` — `await n.syncStatus(true)`
 * reports at once (tests, shutdown paths).
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { realClock, type Clock, type TimerHandle } from '../clock.js';
import type { NodeAddress, NodeSystemInfo } from './info.js';
import { NodeLease } from './lease.js';
import { machineResources, readMachineFacts, type AllocatableInput, type MachineFacts, type NodeConditionSource, type NodeResourceSource } from './resources.js';
import { isConflict, isNotFound, type RestClient } from '../client/rest.js';
import { buildNodeStatus, statusChanged, type NodeCondition, type NodeStatus } from './status.js';

export const DEFAULT_STATUS_UPDATE_MS = 10_000;
export const DEFAULT_STATUS_REPORT_MS = 5 * 60_000;
export const STATUS_UPDATE_RETRIES = 5;
export const REGISTER_BACKOFF_MIN_MS = 100;
export const REGISTER_BACKOFF_MAX_MS = 7_000;
export const FAST_READY_INTERVAL_MS = 100;
export const FAST_READY_LIMIT_MS = 120_000;

export interface NodeTaint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodeLifecycleOptions {
  api: RestClient;
  nodeName: string;
  rootDir: string;
  labels: Record<string, string>;
  addresses: NodeAddress[];
  /** The port of the kubelet's HTTPS API (daemonEndpoints; 0 when not serving). */
  kubeletPort: () => number;
  /** CRI Version (containerd name and version for nodeInfo). */
  runtimeVersion: () => Promise<{ runtimeName: string; runtimeVersion: string }>;
  /** Whether the node can run pods (runtime, network, PLEG); the message says why not. */
  ready: () => Promise<{ ok: boolean; message: string }>;
  nodeInfo: (runtime: { runtimeName: string; runtimeVersion: string }) => NodeSystemInfo;
  /** Reservations for the machine's own figures; unneeded when `resources` gives them all (the container manager). */
  allocatable?: AllocatableInput;
  statusUpdateMs?: number;
  statusReportMs?: number;
  leaseDurationSeconds?: number;
  registerWithTaints?: NodeTaint[];
  /** registerNode (default true). false: the Node is made by someone else; the kubelet waits for it, then reports its status and renews its Lease. */
  registerNode?: boolean;
  resources?: NodeResourceSource;
  conditions?: NodeConditionSource;
  machine?: () => MachineFacts;
  clock?: Clock;
  logger?: Logger;
}

interface NodeObject {
  metadata: { name: string; uid?: string; labels?: Record<string, string> };
  status?: { conditions?: NodeCondition[] };
}

export class NodeLifecycle {
  readonly lease: NodeLease;
  /** The Node's uid once registered. */
  uid: string | undefined;
  /** Set once the Node exists in the API. */
  registered = false;
  /** Time of the last status report that reached the API (0 = none). */
  lastReported = 0;
  private lastStatus: NodeStatus | undefined;
  private running = false;
  private timer: TimerHandle | undefined;
  private fastTimer: TimerHandle | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly nodePath: string;
  private syncing: Promise<void> | undefined;
  /** Run at stop (unsubscriptions of the wiring). */
  readonly onStop: (() => void)[] = [];

  constructor(private readonly o: NodeLifecycleOptions) {
    this.clock = o.clock ?? realClock;
    this.log = (o.logger ?? silentLogger()).child({ component: 'node-lifecycle', node: o.nodeName });
    this.nodePath = `/api/v1/nodes/${encodeURIComponent(o.nodeName)}`;
    this.lease = new NodeLease({ api: o.api, nodeName: o.nodeName, leaseDurationSeconds: o.leaseDurationSeconds ?? 40, nodeUid: () => this.uid, clock: this.clock, logger: o.logger });
  }

  start(): void {
    this.running = true;
    void this.registerLoop();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.fastTimer?.cancel();
    this.lease.stop();
    for (const f of this.onStop.splice(0)) f();
  }

  /** The status as of now (not sent). */
  async computeStatus(): Promise<NodeStatus> {
    const runtime = await this.o.runtimeVersion().catch(() => ({ runtimeName: 'unknown', runtimeVersion: 'unknown' }));
    const machine = this.o.allocatable || !this.o.resources ? machineResources((this.o.machine ?? (() => readMachineFacts(this.o.rootDir)))(), this.o.allocatable ?? { maxPods: 110 }) : { capacity: {}, allocatable: {} };
    const resources = this.o.resources ? this.o.resources.resources(machine) : machine;
    const ready = await this.o.ready().catch((e: unknown) => ({ ok: false, message: `readiness check failed: ${e instanceof Error ? e.message : String(e)}` }));
    return buildNodeStatus({
      now: new Date(this.clock.now()),
      resources,
      ready,
      pressure: (t) => this.o.conditions?.pressure(t) ?? { pressure: false },
      addresses: this.o.addresses,
      nodeInfo: this.o.nodeInfo(runtime),
      kubeletPort: this.o.kubeletPort(),
      ...(this.lastStatus ? { previous: this.lastStatus.conditions } : {}),
    });
  }

  /** Creates the Node, or (already there) patches its labels and status. */
  async register(): Promise<void> {
    if (this.o.registerNode === false) return this.adopt();
    const status = await this.computeStatus();
    const body = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.o.nodeName,
        labels: this.o.labels,
        annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      },
      spec: this.o.registerWithTaints?.length ? { taints: this.o.registerWithTaints } : {},
      status,
    };
    try {
      const created = await this.o.api.create<NodeObject>('/api/v1/nodes', body);
      this.uid = created.metadata.uid;
      this.lastStatus = status;
      this.lastReported = this.clock.now();
      this.log.info({ uid: this.uid }, 'node registered');
      return;
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    const existing = await this.o.api.get<NodeObject>(this.nodePath);
    this.uid = existing.metadata.uid;
    const patched = await this.o.api.patch<NodeObject>(this.nodePath, { metadata: { labels: this.o.labels } });
    this.uid = patched.metadata.uid ?? this.uid;
    // Transition times carry over from what the API has (a restart is not a transition).
    this.lastStatus = { ...status, conditions: existing.status?.conditions ?? [] };
    await this.syncStatus(true);
    this.log.info({ uid: this.uid }, 'node already registered; labels and status updated');
  }

  /** registerNode: false — the Node must exist (404 is retried); its status is reported, its labels left alone. */
  private async adopt(): Promise<void> {
    let existing: NodeObject;
    try {
      existing = await this.o.api.get<NodeObject>(this.nodePath);
    } catch (e) {
      if (isNotFound(e)) throw new Error(`Node ${this.o.nodeName} does not exist and registerNode is false: waiting for it to be created`);
      throw e;
    }
    this.uid = existing.metadata.uid;
    this.lastStatus = { ...(await this.computeStatus()), conditions: existing.status?.conditions ?? [] };
    await this.syncStatus(true);
    this.log.info({ uid: this.uid }, 'node found (registerNode: false); status reported');
  }

  private async registerLoop(): Promise<void> {
    let backoff = REGISTER_BACKOFF_MIN_MS;
    while (this.running && !this.registered) {
      try {
        await this.register();
        this.registered = true;
      } catch (e) {
        this.log.warn({ err: e }, 'node registration failed');
        await new Promise<void>((r) => (this.timer = this.clock.setTimer(r, backoff)));
        backoff = Math.min(backoff * 2, REGISTER_BACKOFF_MAX_MS);
      }
    }
    if (!this.running) return;
    this.lease.start();
    this.scheduleStatus();
    if (!isReady(this.lastStatus)) this.fastReady(this.clock.now() + FAST_READY_LIMIT_MS, 0);
  }

  /**
   * Something Ready depends on changed (the PLEG's first relist): a registered Node not yet reported
   * Ready is checked now rather than at the next 100 ms tick.
   */
  readinessChanged(): void {
    if (this.running && this.registered && !isReady(this.lastStatus)) void this.checkReady();
  }

  private async checkReady(): Promise<void> {
    const r = await this.o.ready().catch(() => ({ ok: false }));
    if (r.ok && this.running && !isReady(this.lastStatus)) {
      this.log.debug({}, 'node ready; reporting at once');
      await this.syncStatus(true);
    }
  }

  /** Until the reported status is Ready: check readiness every 100 ms (the first after `delay`), report as soon as it holds. */
  private fastReady(until: number, delay = FAST_READY_INTERVAL_MS): void {
    if (!this.running || isReady(this.lastStatus) || this.clock.now() >= until) return;
    this.fastTimer = this.clock.setTimer(() => void this.checkReady().finally(() => this.fastReady(until)), delay);
  }

  private scheduleStatus(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimer(() => {
      void this.syncStatus(false).finally(() => this.scheduleStatus());
    }, this.o.statusUpdateMs ?? DEFAULT_STATUS_UPDATE_MS);
  }

  /** Computes the status and sends it when changed, due, or `force`d. */
  syncStatus(force: boolean): Promise<void> {
    this.syncing ??= this.doSync(force).finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async doSync(force: boolean): Promise<void> {
    for (let i = 0; i < STATUS_UPDATE_RETRIES; i++) {
      try {
        const next = await this.computeStatus();
        const due = this.clock.now() - this.lastReported >= (this.o.statusReportMs ?? DEFAULT_STATUS_REPORT_MS);
        if (!force && !due && !statusChanged(this.lastStatus, next)) return;
        await this.o.api.patch(`${this.nodePath}/status`, { status: withRemovals(this.lastStatus, next) });
        this.lastStatus = next;
        this.lastReported = this.clock.now();
        return;
      } catch (e) {
        this.log.warn({ err: e, attempt: i + 1 }, 'node status update failed');
      }
    }
  }
}

const isReady = (s: NodeStatus | undefined): boolean => s?.conditions.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** A merge patch deletes map keys only when told: resources no longer reported become null. */
function withRemovals(prev: NodeStatus | undefined, next: NodeStatus): unknown {
  if (!prev) return next;
  const gone = (a: Record<string, string>, b: Record<string, string>): Record<string, string | null> => {
    const out: Record<string, string | null> = { ...b };
    for (const k of Object.keys(a)) if (!(k in b)) out[k] = null;
    return out;
  };
  return { ...next, capacity: gone(prev.capacity, next.capacity), allocatable: gone(prev.allocatable, next.allocatable) };
}
