/**
 * The guest kernel and its modules, taken from the Debian cloud kernel package. The package is
 * downloaded with `apt-get download` into the cache and unpacked with `dpkg-deb -x` — never
 * installed into /boot. Falls back to an already installed copy of the same kernel when the
 * package cannot be downloaded (offline machine).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Modules the guest loads, in an order that satisfies their dependencies (microvm, virtio-mmio). */
export const GUEST_MODULES = [
  'virtio_mmio', // virtio transport on microvm (pulls virtio, virtio_ring)
  'virtio_console', // virtio-serial: the agent channel
  'virtio_net', // user-net: second transport and image pulls (pulls failover, net_failover)
  'virtio_blk', // the init-data disk
  'overlay', // container root filesystems from image layers
  'virtio_rng', // entropy from the host early in boot (Go's runtime in runc reads getrandom)
  // configfs-tsm: the TEE report interface init-data is checked against (agent/initdata/measure.ts)
  'configfs', // /sys/kernel/config, mounted by /init
  'tsm', // /sys/kernel/config/tsm/report
  'sev_guest', // SEV-SNP provider (binds only in an SNP guest)
  'tdx_guest', // TDX provider (refuses to load outside a TDX guest)
] as const;

export interface GuestKernel {
  /** Kernel release, e.g. `6.1.0-56-cloud-amd64`. */
  release: string;
  /** Path of the bzImage. */
  bzImage: string;
  /** Root of `lib/modules/<release>`. */
  modulesDir: string;
  /** Where it came from: the package file or the installed copy. */
  source: string;
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Name of the versioned kernel package the `linux-image-cloud-amd64` meta-package points at. */
export function cloudKernelPackage(): string {
  const fromDpkg = spawnSync('dpkg-query', ['-W', '-f', '${Depends}', 'linux-image-cloud-amd64'], { encoding: 'utf8' });
  const deps = fromDpkg.status === 0 ? fromDpkg.stdout : run('apt-cache', ['depends', 'linux-image-cloud-amd64']);
  const m = deps.match(/linux-image-[0-9][^\s,()]*-cloud-amd64/);
  if (!m) throw new Error('cannot find the versioned cloud kernel package; is linux-image-cloud-amd64 known to apt?');
  return m[0];
}

/** Downloads (once) and unpacks the cloud kernel package under `cacheDir`. */
export function obtainKernel(cacheDir: string): GuestKernel {
  const pkg = cloudKernelPackage();
  const release = pkg.replace(/^linux-image-/, '');
  const root = join(cacheDir, 'kernel', release);
  const bzImage = join(root, 'boot', `vmlinuz-${release}`);
  const modulesDir = join(root, 'lib', 'modules', release);
  if (existsSync(bzImage) && existsSync(join(modulesDir, 'modules.dep'))) {
    return { release, bzImage, modulesDir, source: root };
  }
  const debDir = join(cacheDir, 'deb');
  mkdirSync(debDir, { recursive: true });
  let deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) {
    // apt-get writes <pkg>_<ver>_<arch>.deb via a partial file and renames it: safe to race.
    const r = spawnSync('apt-get', ['download', pkg], { cwd: debDir, encoding: 'utf8' });
    deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) {
      const installed = `/boot/vmlinuz-${release}`;
      const installedMods = `/lib/modules/${release}`;
      if (existsSync(installed) && existsSync(join(installedMods, 'modules.dep'))) {
        return { release, bzImage: installed, modulesDir: installedMods, source: installed };
      }
      throw new Error(`apt-get download ${pkg} failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
    }
  }
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run('dpkg-deb', ['-x', join(debDir, deb), tmp]);
  run('depmod', ['-b', tmp, release]);
  try {
    renameSync(tmp, root);
  } catch {
    // another builder finished first (same package, same files): keep theirs
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(modulesDir, 'modules.dep'))) throw new Error(`cannot install the kernel into ${root}`);
  }
  return { release, bzImage, modulesDir, source: join(debDir, deb) };
}

/** A module's name from its file path (`kernel/fs/overlayfs/overlay.ko.xz` -> `overlay`, dashes as underscores). */
function moduleName(file: string): string {
  return file.split('/').pop()!.replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
}

/** Parses `modules.dep` into module name → { file, deps (names) }. */
export function parseModulesDep(text: string): Map<string, { file: string; deps: string[] }> {
  const name = moduleName;
  const out = new Map<string, { file: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const file = line.slice(0, i).trim();
    const deps = line.slice(i + 1).trim().split(/\s+/).filter(Boolean).map(name);
    out.set(name(file), { file, deps });
  }
  return out;
}

/** Names of the modules built into the kernel (`modules.builtin`), which need no loading. */
export function parseModulesBuiltin(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.trim();
    if (f) out.add(moduleName(f));
  }
  return out;
}

/** Load order (dependencies first, each module once) for the wanted modules; built-in ones are skipped. */
export function moduleLoadOrder(
  dep: Map<string, { file: string; deps: string[] }>,
  wanted: readonly string[],
  builtin: ReadonlySet<string> = new Set(),
): { name: string; file: string }[] {
  const order: { name: string; file: string }[] = [];
  const seen = new Set<string>();
  const visit = (n: string, depth: number): void => {
    if (seen.has(n) || builtin.has(n)) return;
    if (depth > 64) throw new Error(`module dependency loop at ${n}`);
    const m = dep.get(n);
    if (!m) throw new Error(`module ${n} is neither in modules.dep nor in modules.builtin`);
    // modules.dep lists every transitive dependency; load the deepest ones first.
    for (const d of [...m.deps].reverse()) visit(d, depth + 1);
    seen.add(n);
    order.push({ name: n, file: m.file });
  };
  for (const w of wanted) visit(w, 0);
  return order;
}

/** A module file's bytes as busybox insmod needs them: plain ELF (6.12's Debian modules are xz-compressed). */
function moduleBytes(path: string): Buffer {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.ko.xz')) return execFileSync('xz', ['-dc', path], { maxBuffer: 64 << 20 });
  if (path.endsWith('.ko.zst')) return execFileSync('zstd', ['-dcq', path], { maxBuffer: 64 << 20 });
  throw new Error(`module ${path} has a compression this build cannot undo`);
}

export function readModules(k: GuestKernel): { name: string; data: Buffer }[] {
  const dep = parseModulesDep(readFileSync(join(k.modulesDir, 'modules.dep'), 'utf8'));
  const builtinFile = join(k.modulesDir, 'modules.builtin');
  const builtin = existsSync(builtinFile) ? parseModulesBuiltin(readFileSync(builtinFile, 'utf8')) : new Set<string>();
  return moduleLoadOrder(dep, GUEST_MODULES, builtin).map((m) => ({ name: m.name, data: moduleBytes(join(k.modulesDir, m.file)) }));
}
