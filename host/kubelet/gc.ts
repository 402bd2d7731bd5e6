/**
 * Container garbage collection (kl/kuberuntime/kuberuntime_gc.go) with the kubelet's defaults:
 * MinAge 0, MaxPerPodContainer 1, MaxContainers −1 (no limit). Every minute: for each pod, dead
 * (exited) instances of a container beyond the newest one are removed oldest first; dead
 * containers and sandboxes of pods that are no longer desired are removed; not-ready sandboxes
 * other than a pod's newest one are removed when they hold no containers.
 *
 * API: `new ContainerGc({ cri, cache, clock, isDesired })`; `await collect()` → number removed.
 */
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { CriRuntime } from '../cri/api.js';
import type { Clock } from './clock.js';
import type { PodCache } from './pleg/cache.js';

export interface GcPolicy {
  minAgeMs: number;
  maxPerPodContainer: number;
  maxContainers: number;
}

export const DEFAULT_GC_POLICY: GcPolicy = { minAgeMs: 0, maxPerPodContainer: 1, maxContainers: -1 };

export interface ContainerGcOptions {
  cri: CriRuntime;
  cache: PodCache;
  clock: Clock;
  isDesired: (uid: string) => boolean;
  policy?: GcPolicy;
  logger?: Logger;
}

export class ContainerGc {
  private readonly policy: GcPolicy;
  private readonly log: Logger;

  constructor(private readonly o: ContainerGcOptions) {
    this.policy = o.policy ?? DEFAULT_GC_POLICY;
    this.log = o.logger ?? silentLogger();
  }

  /** One GC round; `all` removes every dead container, even each container's last one (eviction's reclaim). */
  async collect(opts: { all?: boolean } = {}): Promise<number> {
    const now = this.o.clock.now();
    let removed = 0;
    const rm = async (id: string, kind: 'container' | 'sandbox'): Promise<void> => {
      try {
        if (kind === 'container') await this.o.cri.removeContainer(id);
        else await this.o.cri.removePodSandbox(id);
        removed++;
      } catch (e) {
        this.log.warn({ id, kind, err: e }, 'gc remove failed');
      }
    };
    for (const uid of this.o.cache.uids()) {
      const st = this.o.cache.get(uid).status;
      const desired = this.o.isDesired(uid);
      const dead = st.containers.filter((c) => c.state === 'exited' && now - c.finishedAt >= this.policy.minAgeMs);
      const byName = new Map<string, typeof dead>();
      for (const c of dead) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
      for (const list of byName.values()) {
        // newest first in the cache; keep maxPerPodContainer of them while the pod is desired
        const keep = desired && !opts.all && this.policy.maxPerPodContainer >= 0 ? this.policy.maxPerPodContainer : 0;
        for (const c of list.slice(keep)) await rm(c.id, 'container');
      }
      const live = new Set(st.containers.map((c) => c.sandboxId));
      for (const [i, s] of st.sandboxes.entries()) {
        if (s.state !== 'notready') continue;
        if (desired && i === 0) continue;
        if (live.has(s.id) && desired) continue;
        await rm(s.id, 'sandbox');
      }
    }
    if (removed) this.log.info({ removed }, 'container gc');
    return removed;
  }
}
