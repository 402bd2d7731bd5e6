/**
 * Volumes whose content comes from the API server (kubernetes pkg/volume/{configmap,secret,
 * downwardapi,projected}, our own code): `configMap`, `secret`, `downwardAPI` and `projected`
 * (configMap, secret, downwardAPI and serviceAccountToken sources). Each is computed as a payload
 * (path → bytes + mode) and written with the atomic writer, so a re-projection at the next pod
 * sync shows updates in place in running containers.
 *
 * Rules as upstream: `items` select and rename keys (a missing key is an error unless the source
 * is optional), `mode` beats `defaultMode` (0644), a missing object is an error unless `optional`
 * (then the volume is empty); downwardAPI `fieldRef` supports metadata.name / namespace / uid /
 * labels / annotations (and `['key']` forms), `resourceFieldRef` limits/requests of cpu, memory,
 * ephemeral-storage with a divisor (node capacity when no limit). Service-account tokens come from
 * the TokenRequest API bound to the pod (boundObjectRef kind Pod, name, uid) with the asked
 * audience (default: the API server's) and expirationSeconds (default 3600), and are requested
 * again once 80 % of their lifetime or 24 h has passed (kl/token/token_manager.go).
 *
 * Confidential pods (issue 11's rule, as for local Secrets in secrets.ts): a plain Secret (volume or
 * projected source) and any service-account token are refused with reason `HostSecretRefused`
 * unless the pod carries `io.cocolet.allow-host-secrets: "true"`; a Secret whose chosen values are
 * all CoCo sealed secrets is fine. ConfigMaps and downwardAPI are not secret and are allowed.
 *
 * API: `projectApiVolume(pod, volume, ctx)` → Payload | undefined (not an API volume);
 * `TokenManager` (token cache + rotation); `ApiObjects` is the seam to the API server.
 */
import { cpus, totalmem } from 'node:os';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { Annotations, podKey, type Pod } from '../api/types.js';
import { parseQuantity } from '../config/kubeletconfig.js';
import type { FileProjection, Payload } from './atomic.js';
import { REASON_HOST_SECRET_REFUSED, hostSecretRefused, hostSecretsAllowed, isSealedValue } from './secrets.js';

export const DEFAULT_MODE = 0o644;
export const DEFAULT_TOKEN_EXPIRATION_S = 3600;
/** A token is renewed after this share of its lifetime (kl/token: 80 %). */
export const TOKEN_REFRESH_FRACTION = 0.8;
export const TOKEN_MAX_AGE_MS = 24 * 3600_000;

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface ObjectSource {
  name: string;
  items?: KeyToPath[];
  optional?: boolean;
}

export interface DownwardApiFile {
  path: string;
  fieldRef?: { fieldPath: string; apiVersion?: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
  mode?: number;
}

export interface ProjectionSource {
  configMap?: ObjectSource;
  secret?: ObjectSource;
  downwardAPI?: { items?: DownwardApiFile[] };
  serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
  clusterTrustBundle?: unknown;
  podCertificate?: unknown;
}

/** The volume sources handled here (the Volume type in api/types.ts lists only the local ones). */
export interface ApiVolume {
  name: string;
  configMap?: ObjectSource & { defaultMode?: number };
  secret?: { secretName?: string; items?: KeyToPath[]; optional?: boolean; defaultMode?: number };
  downwardAPI?: { items?: DownwardApiFile[]; defaultMode?: number };
  projected?: { sources?: ProjectionSource[]; defaultMode?: number };
}

export interface TokenRequestSpec {
  audiences: string[];
  expirationSeconds: number;
  boundObjectRef: { apiVersion: 'v1'; kind: 'Pod'; name: string; uid: string };
}

/** What the volumes need from the API server (undefined = not found). */
export interface ApiObjects {
  getConfigMap(namespace: string, name: string): Promise<{ data?: Record<string, string>; binaryData?: Record<string, string> } | undefined>;
  getSecret(namespace: string, name: string): Promise<{ data?: Record<string, string> } | undefined>;
  requestToken(namespace: string, serviceAccount: string, spec: TokenRequestSpec): Promise<{ token: string; expirationTimestamp: string }>;
  /** Told which objects a pod refers to (a watching implementation watches them; objectwatch.ts). */
  registerPod?(pod: Pod): void;
  unregisterPod?(uid: string): void;
}

interface CachedToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

/** Service-account tokens per (pod, service account, audience, lifetime), renewed at 80 % / 24 h. */
export class TokenManager {
  private readonly cache = new Map<string, CachedToken>();

  constructor(
    private readonly api: ApiObjects,
    private readonly now: () => number = Date.now,
  ) {}

  static needsRefresh(t: CachedToken, now: number): boolean {
    if (now >= t.expiresAt) return true;
    if (now - t.issuedAt > TOKEN_MAX_AGE_MS) return true;
    return now >= t.issuedAt + (t.expiresAt - t.issuedAt) * TOKEN_REFRESH_FRACTION;
  }

