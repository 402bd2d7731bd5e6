/**
 * Tiny OCI images built from Debian's busybox-static, so no registry is ever needed.
 *
 * API:
 *   buildBusyboxImage({ out, ref, entrypoint, cmd? })  → writes an OCI image-layout tarball
 *     (one gzip layer: /bin/busybox + applet symlinks, /etc/passwd, /etc/group, empty dirs).
 *     Deterministic: the same busybox binary gives byte-identical tarballs (sorted entries,
 *     mtime 0, uid/gid 0, fixed modes, gzip without timestamps).
 *   importImage({ address, tarball })  → `ctr -n k8s.io images import` (the namespace CRI sees).
 *   ensureStandardImages({ address, cacheDir, cri })  → builds + imports PAUSE_IMAGE and
 *     BUSYBOX_IMAGE unless CRI ImageStatus already reports them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, renameSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import type { CriImages } from '../cri/api.js';
import { DEFAULT_SANDBOX_IMAGE } from '../containerd/config.js';

export const PAUSE_IMAGE = DEFAULT_SANDBOX_IMAGE;
export const BUSYBOX_IMAGE = 'localhost/cocolet/busybox:1';
export const BUSYBOX_BIN = '/bin/busybox';

export interface BuildOptions {
  /** Output tarball path. */
  out: string;
  /** Full reference, e.g. `localhost/cocolet/busybox:1`. */
  ref: string;
  entrypoint: string[];
  cmd?: string[];
  busybox?: string;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function buildBusyboxImage(opts: BuildOptions): { manifestDigest: string } {
  const busybox = opts.busybox ?? BUSYBOX_BIN;
  if (!existsSync(busybox)) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `${busybox} is missing (install busybox-static)`);
  }
  const work = mkdtempSync(join(resolve(opts.out, '..'), '.oci-build-'));
  try {
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(busybox, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).trim().split('\n').sort();
    for (const a of applets) if (a && a !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnobody:x:65534:\n');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'root']) chmodSync(join(rootfs, d), 0o755);
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    chmodSync(join(rootfs, 'etc/passwd'), 0o644);
    chmodSync(join(rootfs, 'etc/group'), 0o644);
    chmodSync(rootfs, 0o755);
    utimesSync(rootfs, 0, 0);
    const layerTar = execFileSync(
      'tar',
      ['-C', rootfs, '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-cf', '-', '.'],
      { maxBuffer: 1 << 30 },
    );
    const layerGz = gzipSync(layerTar, { level: 9 });
    const layout = join(work, 'oci');
    mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
    const put = (buf: Buffer): { digest: string; size: number } => {
      const digest = sha256(buf);
      writeFileSync(join(layout, 'blobs/sha256', digest.slice(7)), buf);
      return { digest, size: buf.length };
    };
    const layer = put(layerGz);
    const config = put(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          created: '1970-01-01T00:00:00Z',
          config: { Entrypoint: opts.entrypoint, Cmd: opts.cmd ?? null, Env: ['PATH=/bin'], WorkingDir: '/' },
          rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
          history: [{ created: '1970-01-01T00:00:00Z', created_by: 'cocolet host/images' }],
        }),
      ),
    );
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
        }),
      ),
    );
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            platform: { architecture: 'amd64', os: 'linux' },
            annotations: {
              'io.containerd.image.name': opts.ref,
              'org.opencontainers.image.ref.name': opts.ref.split(':').pop() ?? 'latest',
            },
          },
        ],
      }),
    );
    const tmp = `${opts.out}.tmp`;
    execFileSync('tar', [
      '-C', layout, '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name',
      '-cf', tmp, 'oci-layout', 'index.json', 'blobs',
    ]);
    renameSync(tmp, opts.out);
    return { manifestDigest: manifest.digest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface ImportOptions {
  /** containerd gRPC socket. */
  address: string;
  tarball: string;
  namespace?: string;
}

export function importImage(opts: ImportOptions): void {
  const r = spawnSync('ctr', ['-a', opts.address, '-n', opts.namespace ?? 'k8s.io', 'images', 'import', opts.tarball], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) {
    throw new CocoletError(ErrorCode.RuntimeFailed, `ctr images import failed: ${(r.stderr ?? '').trim()}`, {
      context: { image: opts.tarball },
    });
  }
}

export interface StandardImage {
  ref: string;
  entrypoint: string[];
  cmd?: string[];
  file: string;
}

export const STANDARD_IMAGES: StandardImage[] = [
  { ref: PAUSE_IMAGE, entrypoint: ['/bin/sleep', '2147483647'], file: 'pause.tar' },
  { ref: BUSYBOX_IMAGE, entrypoint: ['/bin/sh'], file: 'busybox.tar' },
];

export interface EnsureOptions {
  address: string;
  /** Where the tarballs are kept between runs. */
  cacheDir: string;
  cri: CriImages;
  images?: StandardImage[];
}

/** Builds (if not cached) and imports the standard images that CRI does not already have. */
export async function ensureStandardImages(opts: EnsureOptions): Promise<string[]> {
  mkdirSync(opts.cacheDir, { recursive: true });
  const imported: string[] = [];
  for (const img of opts.images ?? STANDARD_IMAGES) {
    if (await opts.cri.imageStatus(img.ref)) continue;
    const tar = join(opts.cacheDir, img.file);
    if (!existsSync(tar)) buildBusyboxImage({ out: tar, ref: img.ref, entrypoint: img.entrypoint, ...(img.cmd ? { cmd: img.cmd } : {}) });
    importImage({ address: opts.address, tarball: tar });
    imported.push(img.ref);
  }
  return imported;
}
