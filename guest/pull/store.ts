/**
 * Pulled images inside the guest: each image unpacked once into guest memory under
 * `<root>/<manifest hex>/rootfs`, keyed by manifest digest; concurrent pulls of one image share
 * one download. Layers are decompressed (gzip) and their uncompressed digests checked against
 * the config's diff_ids.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { parseReference } from './reference.js';
import { RegistryClient, sha256Digest, type ImageConfig, type RegistryOptions } from './registry.js';
import { unpackLayer } from './tar.js';

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
}

export class ImageStore {
  private readonly inflight = new Map<string, Promise<PulledImage>>();

  constructor(private readonly opts: ImageStoreOptions) {
    mkdirSync(opts.root, { recursive: true });
  }

  async pull(reference: string, checkDigest?: (digest: string) => void): Promise<PulledImage> {
    const ref = parseReference(reference);
    const client = new RegistryClient(ref, this.opts);
    const started = performance.now();
    const { digest, manifest } = await client.manifest();
    checkDigest?.(digest);
    const dir = join(this.opts.root, digest.slice(7));
    const done = join(dir, 'image.json');
    if (existsSync(done)) {
      return { reference, manifestDigest: digest, rootfs: join(dir, 'rootfs'), config: JSON.parse(readFileSync(done, 'utf8')) as ImageConfig };
    }
    let p = this.inflight.get(digest);
    if (!p) {
      p = (async () => {
        const config = JSON.parse((await client.blob(manifest.config)).toString('utf8')) as ImageConfig;
        const diffIds = config.rootfs?.diff_ids ?? [];
        if (diffIds.length !== manifest.layers.length) throw new CocoletError(ErrorCode.DataLoss, 'image pull: config diff_ids do not match the layers');
        const tmp = `${dir}.tmp`;
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(join(tmp, 'rootfs'), { recursive: true });
        let bytes = 0;
        for (const [i, l] of manifest.layers.entries()) {
          const blob = await client.blob(l);
          const gz = l.mediaType.endsWith('gzip') || (blob[0] === 0x1f && blob[1] === 0x8b);
          if (!gz && !l.mediaType.endsWith('tar') && !l.mediaType.endsWith('tar.gzip') && l.mediaType.includes('zstd')) {
            throw new CocoletError(ErrorCode.Unimplemented, `image pull: layer media type ${l.mediaType} not supported`);
          }
          const tar = gz ? gunzipSync(blob) : blob;
          if (sha256Digest(tar) !== diffIds[i]) throw new CocoletError(ErrorCode.DataLoss, `image pull: layer ${i} diff_id mismatch`);
          unpackLayer(tar, join(tmp, 'rootfs'));
          bytes += blob.length;
        }
        writeFileSync(join(tmp, 'image.json'), JSON.stringify(config));
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
        this.opts.logger.info({ image: reference, digest, layers: manifest.layers.length, bytes, ms: Math.round(performance.now() - started) }, 'image pulled');
        return { reference, manifestDigest: digest, rootfs: join(dir, 'rootfs'), config };
      })().finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, p);
    }
    return await p;
  }
}
