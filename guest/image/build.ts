/**
 * Builds the guest image: a kernel and a reproducible initramfs (cpio newc, sorted, mtime 0,
 * owner 0) holding busybox, runc, util-linux `script` (the agent's pty helper for terminal processes), the needed
 * kernel modules, Node and the agent bundle (CommonJS, plus its ESM entry).
 * Same inputs → same bytes; rebuilding is skipped when the inputs' fingerprint is unchanged.
 *
 * CLI: `npm run guest-image` (`node dist/guest/image/build.js [--force]`). Prints the launch
 * measurement (SHA-256 and SHA-384) for the key broker's reference values.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCpio, type CpioEntry } from './cpio.js';
import { bundleAgent } from './bundle.js';
import { initScript } from './init.js';
import { obtainKernel, readModules } from './kernel.js';
import { launchMeasurement, type LaunchMeasurement } from './measure.js';
import { guestImageDir, IMAGE_FILES } from './paths.js';
import { ensureAgentSnapshot } from './agent-snapshot.js';

/** Bumped whenever the image layout changes, so cached images are rebuilt. */
export const IMAGE_FORMAT_VERSION = 7;

/** Kernel command line (tuned for fast boots on QEMU microvm; see the microVM reference). */
export const BASE_CMDLINE = [
  'console=ttyS0', 'quiet', 'panic=-1', 'pci=off', 'tsc=reliable', 'no_timer_check',
  'cryptomgr.notests', 'apparmor=0', 'audit=0', 'mitigations=off', 'rcupdate.rcu_expedited=1',
  '8250.nr_uarts=1', 'random.trust_cpu=on', 'tpm_tis.force=1', 'tpm_tis.interrupts=0',
  'initcall_blacklist=init_kprobe_trace,crypto_kdf108_init',
];

export interface BuildOptions {
  outDir?: string;
  /** Download/extraction cache (kernel package, stripped node); default `<outDir>/cache`. */
  cacheDir?: string;
  force?: boolean;
  nodeBinary?: string;
  busybox?: string;
  runc?: string;
  /** util-linux `script` (guest/runtime/tty.ts); default /usr/bin/script; absent: the image has none and terminal requests are refused. */
  script?: string;
  log?: (msg: string) => void;
}

export interface ImageManifest {
  formatVersion: number;
  fingerprint: string;
  kernelRelease: string;
  cmdline: string;
  /** `bundle` is the agent's ESM entry file; `bundleChunks` the files beside it (the CommonJS bundle /init starts). */
  files: { kernel: string; initramfs: string; bundle: string; bundleChunks: string[] };
  /** `bundle`: all agent files; `bundleEntry`: what Node parses before Health answers (the CommonJS bundle /init starts). */
  sizes: { kernel: number; initramfs: number; bundle: number; bundleEntry: number };
  bundlePackages: string[];
  /** Bytes of the bundle's inputs before bundling and minifying. */
  bundleInputBytes: number;
  measurement: { sha256: LaunchMeasurement; sha384: LaunchMeasurement };
}

export interface BuildResult {
  dir: string;
  manifest: ImageManifest;
  rebuilt: boolean;
}

/** Host TSC rate in kHz: the microvm clock needs it under TCG (and it is right under KVM). */
export function hostTscKhz(): number | undefined {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^cpu MHz\s*:\s*([0-9.]+)/m);
    return m ? Math.round(Number.parseFloat(m[1]!) * 1000) : undefined;
  } catch {
    return undefined;
  }
}

export function imageCmdline(): string {
  const khz = hostTscKhz();
  return [...BASE_CMDLINE, ...(khz ? [`tsc_early_khz=${khz}`] : [])].join(' ');
}

/** Shared libraries a dynamically linked binary needs, as [path in guest, real file]. */
export function sharedLibraries(binary: string): [string, string][] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: [string, string][] = [];
  for (const line of out.split('\n')) {
    const m = line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
    if (m) libs.push([m[1]!, realpathSync(m[1]!)]);
  }
  return libs;
}

