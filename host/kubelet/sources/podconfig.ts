/**
 * Merges pod sources (file, http, api) into one stream of ADD / UPDATE / REMOVE updates, keyed
 * by pod UID per source (kl/config/config.go). Each source reports full snapshots; a pod whose
 * content did not change (ignoring `kubernetes.io/config.seen`) produces no update.
 *
 * API: `const pc = new PodConfig({ sources: ['file'], onUpdate })`; sources call
 * `pc.set(source, pods)`; `pc.allSourcesReady()` is true once every source reported once
 * (housekeeping must not delete pods before that); `pc.pods()` is the merged desired set.
 */
import { Annotations, type Pod } from '../api/types.js';

export type PodOp = 'ADD' | 'UPDATE' | 'REMOVE';

export interface PodUpdate {
  op: PodOp;
  source: string;
  pods: Pod[];
}

export interface PodConfigOptions {
  /** Names of the configured sources. */
  sources: string[];
  onUpdate: (u: PodUpdate) => void;
}

/**
 * A stable comparison key for a pod: everything but the config.seen annotation, the status and the
 * API's bookkeeping (resourceVersion, managedFields), so the kubelet's own status writes do not
 * come back as pod updates.
 */
export function podContentKey(p: Pod): string {
  const ann = { ...p.metadata.annotations };
  delete ann[Annotations.configSeen];
  const md: Record<string, unknown> = { ...p.metadata, annotations: ann };
  delete md.resourceVersion;
  delete md.managedFields;
  return JSON.stringify({ ...p, metadata: md, status: undefined });
}

export class PodConfig {
  private readonly bySource = new Map<string, Map<string, { pod: Pod; key: string }>>();
  private readonly seen = new Set<string>();

  constructor(private readonly opts: PodConfigOptions) {
    for (const s of opts.sources) this.bySource.set(s, new Map());
  }

  set(source: string, pods: Pod[]): void {
    let cur = this.bySource.get(source);
    if (!cur) {
      cur = new Map();
      this.bySource.set(source, cur);
    }
    this.seen.add(source);
    const next = new Map<string, { pod: Pod; key: string }>();
    const added: Pod[] = [];
    const updated: Pod[] = [];
    for (const p of pods) {
      const uid = p.metadata.uid!;
      if (next.has(uid)) continue; // duplicate UID in one source: first wins
      const key = podContentKey(p);
      const old = cur.get(uid);
      if (!old) {
        added.push(p);
        next.set(uid, { pod: p, key });
      } else if (old.key !== key) {
        // Keep the first-seen timestamp across updates.
        const seen = old.pod.metadata.annotations?.[Annotations.configSeen];
        if (seen) p.metadata.annotations = { ...p.metadata.annotations, [Annotations.configSeen]: seen };
        updated.push(p);
        next.set(uid, { pod: p, key });
      } else next.set(uid, old);
    }
    const removed = [...cur.entries()].filter(([uid]) => !next.has(uid)).map(([, v]) => v.pod);
    this.bySource.set(source, next);
    if (removed.length) this.opts.onUpdate({ op: 'REMOVE', source, pods: removed });
    if (added.length) this.opts.onUpdate({ op: 'ADD', source, pods: added });
    if (updated.length) this.opts.onUpdate({ op: 'UPDATE', source, pods: updated });
  }

  allSourcesReady(): boolean {
    return this.opts.sources.every((s) => this.seen.has(s));
  }

  pods(): Pod[] {
    return [...this.bySource.values()].flatMap((m) => [...m.values()].map((v) => v.pod));
  }
}
