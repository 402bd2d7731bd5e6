/**
 * Pod volumes on the host: emptyDir (a directory under the pod dir, or a tmpfs for
 * `medium: Memory`), hostPath (with the API's type checks), and Secret / ConfigMap volumes fed
 * from a local store under the root dir (`secrets/<name>/`, `configmaps/<name>/`: no API server
 * here). A confidential pod (one that runs in the TEE) never gets a plain host Secret volume
 * unless it opts in with the `io.cocolet.allow-host-secrets: "true"` annotation; otherwise the pod
 * is refused with reason `HostSecretRefused` — its secrets come from the key broker instead. A
 * Secret whose files are all sealed secrets (`sealed.…`) is fine: the guest unseals it (secrets.ts).
 *
 * Pods from the API server get their configMap, secret, downwardAPI and projected volumes
 * (service-account tokens included) from the API through `apivolumes.ts`, written with the atomic
 * writer (`atomic.ts`); each sync re-projects them, so updates appear in place. The same
 * confidential-pod rule applies there (secrets and tokens refused unless opted in).
 *
 * API: `new VolumeManager({ rootDir, api? })`; `setApi(api)`; `await setUp(pod, { confidential })` → Map name → host path;
 * `await envFor(pod, container, { confidential, podIPs? })` → resolved env (env.ts); `mountsFor(container, paths)` → CRI mounts; `tearDown(uid)`.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode, toCocoletError } from '../../../shared/errors/errors.js';
import { Annotations, podKey, type Container, type Pod } from '../api/types.js';
import { parseQuantity } from '../config/kubeletconfig.js';
import { allSealed, hostSecretRefused, hostSecretsAllowed, REASON_CONFIG_ERROR } from './secrets.js';
import { envObjectRefs, localEnvObjects, resolveEnv, type EnvObjects, type ResolvedEnv } from './env.js';
import { projectApiVolume, TokenManager, type ApiObjects, type ApiVolume } from './apivolumes.js';
import { DATA_DIR_NAME, writeAtomic } from './atomic.js';

export { REASON_HOST_SECRET_REFUSED } from './secrets.js';

export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
}

export interface VolumeManagerOptions {
  rootDir: string;
  /** The API server's objects (pods from the `api` source); settable later with setApi. */
  api?: ApiObjects;
  /** Back secret and projected volumes with tmpfs when running as root (default true, as upstream). */
  tmpfsForSecrets?: boolean;
  /** The node's name (env fieldRef spec.nodeName of pods without one). */
  nodeName?: string;
}

const API_VOLUME_DIRS: Record<string, string> = {
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
};

const noApi: ApiObjects = {
  getConfigMap: () => Promise.reject(new Error('no API server (--kubeconfig) to read ConfigMaps from')),
  getSecret: () => Promise.reject(new Error('no API server (--kubeconfig) to read Secrets from')),
  requestToken: () => Promise.reject(new Error('no API server (--kubeconfig) to request tokens from')),
};

