/**
 * ConfigMaps and Secrets of this node's pods, watched (upstream's default
 * `configMapAndSecretChangeDetectionStrategy: Watch`, kl/util/manager/watch_based_manager.go; our
 * own code): every object a registered pod refers to (configMap / secret volumes, projected
 * sources, `env[].valueFrom.configMapKeyRef` / `secretKeyRef`, `envFrom`) gets one reflector —
 * list + watch of `/api/v1/namespaces/<ns>/<configmaps|secrets>` with the field selector
 * `metadata.name=<name>`, the single-object request the Node authorizer allows a node for the
 * objects its pods reference (NodeRestriction) — shared by every pod that refers to it, and
 * stopped when the last of them is unregistered.
 *
 * Reads are served from the reflector's store once it has listed (a missing object is `undefined`,
 * as a 404); before that they go to the API (`fallback`). When a watched object changes (its
 * resourceVersion differs from the last one seen, or it appears / disappears), `onChange` is told
 * the UIDs of the pods that refer to it, so the kubelet re-syncs them and their volumes show the
 * new content at once instead of at the next periodic sync.
 *
 * API: `new ObjectWatcher({ api, fallback, onChange })`; `registerPod(pod)`; `unregisterPod(uid)`;
 * `getConfigMap` / `getSecret` / `requestToken` (ApiObjects); `watched()`; `stop()`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import type { Pod } from '../api/types.js';
import type { RestClient } from '../client/rest.js';
import { listerWatcher } from '../sources/apipods.js';
import { Reflector, type ListerWatcher, type ObjectWithMeta } from '../sources/reflector.js';
import type { ApiObjects, ApiVolume } from './apivolumes.js';
import { envObjectRefs } from './env.js';

export type ObjectKind = 'configmaps' | 'secrets';

export interface ObjectRefOf {
  kind: ObjectKind;
  name: string;
}

interface ApiObject extends ObjectWithMeta {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

interface Entry {
  reflector: Reflector<ApiObject>;
  pods: Set<string>;
  /** resourceVersion of the object last seen ('' = absent; undefined = not listed yet). */
  version: string | undefined;
  /** Times its pods were told of a change (the first list included). */
  changes: number;
}

/** Every ConfigMap and Secret a pod refers to (volumes, projected sources, env, envFrom), deduplicated. */
export function podObjectRefs(pod: Pod): ObjectRefOf[] {
  const out = new Map<string, ObjectRefOf>();
  const add = (kind: ObjectKind, name: string | undefined): void => {
    if (name) out.set(`${kind}/${name}`, { kind, name });
  };
  for (const v of (pod.spec.volumes ?? []) as ApiVolume[]) {
    add('configmaps', v.configMap?.name);
    add('secrets', v.secret?.secretName);
    for (const s of v.projected?.sources ?? []) {
      add('configmaps', s.configMap?.name);
      add('secrets', s.secret?.name);
    }
  }
  const spec = pod.spec as Pod['spec'] & { ephemeralContainers?: Pod['spec']['containers'] };
  for (const c of [...(spec.initContainers ?? []), ...spec.containers, ...(spec.ephemeralContainers ?? [])]) {
    for (const r of envObjectRefs(c)) add(r.kind === 'secret' ? 'secrets' : 'configmaps', r.name);
  }
  return [...out.values()];
}

export interface ObjectWatcherOptions {
  api: RestClient;
  /** Direct reads (GET) for objects not watched or not listed yet, and TokenRequests. */
  fallback: ApiObjects;
  /** The pods whose objects changed. */
  onChange: (uids: string[]) => void;
  logger?: Logger;
  /** Server-side watch timeout (tests); default the reflector's 5-10 min. */
  watchTimeoutSeconds?: number;
}

export class ObjectWatcher implements ApiObjects {
  private readonly entries = new Map<string, Entry>();
  private readonly podKeys = new Map<string, Set<string>>();
  private readonly log: Logger;

  constructor(private readonly o: ObjectWatcherOptions) {
    this.log = o.logger ?? silentLogger();
  }