  async get(pod: Pod, sa: string, audiences: string[], expirationSeconds: number): Promise<string> {
    const ns = pod.metadata.namespace ?? 'default';
    const key = JSON.stringify([pod.metadata.uid, ns, sa, audiences, expirationSeconds]);
    const cur = this.cache.get(key);
    const now = this.now();
    if (cur && !TokenManager.needsRefresh(cur, now)) return cur.token;
    const r = await this.api.requestToken(ns, sa, {
      audiences,
      expirationSeconds,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid! },
    });
    const exp = Date.parse(r.expirationTimestamp);
    const t = { token: r.token, issuedAt: now, expiresAt: Number.isFinite(exp) ? exp : now + expirationSeconds * 1000 };
    this.cache.set(key, t);
    return t.token;
  }

  /** Forgets a pod's tokens. */
  forget(uid: string): void {
    for (const k of this.cache.keys()) if ((JSON.parse(k) as string[])[0] === uid) this.cache.delete(k);
  }

  /** When the earliest cached token of a pod should be renewed (ms since epoch), if any. */
  nextRefresh(uid: string): number | undefined {
    let at: number | undefined;
    for (const [k, t] of this.cache) {
      if ((JSON.parse(k) as string[])[0] !== uid) continue;
      const due = Math.min(t.issuedAt + (t.expiresAt - t.issuedAt) * TOKEN_REFRESH_FRACTION, t.issuedAt + TOKEN_MAX_AGE_MS);
      at = at === undefined ? due : Math.min(at, due);
    }
    return at;
  }
}

export interface ProjectContext {
  api: ApiObjects;
  tokens: TokenManager;
  confidential: boolean;
}

function mountError(pod: Pod, volume: string, message: string, code: (typeof ErrorCode)[keyof typeof ErrorCode] = ErrorCode.FailedPrecondition): CocoletError {
  return new CocoletError(code, `MountVolume.SetUp failed for volume "${volume}": ${message}`, { context: { pod: podKey(pod), volume, reason: 'FailedMount' } });
}

/** A service-account token for a confidential pod that did not opt in. */
function tokenRefused(pod: Pod, volume: string): CocoletError {
  return new CocoletError(
    ErrorCode.PermissionDenied,
    `service-account token in volume ${volume} refused for a confidential pod: the token would be visible to the host (set automountServiceAccountToken: false, or annotate ${Annotations.allowHostSecrets}: "true" to allow)`,
    { context: { pod: podKey(pod), volume, reason: REASON_HOST_SECRET_REFUSED } },
  );
}

function mode(m: number | undefined, dflt: number | undefined): number {
  return m ?? dflt ?? DEFAULT_MODE;
}

/** Key → bytes of a ConfigMap or Secret, projected through `items`. */
function projectKeys(pod: Pod, volume: string, kind: string, name: string, values: Map<string, Buffer>, src: { items?: KeyToPath[]; optional?: boolean }, dm: number | undefined, out: Payload): void {
  if (!src.items || src.items.length === 0) {
    for (const [k, v] of values) out.set(k, { data: v, mode: mode(undefined, dm) });
    return;
  }
  for (const it of src.items) {
    const v = values.get(it.key);
    if (v === undefined) {
      if (src.optional) continue;
      throw mountError(pod, volume, `${kind} "${name}" has no key "${it.key}"`);
    }
    out.set(it.path, { data: v, mode: mode(it.mode, dm) });
  }
}

function configMapValues(cm: { data?: Record<string, string>; binaryData?: Record<string, string> }): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) m.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) m.set(k, Buffer.from(v, 'base64'));
  return m;
}

function secretValues(s: { data?: Record<string, string> }): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) m.set(k, Buffer.from(v, 'base64'));
  return m;
}

async function projectConfigMap(pod: Pod, volume: string, src: ObjectSource, dm: number | undefined, ctx: ProjectContext, out: Payload): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  const cm = await ctx.api.getConfigMap(ns, src.name);
  if (!cm) {
    if (src.optional) return;
    throw mountError(pod, volume, `configmap "${src.name}" not found`, ErrorCode.NotFound);
  }
  projectKeys(pod, volume, 'configmap', src.name, configMapValues(cm), src, dm, out);
}

async function projectSecret(pod: Pod, volume: string, src: ObjectSource, dm: number | undefined, ctx: ProjectContext, out: Payload): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  const s = await ctx.api.getSecret(ns, src.name);
  if (!s) {
    if (src.optional) return;
    throw mountError(pod, volume, `secret "${src.name}" not found`, ErrorCode.NotFound);
  }
  const part: Payload = new Map();
  projectKeys(pod, volume, 'secret', src.name, secretValues(s), src, dm, part);
  if (ctx.confidential && !hostSecretsAllowed(pod)) {
    const sealed = part.size > 0 && [...part.values()].every((f) => isSealedValue(f.data));
    if (!sealed) throw hostSecretRefused(pod, `secret "${src.name}" in volume ${volume}`, { volume });
  }
  for (const [k, v] of part) out.set(k, v);
}

