/**
 * A loopback OCI registry (Debian's `docker-registry`) holding the busybox image, pushed with
 * skopeo from an OCI layout built from busybox-static. Confidential pods pull their images INSIDE
 * the guest, so the node needs a registry the guest can reach: a QEMU user-net guest reaches the
 * host's loopback as 10.0.2.2 (see `GUEST_HOST_ADDRESS`).
 *
 * API:
 *   const r = await startLocalRegistry({ dir });   // resolves once GET /v2/ answers
 *   r.port / r.host ("127.0.0.1:PORT") / r.url
 *   await pushBusybox(r, { workDir });             // → "127.0.0.1:PORT/cocolet/busybox:1"
 *   await r.stop();                                // kills its process group, removes `dir`
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { delay } from '../../shared/lifecycle/disposables.js';

export const REGISTRY_BUSYBOX_REPO = 'cocolet/busybox';
export const REGISTRY_BUSYBOX_TAG = '1';
/** The host's loopback as seen from a QEMU user-net (slirp) guest. */
export const GUEST_HOST_ADDRESS = '10.0.2.2';
export const DEFAULT_REGISTRY_READY_TIMEOUT_MS = 20_000;

/** A TCP port free on 127.0.0.1 right now. */
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

/** The image config fields the layouts here set (OCI image config `config`). */
export interface LayoutImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

const sha = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A deterministic tar of `dir`'s contents (root-owned, mtime 0, sorted). */
export function tarDirectory(dir: string): Buffer {
  return execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
}

/**
 * Writes an OCI image layout at `layout` with the given uncompressed layer tars (bottom first,
 * each gzipped) and image config, its one manifest tagged `tag`; returns `layout`.
 */
export function writeOciLayout(layout: string, o: { layers: Buffer[]; config: LayoutImageConfig; tag: string }): string {
  rmSync(layout, { recursive: true, force: true });
  mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer): { digest: string; size: number } => {
    const d = sha(b);
    writeFileSync(join(layout, 'blobs/sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const layers = o.layers.map((tar) => put(gzipSync(tar)));
  const cfg = put(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Entrypoint: null, Cmd: ['/bin/sh'], Env: ['PATH=/bin'], WorkingDir: '/', ...o.config },
    rootfs: { type: 'layers', diff_ids: o.layers.map(sha) },
  })));
  const man = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...man, annotations: { 'org.opencontainers.image.ref.name': o.tag } }],
  }));
  return layout;
}

/** A root filesystem directory with busybox and its applets in /bin and a root-only passwd/group. */
export function busyboxRootfs(rootfs: string, busybox = '/bin/busybox'): string {
  rmSync(rootfs, { recursive: true, force: true });
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busybox, join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  for (const a of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).trim().split('\n')) {
    if (a && a !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', a));
  }
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\n');
  return rootfs;
}

/** An OCI image layout with one layer holding busybox and its applets; returns the layout dir. */
export function buildBusyboxLayout(dir: string, busybox = '/bin/busybox', tag = REGISTRY_BUSYBOX_TAG): string {
  const rootfs = busyboxRootfs(join(dir, 'rootfs'), busybox);
  return writeOciLayout(join(dir, 'oci'), { layers: [tarDirectory(rootfs)], config: {}, tag });
}

export interface LocalRegistryOptions {
  /** Working directory (config, storage, log); removed by stop(). */
  dir: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  binary?: string;
  readyTimeoutMs?: number;
}

export interface LocalRegistry extends AsyncDisposable {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  readonly pid: number;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Starts docker-registry on 127.0.0.1 in its own process group; resolves once `/v2/` answers. */
export async function startLocalRegistry(o: LocalRegistryOptions): Promise<LocalRegistry> {
  const port = o.port ?? (await freePort());
  mkdirSync(o.dir, { recursive: true });
  const cfg = join(o.dir, 'config.yml');
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(o.dir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const logFd = openSync(join(o.dir, 'registry.log'), 'a');
  const child = spawn(o.binary ?? 'docker-registry', ['serve', cfg], { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exited = false;
  const done = new Promise<void>((resolve) => {
    child.once('exit', () => ((exited = true), resolve()));
    child.once('error', () => ((exited = true), resolve()));
  });
  const pid = child.pid ?? -1;
  const kill = (sig: NodeJS.Signals): void => {
    if (pid <= 0 || exited) return;
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      kill('SIGTERM');
      const t = setTimeout(() => kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
      rmSync(o.dir, { recursive: true, force: true });
    })());
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + (o.readyTimeoutMs ?? DEFAULT_REGISTRY_READY_TIMEOUT_MS);
  for (;;) {
    if (exited) {
      await stop();
      throw new CocoletError(ErrorCode.FailedPrecondition, 'docker-registry exited during startup', { context: { port } });
    }
    const ok = (await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.ok;
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new CocoletError(ErrorCode.DeadlineExceeded, 'docker-registry did not answer', { context: { port } });
    }
    await delay(50);
  }
  return { port, host, pid, dir: o.dir, stop, [Symbol.asyncDispose]: stop };
}

export interface PushOptions {
  /** Scratch directory for the OCI layout. */
  workDir: string;
  busybox?: string;
  repo?: string;
  tag?: string;
}

/** Pushes the OCI layout's image tagged `tag` to `ref` (`host/repo:tag`) with skopeo. */
export function pushLayout(layout: string, tag: string, ref: string): void {
  try {
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${ref}`], { stdio: 'pipe' });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop() ?? '';
    throw new CocoletError(ErrorCode.FailedPrecondition, `skopeo could not push ${ref}: ${stderr}`, { context: { ref } });
  }
}

/** Builds the busybox OCI layout and pushes it with skopeo; returns `127.0.0.1:PORT/repo:tag`. */
export function pushBusybox(r: Pick<LocalRegistry, 'host'>, o: PushOptions): string {
  const tag = o.tag ?? REGISTRY_BUSYBOX_TAG;
  const layout = buildBusyboxLayout(o.workDir, o.busybox, tag);
  const ref = `${r.host}/${o.repo ?? REGISTRY_BUSYBOX_REPO}:${tag}`;
  pushLayout(layout, tag, ref);
  return ref;
}
