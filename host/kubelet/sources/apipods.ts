/**
 * The API server as a pod source (kl/config/apiserver.go): a reflector over the pods bound to
 * this node (`fieldSelector=spec.nodeName=<node>`, all namespaces). Every change is reported to
 * PodConfig as a full snapshot (source `api`), so a relist after a dropped watch, an API server
 * restart or a 410 neither loses nor duplicates a pod (PodConfig diffs by UID).
 *
 * Mirror pods (annotation `kubernetes.io/config.mirror`) are the API copies of this node's static
 * pods: they are never run, only reported to `onMirrors` (the mirror manager keeps them in step).
 *
 * API: `new ApiPodSource({ kubeconfig, nodeName, onSnapshot, onMirrors })`; `start()`; `stop()`;
 * `reflector` (stats, test hooks). `podListerWatcher(kubeconfig, fieldSelector)` is the
 * client-node ListerWatcher for pods.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, type Pod } from '../api/types.js';
import { validatePod } from '../config/manifest.js';
import { Reflector, type ListerWatcher, type WatchEventType, type WatchHandle } from './reflector.js';

const toPlain = <T>(o: unknown): T => JSON.parse(JSON.stringify(o)) as T;

/** List + watch of `/api/v1/pods` with a field selector, through client-node. */
export function podListerWatcher(kc: k8s.KubeConfig, fieldSelector: string): ListerWatcher<unknown> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const watcher = new k8s.Watch(kc);
  return {
    async list(o) {
      const r = await core.listPodForAllNamespaces({ fieldSelector, limit: o.limit, ...(o.continue ? { _continue: o.continue } : {}) });
      return {
        items: r.items.map((p) => toPlain<unknown>(p)),
        resourceVersion: r.metadata?.resourceVersion ?? '',
        ...(r.metadata?._continue ? { continue: r.metadata._continue } : {}),
      };
    },
    watch(o, onEvent: (type: WatchEventType, obj: unknown) => void): WatchHandle {
      let ctl: AbortController | undefined;
      let aborted = false;
      const done = new Promise<void>((resolve, reject) => {
        watcher
          .watch('/api/v1/pods', { fieldSelector, ...o }, (type: string, obj: unknown) => onEvent(type as WatchEventType, obj), (err: unknown) => (err ? reject(err as Error) : resolve()))
          .then((c) => {
            ctl = c;
            if (aborted) c.abort();
          })
          .catch(reject);
      });
      return {
        done,
        abort: () => {
          aborted = true;
          ctl?.abort();
        },
      };
    },
  };
}

export function isMirrorPod(p: Pod): boolean {
  return Boolean(p.metadata.annotations?.[Annotations.configMirror]);
}

export interface ApiPodSourceOptions {
  /** The list + watch to use (default: client-node against `kubeconfig`). */
  lw?: ListerWatcher<unknown>;
  kubeconfig?: k8s.KubeConfig;
  nodeName: string;
  onSnapshot: (pods: Pod[]) => void;
  /** This node's mirror pods, after every change. */
  onMirrors?: (mirrors: Pod[]) => void;
  logger?: Logger;
  watchTimeoutSeconds?: number;
}

export class ApiPodSource {
  readonly reflector: Reflector<Pod>;
  private readonly log: Logger;
  private lastMirrors = '';

  constructor(private readonly o: ApiPodSourceOptions) {
    this.log = o.logger ?? silentLogger();
    const fieldSelector = `spec.nodeName=${o.nodeName}`;
    const lw = o.lw ?? (o.kubeconfig ? podListerWatcher(o.kubeconfig, fieldSelector) : undefined);
    if (!lw) throw new Error('ApiPodSource needs a kubeconfig or a ListerWatcher');
    this.reflector = new Reflector<Pod>({
      lw: lw as ListerWatcher<Pod>,
      name: 'pods',
      keyOf: (p) => p.metadata.uid!,
      accept: (raw): raw is Pod => this.accept(raw),
      onChange: (pods) => this.emit(pods),
      logger: this.log,
      ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
    });
  }

  private accept(raw: unknown): boolean {
    try {
      validatePod(raw, 'api');
      if (!raw.metadata.uid) throw new Error('metadata.uid missing');
      return true;
    } catch (e) {
      const md = (raw as { metadata?: { namespace?: string; name?: string } } | undefined)?.metadata;
      this.log.warn({ pod: `${md?.namespace}/${md?.name}`, err: e }, 'api pod skipped');
      return false;
    }
  }

  private emit(all: Pod[]): void {
    const pods: Pod[] = [];
    const mirrors: Pod[] = [];
    for (const p of all) {
      if (isMirrorPod(p)) mirrors.push(p);
      else pods.push({ ...p, metadata: { ...p.metadata, annotations: { ...p.metadata.annotations, [Annotations.configSource]: 'api' } } });
    }
    this.o.onSnapshot(pods);
    const key = JSON.stringify(mirrors.map((m) => [m.metadata.uid, m.metadata.resourceVersion]));
    if (key !== this.lastMirrors) {
      this.lastMirrors = key;
      this.o.onMirrors?.(mirrors);
    }
  }

  start(): void {
    this.reflector.start();
  }

  stop(): void {
    void this.reflector.stop();
  }
}
