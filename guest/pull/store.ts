/**
 * Pulled images inside the guest: each image unpacked once into guest memory under
 * `<root>/<manifest hex>[-setuid]/rootfs`, keyed by manifest digest and by whether setuid bits
 * were kept; concurrent pulls of one image share one download. Layers are decompressed (gzip,
 * bounded) and their uncompressed digests checked against the config's diff_ids, then applied
 * by tar.ts, confined to the image's own directory. An image is unpacked into `<dir>.tmp` and
 * renamed into place only when every layer applied; a failure removes the temporary directory, so
 * nothing half-applied is ever found as an image (`image.json` marks a complete one).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { parseReference } from './reference.js';
import { RegistryClient, sha256Digest, type ImageConfig, type RegistryOptions } from './registry.js';
import { DEFAULT_UNPACK_LIMITS, unpackLayerAsync, type UnpackLimits } from './tar.js';

export interface PulledImage {
  reference: string;
  manifestDigest: string;
  rootfs: string;
  config: ImageConfig;
}

export interface ImageStoreOptions extends RegistryOptions {
  root: string;
  logger: Logger;
  /** Called with the manifest digest before anything is downloaded (policy digest pins). */
  checkDigest?: (digest: string) => void;
  /**
   * Unpack limits (defaults DEFAULT_UNPACK_LIMITS). maxEntries and maxTotalBytes count the whole
   * image (all layers together); the others are per entry.
   */
  unpackLimits?: Partial<UnpackLimits>;
}

export interface PullOptions {
  /** Keep setuid/setgid bits of the image's files (default: cleared). A separately cached unpack. */
  keepSetuid?: boolean;
}

/** Uncompressed tar bytes a layer may have beyond its file content: header, PAX header and padding per entry. */
const TAR_OVERHEAD_PER_ENTRY = 3 * 512;

function gunzipBounded(blob: Buffer, max: number, layer: string): Buffer {
  try {
    return gunzipSync(blob, { maxOutputLength: max });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new CocoletError(ErrorCode.ResourceExhausted, `image layer ${layer}: decompresses to more than ${max} bytes (limits maxTotalBytes/maxEntries)`, { context: { layer, limit: 'maxTotalBytes' } });
    }
    throw new CocoletError(ErrorCode.DataLoss, `image layer ${layer}: gzip data is corrupt (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { context: { layer } });
  }
}

export class ImageStore {
  private readonly inflight = new Map<string, Promise<PulledImage>>();
  private readonly limits: UnpackLimits;

  constructor(private readonly opts: ImageStoreOptions) {
    mkdirSync(opts.root, { recursive: true });
    this.limits = { ...DEFAULT_UNPACK_LIMITS, ...opts.unpackLimits };
  }

  async pull(reference: string, checkDigest?: (digest: string) => void, o: PullOptions = {}): Promise<PulledImage> {
    const ref = parseReference(reference);
    const client = new RegistryClient(ref, this.opts);
    const started = performance.now();
    const { digest, manifest } = await client.manifest();
    checkDigest?.(digest);
    const keepSetuid = o.keepSetuid ?? false;
    // the digest was computed here (sha256:<64 hex>), so the name cannot leave the store's root
    const key = `${digest.slice(7)}${keepSetuid ? '-setuid' : ''}`;
    const dir = join(this.opts.root, key);
    const done = join(dir, 'image.json');
    if (existsSync(done)) {
      return { reference, manifestDigest: digest, rootfs: join(dir, 'rootfs'), config: JSON.parse(readFileSync(done, 'utf8')) as ImageConfig };
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = (async () => {
        const config = JSON.parse((await client.blob(manifest.config)).toString('utf8')) as ImageConfig;
        const diffIds = config.rootfs?.diff_ids ?? [];
        if (diffIds.length !== manifest.layers.length) throw new CocoletError(ErrorCode.DataLoss, 'image pull: config diff_ids do not match the layers');
        const tmp = `${dir}.tmp`;
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(join(tmp, 'rootfs'), { recursive: true, mode: 0o755 });
        try {
          let bytes = 0;
          let setuidCleared = 0;
          const used = { entries: 0, bytes: 0 };
          for (const [i, l] of manifest.layers.entries()) {
            if (l.mediaType.includes('zstd')) throw new CocoletError(ErrorCode.Unimplemented, `image pull: layer media type ${l.mediaType} not supported`);
            const blob = await client.blob(l);
            const limits: UnpackLimits = { ...this.limits, maxEntries: this.limits.maxEntries - used.entries, maxTotalBytes: this.limits.maxTotalBytes - used.bytes };
            const gz = l.mediaType.endsWith('gzip') || (blob[0] === 0x1f && blob[1] === 0x8b);
            const maxTar = Math.min(bufferConstants.MAX_LENGTH, limits.maxTotalBytes + limits.maxEntries * TAR_OVERHEAD_PER_ENTRY + 1024);
            const tar = gz ? gunzipBounded(blob, maxTar, l.digest) : blob;
            if (sha256Digest(tar) !== diffIds[i]) throw new CocoletError(ErrorCode.DataLoss, `image pull: layer ${i} (${l.digest}) diff_id mismatch`);
            const st = await unpackLayerAsync(tar, join(tmp, 'rootfs'), { layer: l.digest, keepSetuid, limits });
            used.entries += st.entries;
            used.bytes += st.bytes;
            setuidCleared += st.setuidCleared;
            bytes += blob.length;
          }
          writeFileSync(join(tmp, 'image.json'), JSON.stringify(config));
          rmSync(dir, { recursive: true, force: true });
          renameSync(tmp, dir);
          this.opts.logger.info({ image: reference, digest, layers: manifest.layers.length, bytes, entries: used.entries, setuidCleared, ms: Math.round(performance.now() - started) }, 'image pulled');
        } catch (e) {
          rmSync(tmp, { recursive: true, force: true });
          throw e instanceof CocoletError ? e.withContext({ image: reference }) : e;
        }
        return { reference, manifestDigest: digest, rootfs: join(dir, 'rootfs'), config };
      })().finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return await p;
  }
}