  /** Starts watching what the pod refers to now, stops watching what it no longer does. */
  registerPod(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    const ns = pod.metadata.namespace ?? 'default';
    const next = new Set(podObjectRefs(pod).map((r) => `${r.kind}/${ns}/${r.name}`));
    const prev = this.podKeys.get(uid) ?? new Set<string>();
    for (const k of next) if (!prev.has(k)) this.ref(k, uid);
    for (const k of prev) if (!next.has(k)) this.unref(k, uid);
    if (next.size > 0) this.podKeys.set(uid, next);
    else this.podKeys.delete(uid);
  }

  unregisterPod(uid: string): void {
    for (const k of this.podKeys.get(uid) ?? []) this.unref(k, uid);
    this.podKeys.delete(uid);
  }

  /** The objects watched now (`<kind>/<namespace>/<name>`): how many pods refer to each, how often they were told of a change. */
  watched(): Map<string, { pods: number; changes: number }> {
    return new Map([...this.entries].map(([k, e]) => [k, { pods: e.pods.size, changes: e.changes }]));
  }

  stop(): void {
    for (const e of this.entries.values()) void e.reflector.stop();
    this.entries.clear();
    this.podKeys.clear();
  }

  private ref(key: string, uid: string): void {
    const e = this.entries.get(key);
    if (e) {
      e.pods.add(uid);
      return;
    }
    const [kind, ns, name] = key.split('/') as [ObjectKind, string, string];
    const entry: Entry = {
      pods: new Set([uid]),
      version: undefined,
      changes: 0,
      reflector: new Reflector<ApiObject>({
        lw: listerWatcher(this.o.api, `/api/v1/namespaces/${encodeURIComponent(ns)}/${kind}`, `metadata.name=${name}`) as ListerWatcher<ApiObject>,
        name: key,
        keyOf: (obj) => obj.metadata?.name ?? '',
        onChange: (items) => this.changed(key, items),
        logger: this.log,
        ...(this.o.watchTimeoutSeconds ? { watchTimeoutSeconds: this.o.watchTimeoutSeconds } : {}),
      }),
    };
    this.entries.set(key, entry);
    entry.reflector.start();
    this.log.debug({ object: key }, 'watching');
  }

  private unref(key: string, uid: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.pods.delete(uid);
    if (e.pods.size > 0) return;
    this.entries.delete(key);
    void e.reflector.stop();
    this.log.debug({ object: key }, 'no pod refers to it any more; watch stopped');
  }

  private changed(key: string, items: ApiObject[]): void {
    const e = this.entries.get(key);
    if (!e) return;
    const name = key.slice(key.lastIndexOf('/') + 1);
    const obj = items.find((x) => x.metadata?.name === name);
    const version = obj ? (obj.metadata?.resourceVersion ?? '?') : '';
    if (version === e.version) return;
    e.version = version;
    e.changes++;
    // Pods registered before the first list read the object directly: they are told too, so a
    // change between their read and the list is never missed (a re-projection of equal content
    // writes nothing).
    this.o.onChange([...e.pods]);
  }

  private cached(kind: ObjectKind, ns: string, name: string): { hit: boolean; obj?: ApiObject } {
    const e = this.entries.get(`${kind}/${ns}/${name}`);
    if (!e?.reflector.synced) return { hit: false };
    const obj = e.reflector.items().find((x) => x.metadata?.name === name);
    return obj ? { hit: true, obj } : { hit: true };
  }

  getConfigMap(namespace: string, name: string): ReturnType<ApiObjects['getConfigMap']> {
    const c = this.cached('configmaps', namespace, name);
    if (!c.hit) return this.o.fallback.getConfigMap(namespace, name);
    return Promise.resolve(c.obj ? { ...(c.obj.data ? { data: c.obj.data } : {}), ...(c.obj.binaryData ? { binaryData: c.obj.binaryData } : {}) } : undefined);
  }

  getSecret(namespace: string, name: string): ReturnType<ApiObjects['getSecret']> {
    const c = this.cached('secrets', namespace, name);
    if (!c.hit) return this.o.fallback.getSecret(namespace, name);
    return Promise.resolve(c.obj ? { ...(c.obj.data ? { data: c.obj.data } : {}) } : undefined);
  }

  requestToken(...a: Parameters<ApiObjects['requestToken']>): ReturnType<ApiObjects['requestToken']> {
    return this.o.fallback.requestToken(...a);
  }
}
