/**
 * Mirror pods (kl/pod/mirror_client.go, our own code): every static pod (file / http source) gets
 * an API copy so `kubectl get pods` shows it and its status has somewhere to go. The mirror has
 * the static pod's metadata and spec, annotation `kubernetes.io/config.mirror` = the static pod's
 * config hash, and the Node as controller owner (NodeRestriction requires it). Reconciled on every
 * change of either side and every 10 s:
 *   - static pod without a mirror → create it;
 *   - mirror whose hash differs (the manifest changed) or that is being deleted → delete it
 *     (grace 0, uid precondition) and create a fresh one;
 *   - mirror without a static pod → delete it.
 * Deleting a mirror by hand therefore only makes the kubelet create it again.
 *
 * API: `new MirrorPods({ api, nodeName, staticPods })`; `setMirrors(pods)` (from the API source);
 * `mirrorOf(staticPod)`; `kick()`; `idle()`; `stop()`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, podKey, type Pod } from '../api/types.js';
import type { ObjectRef, PodApi } from './apiclient.js';
import { httpStatusOf } from './reflector.js';

export const MIRROR_RESYNC_MS = 10_000;

export interface MirrorPodsOptions {
  api: Pick<PodApi, 'createPod' | 'deletePod' | 'getNode'>;
  nodeName: string;
  /** The static pods the kubelet runs now. */
  staticPods: () => Pod[];
  /** Called when a mirror appeared or changed (status writes waiting for it can go). */
  onMirror?: (staticUid: string) => void;
  resyncMs?: number;
  logger?: Logger;
}

const hashOf = (p: Pod): string => p.metadata.annotations?.[Annotations.configHash] ?? p.metadata.uid!;
const keyOf = (p: Pod): string => podKey(p);

/** The API object for a static pod's mirror (pure; exported for tests). */
export function mirrorPodFor(pod: Pod, node: { name: string; uid: string }): object {
  const ann: Record<string, string> = { ...pod.metadata.annotations, [Annotations.configMirror]: hashOf(pod) };
  delete ann[Annotations.configSeen];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace ?? 'default',
      ...(pod.metadata.labels ? { labels: pod.metadata.labels } : {}),
      annotations: ann,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid, controller: true }],
    },
    spec: { ...pod.spec, nodeName: node.name },
  };
}

export class MirrorPods {
  private mirrors = new Map<string, Pod>();
  private nodeUid: string | undefined;
  private busy: Promise<void> | undefined;
  private again = false;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly o: MirrorPodsOptions) {
    this.log = o.logger ?? silentLogger();
    this.timer = setInterval(() => this.kick(), o.resyncMs ?? MIRROR_RESYNC_MS);
    this.timer.unref();
  }

  /** This node's mirror pods as the API source sees them. */
  setMirrors(pods: Pod[]): void {
    const before = this.mirrors;
    this.mirrors = new Map(pods.map((p) => [keyOf(p), p]));
    for (const s of this.o.staticPods()) {
      const m = this.mirrors.get(keyOf(s));
      if (m && m.metadata.uid !== before.get(keyOf(s))?.metadata.uid) this.o.onMirror?.(s.metadata.uid!);
    }
    this.kick();
  }

  /** The live mirror of a static pod, when there is one for its current manifest. */
  mirrorOf(pod: Pod): (ObjectRef & { uid: string }) | undefined {
    const m = this.mirrors.get(keyOf(pod));
    if (!m || m.metadata.deletionTimestamp || m.metadata.annotations?.[Annotations.configMirror] !== hashOf(pod)) return undefined;
    return { namespace: m.metadata.namespace ?? 'default', name: m.metadata.name, uid: m.metadata.uid! };
  }

  kick(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcile();
        } catch (e) {
          this.log.warn({ err: e }, 'mirror pod reconcile failed; retrying');
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.busy = undefined));
  }

  idle(): Promise<void> {
    return this.busy ?? Promise.resolve();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async remove(m: Pod): Promise<void> {
    try {
      await this.o.api.deletePod({ namespace: m.metadata.namespace ?? 'default', name: m.metadata.name }, { gracePeriodSeconds: 0, uid: m.metadata.uid! });
      this.log.info({ pod: keyOf(m) }, 'mirror pod deleted');
    } catch (e) {
      const code = httpStatusOf(e);
      if (code !== 404 && code !== 409) throw e;
    }
    this.mirrors.delete(keyOf(m));
  }

  private async reconcile(): Promise<void> {
    const statics = new Map(this.o.staticPods().map((p) => [keyOf(p), p]));
    for (const m of [...this.mirrors.values()]) {
      const s = statics.get(keyOf(m));
      if (!s || m.metadata.annotations?.[Annotations.configMirror] !== hashOf(s) || m.metadata.deletionTimestamp) await this.remove(m);
    }
    for (const [key, s] of statics) {
      if (this.mirrors.has(key)) continue;
      this.nodeUid ||= (await this.o.api.getNode(this.o.nodeName)).uid;
      try {
        const r = await this.o.api.createPod(s.metadata.namespace ?? 'default', mirrorPodFor(s, { name: this.o.nodeName, uid: this.nodeUid }));
        this.log.info({ pod: key }, 'mirror pod created');
        const m: Pod = { ...s, metadata: { ...s.metadata, uid: r.uid, annotations: { ...s.metadata.annotations, [Annotations.configMirror]: hashOf(s) } } };
        this.mirrors.set(key, m);
        this.o.onMirror?.(s.metadata.uid!);
      } catch (e) {
        // 409: an old mirror the watch has not reported yet; the next reconcile replaces it.
        if (httpStatusOf(e) !== 409) throw e;
      }
    }
  }
}
