/**
 * OCI distribution client (pull only): resolves a manifest (following an index to linux/amd64),
 * fetches the config and layers, and verifies every digest before anything is used. Anonymous
 * bearer-token auth is supported; plain HTTP only for registries listed as insecure; a registry may
 * be served by a mirror named in the agent's settings.
 */
import { createHash } from 'node:crypto';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { ImageReference } from './reference.js';

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_BLOB_BYTES = 1024 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string };
}

export interface Manifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageConfig {
  config?: { Entrypoint?: string[] | null; Cmd?: string[] | null; Env?: string[] | null; WorkingDir?: string; User?: string };
  rootfs?: { diff_ids?: string[] };
}

export interface RegistryOptions {
  /** host[:port] of registries reached over plain HTTP. */
  insecureRegistries?: readonly string[];
  /**
   * Registry host → the host[:port] that serves its repositories instead (the image keeps its
   * name; digests are verified as for any pull). Whether plain HTTP is used is decided for the
   * mirror, by `insecureRegistries`.
   */
  registryMirrors?: Readonly<Record<string, string>>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export function sha256Digest(b: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

function fail(msg: string, ref: ImageReference): CocoletError {
  return new CocoletError(ErrorCode.Unavailable, `image pull ${ref.registry}/${ref.repository}: ${msg}`);
}

export class RegistryClient {
  private token: string | undefined;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly ref: ImageReference, private readonly opts: RegistryOptions = {}) {
    this.fetchFn = opts.fetch ?? fetch;
  }

  private base(): string {
    const mirrors = this.opts.registryMirrors ?? {};
    const host = Object.hasOwn(mirrors, this.ref.registry) ? mirrors[this.ref.registry]! : this.ref.registry;
    const insecure = this.opts.insecureRegistries?.includes(host) ?? false;
    return `${insecure ? 'http' : 'https'}://${host}/v2/${this.ref.repository}`;
  }

  private async get(path: string, accept: string[] | undefined, limit: number): Promise<{ body: Buffer; type: string }> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers: Record<string, string> = {};
      if (accept) headers.accept = accept.join(', ');
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      const res = await this.fetchFn(`${this.base()}${path}`, { headers, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 120_000), redirect: 'follow' });
      if (res.status === 401 && attempt === 0 && (await this.authenticate(res.headers.get('www-authenticate')))) continue;
      if (!res.ok) throw fail(`GET ${path.split('/')[1]} answered HTTP ${res.status}`, this.ref);
      const len = Number(res.headers.get('content-length') ?? '0');
      if (len > limit) throw fail('response too large', this.ref);
      const body = Buffer.from(await res.arrayBuffer());
      if (body.length > limit) throw fail('response too large', this.ref);
      return { body, type: (res.headers.get('content-type') ?? '').split(';')[0]!.trim() };
    }
    throw fail('unauthorized', this.ref);
  }

  private async authenticate(header: string | null): Promise<boolean> {
    const m = header?.match(/^Bearer\s+(.*)$/i);
    if (!m) return false;
    const params = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (!params.realm) return false;
    const u = new URL(params.realm);
    if (params.service) u.searchParams.set('service', params.service);
    u.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`);
    const res = await this.fetchFn(u, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60_000) });
    if (!res.ok) return false;
    const j = (await res.json()) as { token?: string; access_token?: string };
    this.token = j.token ?? j.access_token;
    return Boolean(this.token);
  }

  /** Resolves the image manifest for linux/amd64; returns it with its verified digest. */
  async manifest(): Promise<{ digest: string; manifest: Manifest }> {
    let want = this.ref.digest ?? this.ref.tag!;
    for (let depth = 0; depth < 2; depth++) {
      const { body, type } = await this.get(`/manifests/${want}`, MANIFEST_TYPES, MAX_MANIFEST_BYTES);
      const digest = sha256Digest(body);
      if (want.startsWith('sha256:') && digest !== want) throw new CocoletError(ErrorCode.DataLoss, `image pull: manifest digest mismatch (want ${want}, got ${digest})`);
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw fail('manifest is not JSON', this.ref);
      }
      const mediaType = (doc.mediaType as string | undefined) ?? type;
      if (mediaType.includes('index') || mediaType.includes('manifest.list') || Array.isArray(doc.manifests)) {
        const list = (doc.manifests as Descriptor[] | undefined) ?? [];
        const pick = list.find((d) => d.platform?.os === 'linux' && d.platform?.architecture === 'amd64') ?? (list.length === 1 ? list[0] : undefined);
        if (!pick) throw fail('no linux/amd64 image in the index', this.ref);
        want = pick.digest;
        continue;
      }
      const m = doc as unknown as Manifest;
      if (!m.config?.digest || !Array.isArray(m.layers)) throw fail('manifest lacks config or layers', this.ref);
      return { digest, manifest: m };
    }
    throw fail('nested index', this.ref);
  }

  /** Fetches a blob and verifies its digest and size. */
  async blob(d: Descriptor): Promise<Buffer> {
    if (!/^sha256:[0-9a-f]{64}$/.test(d.digest)) throw fail(`unsupported digest ${d.digest.slice(0, 80)}`, this.ref);
    if (d.size > MAX_BLOB_BYTES) throw fail('blob too large', this.ref);
    const { body } = await this.get(`/blobs/${d.digest}`, undefined, Math.max(d.size, 1));
    if (body.length !== d.size) throw new CocoletError(ErrorCode.DataLoss, `image pull: blob ${d.digest} size ${body.length} != ${d.size}`);
    const got = sha256Digest(body);
    if (got !== d.digest) throw new CocoletError(ErrorCode.DataLoss, `image pull: blob digest mismatch (want ${d.digest}, got ${got})`);
    return body;
  }
}