const FIELD_INDEXED = /^metadata\.(labels|annotations)\['(.+)'\]$/;

function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/** The value of a downwardAPI volume `fieldRef` (only the fields allowed in volumes). */
export function fieldRefValue(pod: Pod, fieldPath: string): string {
  const md = pod.metadata;
  switch (fieldPath) {
    case 'metadata.name':
      return md.name;
    case 'metadata.namespace':
      return md.namespace ?? 'default';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    default: {
      const m = FIELD_INDEXED.exec(fieldPath);
      if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]!] ?? '';
      throw new Error(`unsupported fieldRef ${fieldPath}`);
    }
  }
}

/** The value of a `resourceFieldRef` (limits.* falls back to node capacity; requests.* to 0 / the limit). */
export function resourceFieldValue(pod: Pod, ref: NonNullable<DownwardApiFile['resourceFieldRef']>, containerName?: string): string {
  const c = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === (ref.containerName ?? containerName));
  if (!c) throw new Error(`resourceFieldRef: container ${ref.containerName ?? '(unset)'} not found`);
  const [kind, res] = ref.resource.split('.', 2) as [string, string];
  if ((kind !== 'limits' && kind !== 'requests') || !['cpu', 'memory', 'ephemeral-storage'].includes(res)) throw new Error(`unsupported resource ${ref.resource}`);
  const lim = c.resources?.limits?.[res];
  const req = c.resources?.requests?.[res];
  const capacity = res === 'cpu' ? cpus().length : res === 'memory' ? totalmem() : 0;
  let v: number | undefined;
  if (kind === 'limits') v = lim !== undefined ? parseQuantity(lim) : capacity;
  else v = req !== undefined ? parseQuantity(req) : lim !== undefined ? parseQuantity(lim) : 0;
  const divisor = ref.divisor !== undefined ? parseQuantity(ref.divisor) : 1;
  if (v === undefined || !divisor) throw new Error(`resourceFieldRef ${ref.resource}: bad quantity or divisor`);
  return String(Math.ceil(v / divisor));
}

function projectDownward(pod: Pod, volume: string, items: DownwardApiFile[], dm: number | undefined, out: Payload): void {
  for (const it of items) {
    let value: string;
    try {
      if (it.fieldRef) value = fieldRefValue(pod, it.fieldRef.fieldPath);
      else if (it.resourceFieldRef) value = resourceFieldValue(pod, it.resourceFieldRef);
      else throw new Error('needs fieldRef or resourceFieldRef');
    } catch (e) {
      throw mountError(pod, volume, `downwardAPI item ${it.path}: ${(e as Error).message}`, ErrorCode.InvalidArgument);
    }
    out.set(it.path, { data: Buffer.from(value, 'utf8'), mode: mode(it.mode, dm) });
  }
}

/** The payload of an API-backed volume; undefined when the volume is not one. */
export async function projectApiVolume(pod: Pod, v: ApiVolume, ctx: ProjectContext): Promise<Payload | undefined> {
  const out: Payload = new Map();
  if (v.configMap) {
    await projectConfigMap(pod, v.name, v.configMap, v.configMap.defaultMode, ctx, out);
  } else if (v.secret) {
    await projectSecret(pod, v.name, { name: v.secret.secretName ?? '', ...(v.secret.items ? { items: v.secret.items } : {}), ...(v.secret.optional !== undefined ? { optional: v.secret.optional } : {}) }, v.secret.defaultMode, ctx, out);
  } else if (v.downwardAPI) {
    projectDownward(pod, v.name, v.downwardAPI.items ?? [], v.downwardAPI.defaultMode, out);
  } else if (v.projected) {
    const dm = v.projected.defaultMode;
    for (const s of v.projected.sources ?? []) {
      if (s.configMap) await projectConfigMap(pod, v.name, s.configMap, dm, ctx, out);
      else if (s.secret) await projectSecret(pod, v.name, s.secret, dm, ctx, out);
      else if (s.downwardAPI) projectDownward(pod, v.name, s.downwardAPI.items ?? [], dm, out);
      else if (s.serviceAccountToken) {
        if (ctx.confidential && !hostSecretsAllowed(pod)) {
          throw tokenRefused(pod, v.name);
        }
        const sa = (pod.spec as { serviceAccountName?: string }).serviceAccountName ?? 'default';
        const t = s.serviceAccountToken;
        let token: string;
        try {
          token = await ctx.tokens.get(pod, sa, t.audience ? [t.audience] : [], t.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_S);
        } catch (e) {
          throw mountError(pod, v.name, `failed to fetch token: ${(e as Error).message}`, ErrorCode.Unavailable);
        }
        const f: FileProjection = { data: Buffer.from(token, 'utf8'), mode: mode(undefined, dm) };
        out.set(t.path, f);
      } else {
        throw mountError(pod, v.name, `projected source ${Object.keys(s).join(',') || '(empty)'} is not supported`, ErrorCode.Unimplemented);
      }
    }
  } else return undefined;
  return out;
}
