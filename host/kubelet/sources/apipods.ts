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
import type { Agent } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, type Pod } from '../api/types.js';
import { validatePod } from '../config/manifest.js';
import { Reflector, type ListerWatcher, type WatchEventType, type WatchHandle } from './reflector.js';

/** GET of an API path answered as raw JSON (the same bytes a watch event carries). */
async function getJson(kc: k8s.KubeConfig, path: string): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  const init = (await kc.applyToFetchOptions({})) as { agent?: Agent; headers?: Record<string, string> | Headers };
  const headers: Record<string, string> = { accept: 'application/json' };
  const h = init.headers;
  if (h) for (const [k, v] of h instanceof Headers ? h.entries() : Object.entries(h)) headers[k] = String(v);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'GET', headers, ...(init.agent ? { agent: init.agent } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 200) {
          try {
            resolve(JSON.parse(body));
          } catch (e) {
            reject(e as Error);
          }
          return;
        }
        let message = body.slice(0, 300);
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          // not a Status object
        }
        reject(Object.assign(new Error(`GET ${url.pathname}: ${res.statusCode} ${message}`), { statusCode: res.statusCode }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * List + watch of `/api/v1/pods` with a field selector. The list is read as raw JSON, like the
 * watch's events, so a pod looks byte-for-byte the same either way (client-node's typed list
 * re-orders and drops fields, which would change container hashes and restart containers).
 */
export function podListerWatcher(kc: k8s.KubeConfig, fieldSelector: string): ListerWatcher<unknown> {
  const watcher = new k8s.Watch(kc);
  return {
    async list(o) {
      const q = new URLSearchParams({ fieldSelector, limit: String(o.limit), ...(o.continue ? { continue: o.continue } : {}) });
      const r = (await getJson(kc, `/api/v1/pods?${q.toString()}`)) as { items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } };
      return {
        items: r.items ?? [],
        resourceVersion: r.metadata?.resourceVersion ?? '',
        ...(r.metadata?.continue ? { continue: r.metadata.continue } : {}),
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
