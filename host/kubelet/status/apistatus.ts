/**
 * Pod status to the API server (kl/status/status_manager.go, our own code). For every pod the
 * kubelet reports a status for, the newest one is sent as a strategic-merge PATCH of
 * `pods/<name>/status` carrying `metadata.uid` (so a pod re-created under the same name is never
 * patched with an old pod's status), and only when it differs from the last one written. Keys that
 * disappeared since the last write are sent as null. Static pods' statuses go to their mirror pods.
 *
 * Fields filled here from the API's view: `hostIP` / `hostIPs` (the Node's InternalIP), `podIP`
 * for hostNetwork pods, the scheduler's PodScheduled condition (kept as the API has it) and
 * `observedGeneration`.
 *
 * Writes per pod are serial; a failed write is retried every `resyncMs` (10 s, as upstream's
 * syncPeriod); 404 (pod gone) and 409 (uid precondition) end the pod's entry. Once a pod that the
 * API deleted gracefully (`deletionTimestamp`) has fully terminated (`terminated(pod)`), its final
 * status is written and then the pod is deleted with gracePeriodSeconds=0 and a uid precondition.
 *
 * API: `new ApiStatusWriter({ api, hostIPs, mirrorOf })`; `update(uid, record?)` (StatusManager
 * onChange); `terminated(pod)`; `kick(uid?)`; `idle()`; `stop()`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, podKey, type Pod, type PodStatus } from '../api/types.js';
import type { ObjectRef, PodApi } from '../sources/apiclient.js';
import { httpStatusOf } from '../sources/reflector.js';
import type { PodRecord } from './manager.js';

export const STATUS_RESYNC_MS = 10_000;

export interface StatusWriterOptions {
  api: Pick<PodApi, 'patchPodStatus' | 'deletePod'>;
  /** The node's IPs (InternalIP first); may be empty until known. */
  hostIPs?: () => string[];
  /** The mirror pod of a static pod (undefined until it exists). */
  mirrorOf?: (pod: Pod) => (ObjectRef & { uid: string }) | undefined;
  resyncMs?: number;
  logger?: Logger;
}

interface Entry {
  pod: Pod;
  status?: PodStatus;
  /** JSON of the last status written, and to which object uid. */
  written?: string;
  writtenStatus?: Record<string, unknown>;
  writtenTo?: string;
  /** The status to write differs from what was written (or the write failed). */
  dirty: boolean;
  deleteWanted: boolean;
  removed: boolean;
  busy: boolean;
}

const isApiPod = (p: Pod): boolean => p.metadata.annotations?.[Annotations.configSource] === 'api';

/** The status as the API should hold it (pure; exported for tests). */
export function apiStatus(pod: Pod, status: PodStatus, hostIPs: string[]): Record<string, unknown> {
  const st: Record<string, unknown> & PodStatus = JSON.parse(JSON.stringify(status)) as PodStatus & Record<string, unknown>;
  if (hostIPs.length > 0) {
    st.hostIP = hostIPs[0];
    st.hostIPs = hostIPs.map((ip) => ({ ip }));
    if (pod.spec.hostNetwork) {
      st.podIP = hostIPs[0];
      st.podIPs = hostIPs.map((ip) => ({ ip }));
    }
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled) st.conditions = st.conditions.map((c) => (c.type === 'PodScheduled' ? scheduled : c));
  if (pod.metadata.generation !== undefined) st.observedGeneration = pod.metadata.generation;
  return st;
}

/** The strategic-merge patch from the last written status to the new one (removed keys → null). */
export function statusPatch(uid: string, prev: Record<string, unknown> | undefined, next: Record<string, unknown>): object {
  const status: Record<string, unknown> = { ...next };
  for (const k of Object.keys(prev ?? {})) if (!(k in next)) status[k] = null;
  return { metadata: { uid }, status };
}

