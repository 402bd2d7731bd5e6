/**
 * The topology manager: at pod admission it asks every hint provider (CPU, memory, device
 * managers) for NUMA hints, merges them with the configured policy, stores the affinity per
 * container, then lets each provider allocate with it. Scopes (the kubelet's scope_container.go,
 * scope_pod.go, scope_none.go):
 *   container  one merge per container (init containers first), each followed by its allocation;
 *   pod        one merge for the whole pod (GetPodTopologyHints), every container gets it;
 *   none       (policy none) no hints at all, providers allocate with no affinity.
 * A refusal carries reason TopologyAffinityError (merge not admissible) or the provider's own
 * reason / UnexpectedAdmissionError (allocation failed). Unlike the kubelet, a refusal releases
 * whatever the pod's earlier containers were already given, so nothing stays stranded.
 */
import type { Container, Pod } from '../../api/types.js';
import { podKey } from '../../api/types.js';
import type { Logger } from '../../../../shared/log/logger.js';
import { silentLogger } from '../../../../shared/log/logger.js';
import { AdmissionError, type HintProvider, type MachineTopology, type TopologyHint } from '../types.js';
import { explainMisalignment } from './diagnose.js';
import { flattenProviderHints, toTopologyHint, type HintList } from './merge.js';
import { NumaInfo } from './numa-info.js';
import { DEFAULT_TOPOLOGY_POLICY_OPTIONS, parseTopologyPolicyOptions, type TopologyPolicyOptions } from './options.js';
import { newPolicy } from './policies.js';
import type { MergeResult, Policy } from './policy.js';

export const ScopeName = { Container: 'container', Pod: 'pod' } as const;
export type ScopeName = (typeof ScopeName)[keyof typeof ScopeName];

export const TOPOLOGY_AFFINITY_ERROR = 'TopologyAffinityError';
export const UNEXPECTED_ADMISSION_ERROR = 'UnexpectedAdmissionError';
/** The kubelet's TopologyAffinityError text; ours adds which resources could not be aligned. */
export const TOPOLOGY_AFFINITY_MESSAGE = 'Resources cannot be allocated with Topology locality';

export type AdmitResult = { admit: true } | { admit: false; reason: string; message: string };

export interface TopologyManagerOptions {
  policy: string;
  scope?: string;
  policyOptions?: Readonly<Record<string, string>> | null;
  topology: Pick<MachineTopology, 'numaNodes' | 'distances'>;
  logger?: Logger;
  /** kubelet_topology_manager_admission_{requests_total,errors_total,duration_ms} (not counted with policy none, as upstream). */
  metrics?: TopologyMetrics;
}

export interface TopologyMetrics {
  request(): void;
  error(): void;
  durationMs(ms: number): void;
}