function statKey(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

function sha256(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Stripped copy of the node binary, cached by the source's size and mtime. */
function strippedNode(nodeBinary: string, cacheDir: string): Buffer {
  const key = sha256(statKey(nodeBinary)).slice(0, 16);
  const path = join(cacheDir, `node-${key}`);
  if (!existsSync(path)) {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      execFileSync('strip', ['-o', tmp, nodeBinary], { stdio: 'ignore' });
    } catch {
      writeFileSync(tmp, readFileSync(nodeBinary));
    }
    renameSync(tmp, path);
  }
  return readFileSync(path);
}

function busyboxApplets(busybox: string): string[] {
  return execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').map((s) => s.trim()).filter(Boolean);
}

export async function buildGuestImage(opts: BuildOptions = {}): Promise<BuildResult> {
  const dir = opts.outDir ?? guestImageDir();
  const log = opts.log ?? (() => undefined);
  const nodeBinary = realpathSync(opts.nodeBinary ?? process.execPath);
  const busybox = opts.busybox ?? '/bin/busybox';
  const runc = opts.runc ?? '/usr/sbin/runc';
  for (const [what, p] of [['busybox (busybox-static)', busybox], ['runc', runc]] as const) {
    if (!existsSync(p)) throw new Error(`${what} not found at ${p}; run scripts/setup`);
  }
  mkdirSync(dir, { recursive: true });
  const cacheDir = opts.cacheDir ?? join(dir, 'cache');
  const kernel = obtainKernel(cacheDir);
  const bundle = await bundleAgent();
  const modules = readModules(kernel);
  const init = initScript(modules.map((m) => m.name));
  const cmdline = imageCmdline();
  const script = opts.script ?? '/usr/bin/script';
  const withScript = existsSync(script);
  if (!withScript) log(`no util-linux script at ${script}: the guest agent will refuse terminal (tty) processes`);
  const libs = [...sharedLibraries(nodeBinary), ...sharedLibraries(runc), ...(withScript ? sharedLibraries(script) : [])];

  const fingerprint = sha256(JSON.stringify({
    v: IMAGE_FORMAT_VERSION,
    kernel: statKey(kernel.bzImage),
    modules: modules.map((m) => [m.name, sha256(m.data)]),
    node: statKey(nodeBinary), busybox: statKey(busybox), runc: statKey(runc), script: withScript ? statKey(script) : null,
    libs: libs.map(([g, r]) => [g, statKey(r)]),
    bundle: sha256(bundle.code), chunks: bundle.chunks.map((c) => [c.name, sha256(c.code)]), init, cmdline,
  }));
  const manifestPath = join(dir, IMAGE_FILES.manifest);
  if (!opts.force && existsSync(manifestPath)) {
    try {
      const old = JSON.parse(readFileSync(manifestPath, 'utf8')) as ImageManifest;
      const agentFiles = [old.files.bundle, ...old.files.bundleChunks].map((f) => join(dir, f));
      if (old.fingerprint === fingerprint && [IMAGE_FILES.initramfs, IMAGE_FILES.kernel].every((f) => existsSync(join(dir, f))) && agentFiles.every((f) => existsSync(f))) {
        log('guest image is up to date');
        // The bundle was just checked to be what this tree produces: date it so, for the process
        // hypervisor, which runs it while it is no older than the agent's sources.
        const now = new Date();
        for (const f of agentFiles) utimesSync(f, now, now);
        snapshot(dir, log);
        return { dir, manifest: old, rebuilt: false };
      }
    } catch {
      /* unreadable manifest: rebuild */
    }
  }

  log('building guest image');
  const entries: CpioEntry[] = [];
  const taken = new Set<string>();
  const add = (e: CpioEntry): void => {
    const p = e.path.replace(/^\/+/, '');
    if (taken.has(p)) return;
    taken.add(p);
    entries.push({ ...e, path: p });
  };
  add({ path: 'init', kind: 'file', data: Buffer.from(init), mode: 0o755 });
  add({ path: 'bin/busybox', kind: 'file', data: readFileSync(busybox), mode: 0o755 });
  add({ path: 'bin/node', kind: 'file', data: strippedNode(nodeBinary, cacheDir), mode: 0o755 });
  add({ path: 'usr/sbin/runc', kind: 'file', data: readFileSync(runc), mode: 0o755 });
  if (withScript) add({ path: 'usr/bin/script', kind: 'file', data: readFileSync(script), mode: 0o755 });
  add({ path: `agent/${IMAGE_FILES.bundle}`, kind: 'file', data: bundle.code, mode: 0o644 });
  for (const c of bundle.chunks) add({ path: `agent/${c.name}`, kind: 'file', data: c.code, mode: 0o644 });
  for (const [guestPath, real] of libs) add({ path: guestPath, kind: 'file', data: readFileSync(real), mode: 0o755 });
  for (const m of modules) add({ path: `lib/modules/${m.name}.ko`, kind: 'file', data: m.data, mode: 0o644 });
  for (const a of busyboxApplets(busybox)) {
    if (a.endsWith('/busybox') || a === 'linuxrc') continue;
    add({ path: a, kind: 'symlink', target: '/bin/busybox' });
  }
  add({ path: 'etc/passwd', kind: 'file', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') });
  add({ path: 'etc/group', kind: 'file', data: Buffer.from('root:x:0:\n') });
  add({ path: 'etc/hosts', kind: 'file', data: Buffer.from('127.0.0.1 localhost\n') });
  // QEMU user networking's DNS forwarder (registries by host name)
  add({ path: 'etc/resolv.conf', kind: 'file', data: Buffer.from('nameserver 10.0.2.3\n') });
  for (const d of ['dev', 'proc', 'sys', 'run', 'tmp', 'root', 'var/lib']) add({ path: d, kind: 'dir' });
  const initramfs = writeCpio(entries);
  const kernelBytes = readFileSync(kernel.bzImage);

  const manifest: ImageManifest = {
    formatVersion: IMAGE_FORMAT_VERSION,
    fingerprint,
    kernelRelease: kernel.release,
    cmdline,
    files: { kernel: IMAGE_FILES.kernel, initramfs: IMAGE_FILES.initramfs, bundle: IMAGE_FILES.bundle, bundleChunks: bundle.chunks.map((c) => c.name) },
    sizes: {
      kernel: kernelBytes.length, initramfs: initramfs.length,
      bundle: bundle.chunks.reduce((n, c) => n + c.code.length, bundle.code.length),
      bundleEntry: bundle.chunks.find((c) => c.name === IMAGE_FILES.agentMain)?.code.length ?? bundle.code.length,
    },
    bundlePackages: bundle.packages,
    bundleInputBytes: bundle.inputBytes,
    measurement: {
      sha256: launchMeasurement('sha256', kernelBytes, initramfs, cmdline),
      sha384: launchMeasurement('sha384', kernelBytes, initramfs, cmdline),
    },
  };
  // Concurrent builders (parallel test files) write identical bytes: unique temp names + atomic renames.
  const put = (name: string, data: Uint8Array | string): void => {
    const tmp = join(dir, `${name}.tmp-${process.pid}`);
    writeFileSync(tmp, data);
    renameSync(tmp, join(dir, name));
  };
  put(IMAGE_FILES.kernel, kernelBytes);
  put(IMAGE_FILES.initramfs, initramfs);
  // Chunks first: the entry (what the process hypervisor starts) only appears once its chunks are there.
  for (const c of bundle.chunks) put(c.name, c.code);
  put(IMAGE_FILES.bundle, bundle.code);
  put(IMAGE_FILES.cmdline, cmdline + '\n');
  put(IMAGE_FILES.manifest, JSON.stringify(manifest, null, 2) + '\n');
  snapshot(dir, log);
  return { dir, manifest, rebuilt: true };
}

/** The process hypervisor's agent snapshot beside the bundle (agent-snapshot.ts); without one it runs the bundle. */
function snapshot(dir: string, log: (m: string) => void): void {
  const r = ensureAgentSnapshot(join(dir, IMAGE_FILES.agentMain));
  if ('error' in r) log(`no agent snapshot (the process agent runs its bundle): ${r.error}`);
  else if (r.built) log('agent snapshot built (for the process hypervisor)');
}

async function main(): Promise<void> {
  const force = process.argv.includes('--force');
  const r = await buildGuestImage({ force, log: (m) => process.stderr.write(`guest-image: ${m}\n`) });
  const m = r.manifest;
  const mb = (n: number): string => (n / 1048576).toFixed(1);
  process.stdout.write(
    `guest image ${r.rebuilt ? 'built' : 'unchanged'} in ${r.dir}\n` +
      `  kernel     ${m.kernelRelease} (${mb(m.sizes.kernel)} MiB)\n` +
      `  initramfs  ${mb(m.sizes.initramfs)} MiB; agent bundle ${(m.sizes.bundle / 1024).toFixed(0)} KiB (entry ${(m.sizes.bundleEntry / 1024).toFixed(0)} KiB), packages: ${m.bundlePackages.join(', ') || '(none)'}\n` +
      `  cmdline    ${m.cmdline}\n` +
      `  launch measurement sha256 ${m.measurement.sha256.launch}\n` +
      `  launch measurement sha384 ${m.measurement.sha384.launch}\n`,
  );
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`guest-image: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