export class ApiStatusWriter {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly o: StatusWriterOptions) {
    this.log = o.logger ?? silentLogger();
    this.timer = setInterval(() => this.kick(), o.resyncMs ?? STATUS_RESYNC_MS);
    this.timer.unref();
  }

  /** StatusManager.onChange: a new status (record) or the pod is gone (undefined). */
  update(uid: string, r: PodRecord | undefined): void {
    let e = this.entries.get(uid);
    if (!r) {
      if (e) {
        e.removed = true;
        if (!isApiPod(e.pod)) e.dirty = false;
        this.run(uid, e);
      }
      return;
    }
    if (!e) {
      e = { pod: r.pod, dirty: true, deleteWanted: false, removed: false, busy: false };
      this.entries.set(uid, e);
    }
    e.pod = r.pod;
    e.status = r.status;
    e.removed = false;
    e.dirty = true;
    this.run(uid, e);
  }

  /** The pod has fully terminated: an API pod being deleted is now deleted for good. */
  terminated(pod: Pod): void {
    if (!isApiPod(pod) || !pod.metadata.deletionTimestamp) return;
    const uid = pod.metadata.uid!;
    let e = this.entries.get(uid);
    if (!e) {
      e = { pod, dirty: false, deleteWanted: true, removed: true, busy: false };
      this.entries.set(uid, e);
    }
    e.pod = pod;
    e.deleteWanted = true;
    this.run(uid, e);
  }

  /** Retries pending writes, and writes statuses whose target changed (a re-created mirror pod); one pod or all. */
  kick(uid?: string): void {
    for (const [u, e] of uid ? [[uid, this.entries.get(uid)] as const] : [...this.entries]) {
      if (!e) continue;
      if (e.status && !e.removed && e.written !== undefined && this.target(e)?.uid !== e.writtenTo) e.dirty = true;
      if (e.dirty || e.deleteWanted) this.run(u, e);
    }
  }

  /** Writes every pod's status again (when a field filled here, such as hostIP, changed). */
  rewriteAll(): void {
    for (const e of this.entries.values()) if (e.status && !e.removed) e.dirty = true;
    this.kick();
  }

  /** Resolves once no write is in flight. */
  idle(): Promise<void> {
    if (![...this.entries.values()].some((e) => e.busy)) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  private target(e: Entry): (ObjectRef & { uid: string }) | undefined {
    const p = e.pod;
    if (isApiPod(p)) return { namespace: p.metadata.namespace ?? 'default', name: p.metadata.name, uid: p.metadata.uid! };
    return this.o.mirrorOf?.(p);
  }

  private run(uid: string, e: Entry): void {
    if (e.busy || this.stopped) return;
    e.busy = true;
    void this.work(uid, e).finally(() => {
      e.busy = false;
      if (e.removed && !e.deleteWanted && !e.dirty && this.entries.get(uid) === e) this.entries.delete(uid);
      if (![...this.entries.values()].some((x) => x.busy)) for (const w of this.waiters.splice(0)) w();
    });
  }

  private async work(uid: string, e: Entry): Promise<void> {
    while (!this.stopped && (e.dirty || e.deleteWanted)) {
      const t = this.target(e);
      if (!t) return; // a static pod whose mirror does not exist yet: written once it does
      if (e.dirty && e.status) {
        const next = apiStatus(e.pod, e.status, this.o.hostIPs?.() ?? []);
        const json = JSON.stringify(next);
        e.dirty = false;
        if (json !== e.written || e.writtenTo !== t.uid) {
          try {
            await this.o.api.patchPodStatus(t, statusPatch(t.uid, e.writtenTo === t.uid ? e.writtenStatus : undefined, next));
            e.written = json;
            e.writtenStatus = next;
            e.writtenTo = t.uid;
            this.log.debug({ pod: podKey(e.pod), phase: e.status.phase }, 'pod status written');
          } catch (err) {
            const code = httpStatusOf(err);
            if (code === 404 || code === 409) {
              this.log.info({ pod: podKey(e.pod), status: code }, 'pod status not written: the pod is gone or was re-created');
              e.deleteWanted = false;
              e.removed = true;
              return;
            }
            e.dirty = true;
            this.log.warn({ pod: podKey(e.pod), err, status: code }, 'pod status update failed; retrying');
            return;
          }
        }
        continue;
      }
      e.dirty = false;
      if (e.deleteWanted) {
        try {
          await this.o.api.deletePod(t, { gracePeriodSeconds: 0, uid: t.uid });
          this.log.info({ pod: podKey(e.pod) }, 'pod deleted from the API server');
        } catch (err) {
          const code = httpStatusOf(err);
          if (code !== 404 && code !== 409) {
            this.log.warn({ pod: podKey(e.pod), err, status: code }, 'pod delete failed; retrying');
            return;
          }
        }
        e.deleteWanted = false;
        e.removed = true;
      }
    }
  }
}