/** The containers in admission order: init containers, then app containers. */
export function podContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class TopologyManager {
  readonly policy: Policy;
  readonly scope: ScopeName | 'none';
  readonly numa: NumaInfo;
  readonly options: TopologyPolicyOptions;
  private readonly providers: HintProvider[] = [];
  /** podUid -> container -> affinity stored at admission. */
  private readonly affinity = new Map<string, Map<string, TopologyHint>>();
  private readonly log: Logger;
  private readonly metrics: TopologyMetrics | undefined;

  constructor(o: TopologyManagerOptions) {
    this.log = o.logger ?? silentLogger();
    this.metrics = o.metrics;
    this.numa = new NumaInfo(o.topology.numaNodes, o.topology.distances);
    if (o.policy === 'none') {
      // As upstream: with policy none neither the scope nor the options are looked at.
      this.options = DEFAULT_TOPOLOGY_POLICY_OPTIONS;
      this.policy = newPolicy('none', this.numa, this.options);
      this.scope = 'none';
      return;
    }
    this.options = parseTopologyPolicyOptions(o.policyOptions);
    if (this.options.preferClosestNumaNodes && !this.numa.hasDistances()) {
      throw new Error('prefer-closest-numa-nodes: the NUMA distances of this machine are not known');
    }
    this.policy = newPolicy(o.policy, this.numa, this.options);
    const scope = o.scope ?? 'container';
    if (scope !== 'container' && scope !== 'pod') throw new Error(`unknown scope: "${scope}" (known: container, pod)`);
    this.scope = scope;
  }

  addHintProvider(p: HintProvider): void {
    this.providers.push(p);
  }

  /** The affinity stored for a container at admission (null: none, e.g. policy none). */
  getAffinity(podUid: string, containerName: string): TopologyHint | null {
    return this.affinity.get(podUid)?.get(containerName) ?? null;
  }

  /** Merges hints for one container (container scope) or the pod (pod scope) without allocating. */
  calculateAffinity(pod: Pod, container?: Container): MergeResult & { lists: HintList[] } {
    const answers = this.providers.map((p) => ({ name: p.name, hints: container ? p.getTopologyHints(pod, container) : p.getPodTopologyHints(pod) }));
    const lists = flattenProviderHints(answers);
    return { ...this.policy.merge(lists), lists };
  }

  /** Admits the pod, allocating on every provider; on refusal nothing stays allocated for it. */
  async admit(pod: Pod): Promise<AdmitResult> {
    if (this.scope === 'none') return this.admitScoped(pod);
    const start = performance.now();
    this.metrics?.request();
    try {
      const r = await this.admitScoped(pod);
      if (!r.admit) this.metrics?.error();
      return r;
    } finally {
      this.metrics?.durationMs(performance.now() - start);
    }
  }

  private async admitScoped(pod: Pod): Promise<AdmitResult> {
    const uid = pod.metadata.uid ?? '';
    const done: string[] = [];
    const refuse = async (reason: string, message: string): Promise<AdmitResult> => {
      for (const name of done) await this.releaseContainer(uid, name);
      this.affinity.delete(uid);
      this.log.info({ pod: podKey(pod), reason, message }, 'pod refused at topology admission');
      return { admit: false, reason, message };
    };
    const containers = podContainers(pod);
    let podHint: TopologyHint | null = null;
    if (this.scope === 'pod') {
      const r = this.calculateAffinity(pod);
      if (!r.admit) return refuse(TOPOLOGY_AFFINITY_ERROR, this.affinityMessage(r.lists, `pod ${podKey(pod)}`));
      podHint = toTopologyHint(r.hint);
    }
    for (const c of containers) {
      let hint: TopologyHint | null = podHint;
      if (this.scope === 'container') {
        const r = this.calculateAffinity(pod, c);
        if (!r.admit) return refuse(TOPOLOGY_AFFINITY_ERROR, this.affinityMessage(r.lists, `container ${c.name}`));
        hint = toTopologyHint(r.hint);
      }
      if (hint) {
        let m = this.affinity.get(uid);
        if (!m) this.affinity.set(uid, (m = new Map()));
        m.set(c.name, hint);
      }
      done.push(c.name);
      for (const p of this.providers) {
        try {
          await p.allocate(pod, c, hint);
        } catch (e) {
          if (e instanceof AdmissionError) return refuse(e.reason, e.message);
          return refuse(UNEXPECTED_ADMISSION_ERROR, `Allocate failed due to ${errMessage(e)}, which is unexpected`);
        }
      }
    }
    return { admit: true };
  }

  private affinityMessage(lists: readonly HintList[], what: string): string {
    return `${TOPOLOGY_AFFINITY_MESSAGE} (policy ${this.policy.name}, ${what}): ${explainMisalignment(lists, this.policy.name, this.numa)}`;
  }

  private async releaseContainer(podUid: string, name: string): Promise<void> {
    for (const p of this.providers) {
      try {
        await p.removeContainer(podUid, name);
      } catch (e) {
        this.log.warn({ pod: podUid, container: name, provider: p.name, err: errMessage(e) }, 'releasing a refused container failed');
      }
    }
  }

  /** Frees a container on every provider and forgets its affinity. */
  async removeContainer(podUid: string, containerName: string): Promise<void> {
    await this.releaseContainer(podUid, containerName);
    const m = this.affinity.get(podUid);
    m?.delete(containerName);
    if (m && m.size === 0) this.affinity.delete(podUid);
  }

  /** Frees every container of a pod that is gone. */
  async removePod(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    for (const c of podContainers(pod)) await this.releaseContainer(uid, c.name);
    this.affinity.delete(uid);
  }
}
