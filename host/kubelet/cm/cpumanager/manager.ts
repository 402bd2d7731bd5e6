/**
 * The CPU manager (upstream `cpumanager/cpu_manager.go`): the configured policy (`none` or
 * `static`), its state written through to `<root-dir>/cpu_manager_state`, the topology manager's
 * hint provider, the cpuset a new container gets, and the reconcile loop.
 *
 * Better than upstream, a checkpoint that is unreadable, fails its checksum, names another policy
 * or no longer fits the configuration (reserved CPUs changed, CPUs went offline) does not stop the
 * kubelet: the file is moved aside as `cpu_manager_state.corrupt-<time>`, every assignment that
 * still fits is kept (each decision logged with pod and container), and the state is rebuilt
 * around them; pods re-admitted after the restart get CPUs again. Assignments of pods that are no
 * longer active are released by the reconcile loop, so exclusive CPUs never leak.
 *
 * Reconcile (every cpuManagerReconcilePeriod, default 10 s, static policy only): drops the
 * assignments of containers whose pod is gone (once the pod sources are ready), then gives every
 * running container of an active pod its cpuset (exclusive CPUs, or the shared pool) through CRI
 * UpdateContainerResources, skipping containers already given that set.
 */
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import type { Logger } from '../../../../shared/log/logger.js';
import { silentLogger } from '../../../../shared/log/logger.js';
import type { Container, Pod } from '../../api/types.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import { CpuTopology } from '../machine/topology.js';
import type { HintProvider, MachineTopology, ResourceHints, TopologyHint } from '../types.js';
import { CPU_MANAGER_STATE_FILE, quarantineCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { gatesFrom, parseStaticPolicyOptions } from './options.js';
import { cpuQuantity, StaticPolicy } from './policy-static.js';
import { CpuState, type Assignment } from './state.js';

export const DEFAULT_RECONCILE_PERIOD_MS = 10_000;

export interface CpuManagerOptions {
  /** cpuManagerPolicy: `none` (default) or `static`. */
  policy?: string;
  policyOptions?: Record<string, string> | null;
  /** KubeletConfiguration featureGates (CPUManagerPolicyAlphaOptions / BetaOptions). */
  featureGates?: unknown;
  /** reservedSystemCPUs (Linux list syntax). */
  reservedSystemCPUs?: string;
  kubeReserved?: Record<string, string> | null;
  systemReserved?: Record<string, string> | null;
  topology: MachineTopology;
  /** The kubelet's root dir; the state file is `<rootDir>/cpu_manager_state`. */
  rootDir: string;
  reconcilePeriodMs?: number;
  topologyManagerPolicy?: string;
  logger?: Logger;
  now?: () => Date;
}

export interface RunningContainer {
  podUid: string;
  containerName: string;
  containerId: string;
}

/** What the reconcile loop needs from the kubelet. */
export interface ReconcileSource {
  /** Pods admitted and not yet terminated. */
  activePods(): Pod[];
  /** Whether every pod source has delivered its pods (stale state is only dropped then). */
  sourcesReady?(): boolean;
  runningContainers(): Promise<RunningContainer[]>;
}

/** Applies a cpuset to a running container (CRI UpdateContainerResources). */
export type CpusetUpdater = (containerId: string, cpus: string, ctx: { pod: string; container: string }) => Promise<void>;

export interface ReconcileResult {
  updated: RunningContainer[];
  failed: (RunningContainer & { error: string })[];
  released: Assignment[];
}

/** ceil(kubeReserved.cpu + systemReserved.cpu), as the upstream kubelet computes it. */
export function reservedCpuCount(kubeReserved?: Record<string, string> | null, systemReserved?: Record<string, string> | null): number {
  let milli = 0;
  for (const [field, m] of [['kubeReserved', kubeReserved], ['systemReserved', systemReserved]] as const) {
    const v = m?.cpu;
    if (v === undefined) continue;
    const q = cpuQuantity(v);
    if (!q) throw new CocoletError(ErrorCode.ConfigInvalid, `${field}.cpu: ${JSON.stringify(v)} is not a CPU quantity`, { context: { field: `${field}.cpu` } });
    milli += q.milli;
  }
  return Math.ceil(milli / 1000);
}

export class CpuManager implements HintProvider {
  readonly name = 'cpu';
  readonly topology: CpuTopology;
  readonly policy: StaticPolicy | undefined;
  readonly statePath: string;
  private state: CpuState;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly periodMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReconcileResult> | undefined;
  /** container id -> the cpuset last given to it. */
  private readonly lastUpdate = new Map<string, string>();
  private source: ReconcileSource | undefined;
  private updater: CpusetUpdater | undefined;

  constructor(o: CpuManagerOptions) {
    this.log = o.logger ?? silentLogger();
    this.now = o.now ?? (() => new Date());
    this.periodMs = o.reconcilePeriodMs ?? DEFAULT_RECONCILE_PERIOD_MS;
    this.topology = new CpuTopology(o.topology);
    this.statePath = join(o.rootDir, CPU_MANAGER_STATE_FILE);
    const policy = o.policy ?? 'none';
    if (policy === 'static') {
      const reservedCpus = o.reservedSystemCPUs ? CpuSet.parse(o.reservedSystemCPUs) : undefined;
      const numReserved = reservedCpus && reservedCpus.size > 0 ? reservedCpus.size : reservedCpuCount(o.kubeReserved, o.systemReserved);
      if (numReserved === 0) {
        throw new CocoletError(ErrorCode.ConfigInvalid, '[cpumanager] the static policy requires systemreserved.cpu + kubereserved.cpu to be greater than zero', {
          context: { field: 'cpuManagerPolicy' },
        });
      }
      this.policy = new StaticPolicy({
        topology: this.topology,
        options: parseStaticPolicyOptions(o.policyOptions ?? undefined, gatesFrom(o.featureGates)),
        numReservedCpus: numReserved,
        ...(reservedCpus ? { reservedCpus } : {}),
        ...(o.topologyManagerPolicy ? { topologyManagerPolicy: o.topologyManagerPolicy } : {}),
        logger: this.log,
      });
    } else if (policy !== 'none') {
      throw new CocoletError(ErrorCode.ConfigInvalid, `unknown policy: "${policy}"`, { context: { field: 'cpuManagerPolicy' } });
    }
    this.state = new CpuState(this.policyName);
  }

  get policyName(): string {
    return this.policy?.name ?? 'none';
  }

  /** Current state (read-only use: tests, status). */
  get currentState(): CpuState {
    return this.state;
  }

  /**
   * Loads (or recovers) the state, writes it back, and with the static policy and a source starts
   * the reconcile loop.
   */
  start(source?: ReconcileSource, updater?: CpusetUpdater): void {
    this.state = this.loadState();
    this.state.onChange = () => this.persist();
    this.persist();
    this.source = source;
    this.updater = updater;
    if (this.policy && source && updater && this.periodMs > 0) {
      this.timer = setInterval(() => void this.reconcile().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'cpu manager reconcile failed')), this.periodMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private persist(): void {
    try {
      writeCheckpoint(this.statePath, this.state);
    } catch (e) {
      this.log.error({ file: this.statePath, err: (e as Error).message }, 'cannot write the cpu manager checkpoint');
    }
  }

  private fresh(): CpuState {
    const s = new CpuState(this.policyName);
    this.policy?.validateState(s);
    return s;
  }

  private loadState(): CpuState {
    const loaded = readCheckpoint(this.statePath);
    if (loaded.kind === 'missing') return this.fresh();
    const setAside = (reason: string): string => {
      const moved = quarantineCheckpoint(this.statePath, this.now());
      this.log.error({ file: this.statePath, movedTo: moved, reason }, 'cpu manager checkpoint set aside; rebuilding the state');
      return moved;
    };
    if (loaded.kind === 'corrupt') {
      setAside(loaded.reason);
      return loaded.salvage && loaded.salvage.policyName === this.policyName ? this.salvage(loaded.salvage) : this.fresh();
    }
    const s = loaded.state;
    if (s.policyName !== this.policyName) {
      setAside(`configured policy "${this.policyName}" differs from state checkpoint policy "${s.policyName}"`);
      return this.fresh();
    }
    if (!this.policy) {
      if (!s.defaultCpuSet.isEmpty() || s.assignments().length > 0) {
        setAside('the none policy keeps no CPU sets, but the checkpoint has some');
        return this.fresh();
      }
      return s;
    }
    const problem = this.policy.validateState(s);
    if (problem) {
      setAside(problem);
      return this.salvage(s);
    }
    if (loaded.writer === 'upstream') this.log.info({ file: this.statePath }, 'adopted a cpu manager checkpoint written by another kubelet (its checksum cannot be verified)');
    return s;
  }

  /** A fresh state keeping the old assignments that still fit, in file order. */
  private salvage(old: CpuState): CpuState {
    const policy = this.policy!;
    const allocatable = policy.allocatableCpus();
    let kept = CpuSet.EMPTY;
    const keep: Assignment[] = [];
    for (const a of old.assignments()) {
      const ok = !a.cpus.isEmpty() && a.cpus.isSubsetOf(allocatable) && a.cpus.intersection(kept).isEmpty();
      if (ok) {
        keep.push(a);
        kept = kept.union(a.cpus);
        this.log.warn({ pod: a.podUid, container: a.container, cpuset: a.cpus.toString() }, 'kept exclusive CPUs from the old checkpoint');
      } else {
        this.log.warn({ pod: a.podUid, container: a.container, cpuset: a.cpus.toString() }, 'dropped exclusive CPUs that no longer fit; the container gets CPUs again when re-admitted');
      }
    }
    return new CpuState(this.policyName, policy.allCpus().difference(kept), keep);
  }

  // ---- HintProvider ----

  getTopologyHints(pod: Pod, container: Container): ResourceHints {
    return this.policy ? this.policy.getTopologyHints(this.state, pod, container) : null;
  }

  getPodTopologyHints(pod: Pod): ResourceHints {
    return this.policy ? this.policy.getPodTopologyHints(this.state, pod) : null;
  }

  allocate(pod: Pod, container: Container, affinity: TopologyHint | null): void {
    this.policy?.allocate(this.state, pod, container, affinity);
  }

  removeContainer(podUid: string, containerName: string): void {
    const released = this.policy?.removeContainer(this.state, podUid, containerName);
    if (released && !released.isEmpty()) this.log.info({ pod: podUid, container: containerName, cpuset: released.toString() }, 'released exclusive CPUs');
  }

  /**
   * The cpuset a container is created with (CRI `linux.resources.cpuset_cpus`): its exclusive CPUs,
   * else the shared pool; undefined with the none policy (no cpuset is set).
   */
  cpusetFor(podUid: string, containerName: string): string | undefined {
    if (!this.policy) return undefined;
    const s = this.state.getCpuSetOrDefault(podUid, containerName);
    return s.isEmpty() ? undefined : s.toString();
  }

  /** Exclusive CPUs of the container, if it has any. */
  exclusiveCpus(podUid: string, containerName: string): CpuSet | undefined {
    return this.state.getCpuSet(podUid, containerName);
  }

  /** CPUs the static policy may hand out exclusively (all minus reserved); empty with none. */
  allocatableCpus(): CpuSet {
    return this.policy?.allocatableCpus() ?? CpuSet.EMPTY;
  }

  /** One reconcile pass; concurrent calls share the pass in progress. */
  reconcile(): Promise<ReconcileResult> {
    this.running ??= this.reconcileOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async reconcileOnce(): Promise<ReconcileResult> {
    const result: ReconcileResult = { updated: [], failed: [], released: [] };
    const source = this.source;
    const policy = this.policy;
    if (!policy || !source) return result;
    const active = source.activePods();
    const key = (pod: string, c: string): string => `${pod}\u0000${c}`;
    const activeKeys = new Set(active.flatMap((p) => [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => key(p.metadata.uid ?? '', c.name))));
    if (source.sourcesReady?.() ?? true) {
      for (const a of this.state.assignments()) {
        if (activeKeys.has(key(a.podUid, a.container))) continue;
        policy.removeContainer(this.state, a.podUid, a.container);
        result.released.push(a);
        this.log.info({ pod: a.podUid, container: a.container, cpuset: a.cpus.toString() }, 'released exclusive CPUs of a container that is gone');
      }
    }
    const running = await source.runningContainers();
    const seen = new Set<string>();
    for (const r of running) {
      if (!activeKeys.has(key(r.podUid, r.containerName))) continue;
      seen.add(r.containerId);
      const cpus = this.state.getCpuSetOrDefault(r.podUid, r.containerName);
      if (cpus.isEmpty()) continue;
      const text = cpus.toString();
      if (this.lastUpdate.get(r.containerId) === text) continue;
      try {
        await this.updater!(r.containerId, text, { pod: r.podUid, container: r.containerName });
        this.lastUpdate.set(r.containerId, text);
        result.updated.push(r);
      } catch (e) {
        const error = (e as Error).message;
        result.failed.push({ ...r, error });
        this.log.warn({ pod: r.podUid, container: r.containerName, containerId: r.containerId, cpuset: text, err: error }, 'cannot update the container cpuset');
      }
    }
    for (const id of [...this.lastUpdate.keys()]) if (!seen.has(id)) this.lastUpdate.delete(id);
    return result;
  }
}
