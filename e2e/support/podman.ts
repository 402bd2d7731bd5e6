/**
 * e2e support for tests that run a peer as a container through testcontainers: a private
 * `podman system service` (its own containers.conf, storage in a temp graphroot, its own
 * Docker-compatible socket) owned by a Harness, and a `FROM scratch` image of `cocolet-kbs` made
 * from this machine's node binary, its shared libraries (ldd), the compiled broker and the npm
 * packages it imports (found by esbuild's metafile). Nothing is pulled from a registry.
 * Facts behind the settings: ../shared/reference/testcontainers.md.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { have, waitFor, type Harness } from '../../shared/testing/harness.js';

/** Why podman-based tests cannot run here, or undefined when they can. */
export function podmanMissing(): string | undefined {
  return have('podman') ? undefined : 'podman is not installed';
}

export interface PodmanService {
  /** `unix://<socket>` for DOCKER_HOST. */
  dockerHost: string;
  /** Runs the podman CLI against the same storage and configuration. */
  podman(args: string[]): Promise<string>;
}

function get(socketPath: string, path: string): Promise<number> {
  return new Promise((res) => {
    const r = request({ socketPath, path, timeout: 5000 }, (m) => (m.resume(), res(m.statusCode ?? 0)));
    r.on('error', () => res(0));
    r.on('timeout', () => r.destroy());
    r.end();
  });
}

/** Mount points at or under `dir` (deepest first), from /proc/self/mountinfo. */
function mountsUnder(dir: string): string[] {
  const text = existsSync('/proc/self/mountinfo') ? readFileSync('/proc/self/mountinfo', 'utf8') : '';
  return text.split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

/**
 * Starts `podman system service` on a socket in a fresh temp dir, with the default ulimits this
 * machine needs and overlay storage in that dir. On dispose: every container (also buildah's
 * working containers) and image of that storage is removed, the service stopped, leftover mounts
 * under the dir unmounted, the dir deleted.
 */
export async function startPodmanService(h: Harness): Promise<PodmanService> {
  const dir = h.tempDir('cocolet-podman-');
  const conf = join(dir, 'containers.conf');
  const storageConf = join(dir, 'storage.conf');
  // nofile <= the hard limit (20000 here), nproc <= podman's own RLIMIT_NPROC (32768 here)
  writeFileSync(conf, `[containers]\ndefault_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]\n[engine]\ntmp_dir = "${join(dir, 'libpod-tmp')}"\n`);
  writeFileSync(storageConf, `[storage]\ndriver = "overlay"\ngraphroot = "${join(dir, 'storage')}"\nrunroot = "${join(dir, 'run')}"\n`);
  const env = { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storageConf };
  const podman = (args: string[]): Promise<string> =>
    new Promise((res, rej) => {
      execFile('podman', args, { env, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? rej(new Error(`podman ${args.join(' ')}: ${stderr.trim() || err.message}`)) : res(stdout)));
    });
  h.defer(`unmount leftovers under ${dir}`, () => {
    for (const m of mountsUnder(dir)) execFileSync('umount', ['-l', m]);
  });
  const socket = join(dir, 'podman.sock');
  const service = h.start('podman', ['system', 'service', '--time=0', `unix://${socket}`], { env });
  h.defer('podman containers and images', async () => {
    const ids = (await podman(['ps', '-a', '--external', '--format', '{{.ID}}'])).split('\n').filter(Boolean);
    if (ids.length > 0) await podman(['rm', '-f', ...ids]);
    await podman(['rmi', '-a', '-f']);
    await service.stop();
  });
  try {
    await waitFor(async () => (await get(socket, '/_ping')) === 200, { what: `podman service on ${socket}`, timeoutMs: 60_000 });
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; its output: ${service.output().slice(-600)}`);
  }
  return { dockerHost: `unix://${socket}`, podman };
}

/** The repository root of the compiled tree (dist/..). */
const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOT = resolve(DIST, '..');

/** The first `node_modules/<pkg>` (or `node_modules/@scope/pkg`) directory of an absolute path. */
function packageDir(abs: string): string | undefined {
  const m = abs.match(/^(.*?\/node_modules\/(?:@[^/]+\/)?[^/]+)\//);
  return m?.[1];
}

/**
 * Writes a build context for a `FROM scratch` image that runs `cocolet-kbs`: the node binary at
 * /usr/bin/node with the libraries ldd lists at their paths, /app/dist with the compiled files the
 * broker imports, its built-in trust roots, and /app/node_modules with the packages it imports.
 * Returns the context directory (the Dockerfile is in it).
 */
export async function kbsImageContext(ctx: string): Promise<string> {
  const rootfs = join(ctx, 'rootfs');
  const put = (from: string, to: string): void => {
    mkdirSync(dirname(join(rootfs, to)), { recursive: true });
    copyFileSync(realpathSync(from), join(rootfs, to));
  };
  put(process.execPath, '/usr/bin/node');
  for (const line of execFileSync('ldd', [process.execPath], { encoding: 'utf8' }).split('\n')) {
    const lib = line.match(/(?:=>\s*)?(\/\S+)\s+\(0x/)?.[1];
    if (lib) put(lib, lib);
  }
  const entry = join(DIST, 'kbs', 'cmd', 'cocolet-kbs.js');
  const r = await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent', absWorkingDir: ROOT, outfile: join(ctx, 'unused.js') });
  const packages = new Set<string>();
  for (const input of Object.keys(r.metafile.inputs)) {
    const abs = resolve(ROOT, input);
    const pkg = packageDir(abs);
    if (pkg) packages.add(pkg);
    else if (abs.startsWith(`${DIST}/`)) put(abs, join('/app/dist', relative(DIST, abs)));
  }
  for (const pkg of packages) cpSync(pkg, join(rootfs, 'app', 'node_modules', pkg.slice(pkg.indexOf('/node_modules/') + '/node_modules/'.length)), { recursive: true, dereference: true });
  cpSync(join(ROOT, 'shared', 'attestation', 'roots'), join(rootfs, 'app', 'dist', 'shared', 'attestation', 'roots'), { recursive: true, dereference: true });
  writeFileSync(join(rootfs, 'app', 'package.json'), '{"type":"module","private":true}\n');
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nWORKDIR /app\nENTRYPOINT ["/usr/bin/node", "/app/dist/kbs/cmd/cocolet-kbs.js"]\n');
  return ctx;
}
