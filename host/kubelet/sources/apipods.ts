/**
 * The API server as a pod source (kl/config/apiserver.go): a reflector over the pods bound to
 * this node (`fieldSelector=spec.nodeName=<node>`, all namespaces). Every change is reported to
 * PodConfig as a full snapshot (source `api`), so a relist after a dropped watch, an API server
 * restart or a 410 neither loses nor duplicates a pod (PodConfig diffs by UID).
 *
 * Mirror pods (annotation `kubernetes.io/config.mirror`) are the API copies of this node's static
 * pods: they are never run, only reported to `onMirrors` (the mirror manager keeps them in step).
 *
 * API: `new ApiPodSource({ api, nodeName, onSnapshot, onMirrors })`; `start()`; `stop()`;
 * `reflector` (stats, test hooks). `listerWatcher(api, path, fieldSelector)` is the raw-JSON
 * ListerWatcher of a collection.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, type Pod } from '../api/types.js';
import { validatePod } from '../config/manifest.js';
import { queryString, type RestClient } from '../client/rest.js';
import { Reflector, type ListerWatcher, type WatchEventType } from './reflector.js';

/**
 * List + watch of a collection (`/api/v1/pods`, `/api/v1/namespaces/<ns>/configmaps`, ...) with
 * a field selector, as raw JSON: an object looks byte-for-byte the same in the list and in a
 * watch event (a typed model would re-order and drop fields, change container hashes and restart
 * containers).
 */
export function listerWatcher(api: RestClient, path: string, fieldSelector: string): ListerWatcher<unknown> {
  return {
    async list(o) {
      const r = await api.get<{ items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } }>(path + queryString({ fieldSelector, limit: o.limit, continue: o.continue }));
      return {
        items: r?.items ?? [],
        resourceVersion: r?.metadata?.resourceVersion ?? '',
        ...(r?.metadata?.continue ? { continue: r.metadata.continue } : {}),
      };
    },
    watch(o, onEvent) {
      return api.watch(path, { fieldSelector, ...o }, (type, obj) => onEvent(type as WatchEventType, obj));
    },
  };
}

export function isMirrorPod(p: Pod): boolean {
  return Boolean(p.metadata.annotations?.[Annotations.configMirror]);
}

export interface ApiPodSourceOptions {
  /** The list + watch to use (default: `/api/v1/pods` through `api`). */
  lw?: ListerWatcher<unknown>;
  api?: RestClient;
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
    const lw = o.lw ?? (o.api ? listerWatcher(o.api, '/api/v1/pods', fieldSelector) : undefined);
    if (!lw) throw new Error('ApiPodSource needs an API client or a ListerWatcher');
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
      // List items carry no kind / apiVersion, watch objects do: the same either way.
      else pods.push({ ...p, apiVersion: 'v1', kind: 'Pod', metadata: { ...p.metadata, annotations: { ...p.metadata.annotations, [Annotations.configSource]: 'api' } } });
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
