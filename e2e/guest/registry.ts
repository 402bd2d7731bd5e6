/**
 * Test peer: Debian's docker-registry on host loopback with a busybox image (built from
 * busybox-static, pushed with skopeo). Shared by the guest agent tests and the guest benchmark.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { waitFor, type Harness } from '../../shared/testing/harness.js';

export const TEST_IMAGE_REPO = 'cocolet/busybox';
export const TEST_IMAGE_TAG = '1';

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** An OCI image layout with one layer holding busybox and its applets; returns the layout dir. */
export function buildBusyboxLayout(dir: string, busybox = '/bin/busybox'): string {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).trim().split('\n')) {
    if (a && a !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', a));
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
  const tar = execFileSync('tar', ['-C', rootfs, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  const gz = gzipSync(tar);
  const sha = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const layout = join(dir, 'oci');
  mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer): { digest: string; size: number } => {
    const d = sha(b);
    writeFileSync(join(layout, 'blobs/sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const layer = put(gz);
  const cfg = put(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Entrypoint: null, Cmd: ['/bin/sh'], Env: ['PATH=/bin'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [sha(tar)] },
  })));
  const man = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...man, annotations: { 'org.opencontainers.image.ref.name': TEST_IMAGE_TAG } }],
  }));
  return layout;
}

export interface TestRegistry {
  port: number;
  /** `127.0.0.1:<port>` (from the host); from a QEMU user-net guest use `10.0.2.2:<port>`. */
  host: string;
  /** Pushed busybox image `127.0.0.1:<port>/cocolet/busybox:1`. */
  image: string;
}

/** Starts docker-registry on a free loopback port and pushes the busybox image to it. */
export async function startRegistry(h: Harness): Promise<TestRegistry> {
  const dir = h.tempDir('cocolet-registry-');
  const port = await freePort();
  const cfg = join(dir, 'config.yml');
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  h.start('docker-registry', ['serve', cfg]);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined))?.ok, { what: 'docker-registry', timeoutMs: 20_000 });
  const layout = buildBusyboxLayout(join(dir, 'img'));
  const host = `127.0.0.1:${port}`;
  execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${TEST_IMAGE_TAG}`, `docker://${host}/${TEST_IMAGE_REPO}:${TEST_IMAGE_TAG}`], { stdio: 'pipe' });
  return { port, host, image: `${host}/${TEST_IMAGE_REPO}:${TEST_IMAGE_TAG}` };
}