function mountsUnder(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export class VolumeManager {
  private api: ApiObjects | undefined;
  private tokens: TokenManager | undefined;

  constructor(private readonly opts: VolumeManagerOptions) {
    if (opts.api) this.setApi(opts.api);
  }

  setApi(api: ApiObjects, o: { hostIPs?: () => string[] } = {}): void {
    this.api = api;
    this.tokens = new TokenManager(api);
    if (o.hostIPs) this.hostIPs = o.hostIPs;
  }

  private hostIPs: () => string[] = () => [];

  /** When the pod's earliest service-account token is due for renewal (ms since epoch). */
  nextTokenRefresh(uid: string): number | undefined {
    return this.tokens?.nextRefresh(uid);
  }

  private mountTmpfs(dir: string, ctx: { pod: string; volume: string }): void {
    if (mountsUnder(dir)[0] === dir) return;
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new CocoletError(ErrorCode.FailedPrecondition, `cannot mount tmpfs for volume ${ctx.volume}: ${r.stderr.trim()}`, { context: ctx });
  }

  /** A configMap / secret / downwardAPI / projected volume from the API; undefined when `v` is none of them or the pod is not an API pod. */
  private async setUpApiVolume(pod: Pod, v: ApiVolume, confidential: boolean, warn?: (message: string) => void): Promise<string | undefined> {
    const kind = Object.keys(API_VOLUME_DIRS).find((k) => v[k as keyof ApiVolume] !== undefined);
    if (!kind) return undefined;
    const fromApi = pod.metadata.annotations?.[Annotations.configSource] === 'api';
    // Static pods, and any pod of a kubelet without an API server: the local store.
    if ((kind === 'configMap' || kind === 'secret') && (!fromApi || !this.api)) return undefined;
    const api = this.api ?? noApi;
    this.tokens ??= new TokenManager(api);
    const dir = join(this.podDir(pod.metadata.uid!), 'volumes', API_VOLUME_DIRS[kind]!, v.name);
    let payload;
    try {
      payload = await projectApiVolume(pod, v, { api, tokens: this.tokens, confidential });
    } catch (e) {
      // A volume projected before keeps its last content when a refresh fails (API server down,
      // object deleted): the running pod goes on, as upstream's. Refusals are never softened.
      const err = toCocoletError(e);
      if (err.code === ErrorCode.PermissionDenied || !existsSync(join(dir, DATA_DIR_NAME)) || !warn) throw err;
      warn(err.message);
      return dir;
    }
    if (!payload) return undefined;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if ((kind === 'secret' || kind === 'projected') && this.opts.tmpfsForSecrets !== false && process.getuid?.() === 0) this.mountTmpfs(dir, { pod: podKey(pod), volume: v.name });
    writeAtomic(dir, payload);
    return dir;
  }

  podDir(uid: string): string {
    return join(this.opts.rootDir, 'pods', uid);
  }

  /** `warn`: told when an API volume could not be refreshed and keeps its previous content. */
  async setUp(pod: Pod, o: { confidential: boolean; warn?: (message: string) => void }): Promise<Map<string, string>> {
    const uid = pod.metadata.uid!;
    const out = new Map<string, string>();
    const ctx = { pod: podKey(pod) };
    if (this.api && pod.metadata.annotations?.[Annotations.configSource] === 'api') this.api.registerPod?.(pod);
    for (const v of pod.spec.volumes ?? []) {
      const apiDir = await this.setUpApiVolume(pod, v as ApiVolume, o.confidential, o.warn);
      if (apiDir) {
        out.set(v.name, apiDir);
        continue;
      }
      if (v.emptyDir) {
        const dir = join(this.podDir(uid), 'volumes', 'kubernetes.io~empty-dir', v.name);
        mkdirSync(dir, { recursive: true, mode: 0o777 });
        if (v.emptyDir.medium === 'Memory' && mountsUnder(dir)[0] !== dir) {
          const size = v.emptyDir.sizeLimit ? parseQuantity(v.emptyDir.sizeLimit) : undefined;
          const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `mode=0777${size ? `,size=${Math.floor(size)}` : ''}`, 'tmpfs', dir], { encoding: 'utf8' });
          if (r.status !== 0) {
            throw new CocoletError(ErrorCode.FailedPrecondition, `cannot mount tmpfs for emptyDir ${v.name}: ${r.stderr.trim()}`, { context: { ...ctx, volume: v.name } });
          }
        }
        out.set(v.name, dir);
      } else if (v.hostPath) {
        out.set(v.name, this.hostPath(v.name, v.hostPath.path, v.hostPath.type ?? '', ctx.pod));
      } else if (v.secret || v.configMap) {
        const isSecret = Boolean(v.secret);
        const name = v.secret?.secretName ?? v.configMap!.name;
        const src = join(this.opts.rootDir, isSecret ? 'secrets' : 'configmaps', name);
        if (!existsSync(src)) {
          throw new CocoletError(ErrorCode.NotFound, `${isSecret ? 'secret' : 'configmap'} ${name} not found in the local store`, { context: { ...ctx, volume: v.name } });
        }
        if (isSecret && o.confidential && !hostSecretsAllowed(pod) && !allSealed(src, v.secret?.items?.map((it) => it.key))) {
          throw hostSecretRefused(pod, `secret volume ${v.name}`, { volume: v.name });
        }
        const dir = join(this.podDir(uid), 'volumes', isSecret ? 'kubernetes.io~secret' : 'kubernetes.io~configmap', v.name);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        if (v.secret?.items) {
          for (const it of v.secret.items) writeFileSync(join(dir, it.path), readFileSync(join(src, it.key)), { mode: v.secret.defaultMode ?? 0o644 });
        } else cpSync(src, dir, { recursive: true });
        out.set(v.name, dir);
      } else if (!(v.downwardAPI || v.projected)) {
        // API pods may carry any volume type; those cocolet cannot mount stop the pod here, by name.
        const type = Object.keys(v).find((k) => k !== 'name') ?? '(none)';
        throw new CocoletError(ErrorCode.Unimplemented, `volume ${v.name}: type ${type} is not supported by cocolet`, { context: { ...ctx, volume: v.name, reason: 'FailedMount' } });
      }
    }
    return out;
  }

  private hostPath(name: string, path: string, type: string, pod: string): string {
    const ctx = { pod, volume: name };
    const st = existsSync(path) ? statSync(path) : undefined;
    const need = (ok: boolean, what: string): void => {
      if (!ok) throw new CocoletError(ErrorCode.FailedPrecondition, `hostPath ${path} is not ${what}`, { context: ctx });
    };
    switch (type) {
      case '':
        break;
      case 'DirectoryOrCreate':
        if (!st) mkdirSync(path, { recursive: true, mode: 0o755 });
        else need(st.isDirectory(), 'a directory');
        break;
      case 'Directory':
        need(Boolean(st?.isDirectory()), 'a directory');
        break;
      case 'FileOrCreate':
        if (!st) writeFileSync(path, '', { mode: 0o644 });
        else need(st.isFile(), 'a file');
        break;
      case 'File':
        need(Boolean(st?.isFile()), 'a file');
        break;
      case 'Socket':
        need(Boolean(st?.isSocket()), 'a socket');
        break;
      case 'CharDevice':
        need(Boolean(st?.isCharacterDevice()), 'a character device');
        break;
      case 'BlockDevice':
        need(Boolean(st?.isBlockDevice()), 'a block device');
        break;
      default:
        throw new CocoletError(ErrorCode.InvalidArgument, `unknown hostPath type ${type}`, { context: ctx });
    }
    return path;
  }

  /**
   * The container's environment (env.ts): ConfigMaps and Secrets from the API server for API pods
   * (the watches' stores when watched), from the local store otherwise; `podIPs` once the sandbox
   * exists (fieldRef status.podIP).
   */
  async envFor(pod: Pod, c: Container, o: { confidential: boolean; podIPs?: string[] }): Promise<ResolvedEnv[]> {
    const fromApi = this.api !== undefined && pod.metadata.annotations?.[Annotations.configSource] === 'api';
    const objects = fromApi ? await this.apiEnvObjects(pod, c, this.api!) : localEnvObjects(this.opts.rootDir);
    return resolveEnv(pod, c, {
      objects,
      confidential: o.confidential,
      fields: { ...(this.opts.nodeName ? { nodeName: this.opts.nodeName } : {}), hostIPs: this.hostIPs(), ...(o.podIPs ? { podIPs: o.podIPs } : {}) },
    });
  }

  /** The ConfigMaps and Secrets of the container's env, read from the API (Secret data decoded). */
  private async apiEnvObjects(pod: Pod, c: Container, api: ApiObjects): Promise<EnvObjects> {
    const ns = pod.metadata.namespace ?? 'default';
    const got = new Map<string, Map<string, string> | undefined>();
    for (const r of envObjectRefs(c)) {
      try {
        if (r.kind === 'configmap') {
          const cm = await api.getConfigMap(ns, r.name);
          got.set(`${r.kind}/${r.name}`, cm ? new Map(Object.entries(cm.data ?? {})) : undefined);
        } else {
          const sec = await api.getSecret(ns, r.name);
          got.set(`${r.kind}/${r.name}`, sec ? new Map(Object.entries(sec.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) : undefined);
        }
      } catch (e) {
        throw new CocoletError(ErrorCode.Unavailable, `couldn't get ${r.kind} ${ns}/${r.name} for the env of container ${c.name}: ${(e as Error).message}`, {
          context: { pod: podKey(pod), container: c.name, reason: REASON_CONFIG_ERROR },
        });
      }
    }
    return { get: (kind, name) => got.get(`${kind}/${name}`) };
  }

  mountsFor(c: Container, paths: Map<string, string>): CriMount[] {
    return (c.volumeMounts ?? []).flatMap((m) => {
      const base = paths.get(m.name);
      if (!base) return [];
      const hostPath = m.subPath ? join(base, m.subPath) : base;
      if (m.subPath) mkdirSync(hostPath, { recursive: true });
      return [{ containerPath: m.mountPath, hostPath, readonly: Boolean(m.readOnly) }];
    });
  }

  /** Unmounts and removes everything of the pod. */
  tearDown(uid: string): void {
    this.tokens?.forget(uid);
    this.api?.unregisterPod?.(uid);
    const dir = this.podDir(uid);
    for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
  }
}
