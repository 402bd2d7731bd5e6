/**
 * The sandbox VM's processes (QEMU and its helpers, e.g. swtpm) join the pod sandbox's cgroup, so
 * the VM's own memory and CPU are charged to the pod, limited by it and seen by eviction, as Kata's
 * `sandbox_cgroup_only`. The cgroup is the sandbox OCI spec's `linux.cgroupsPath`, which
 * containerd's CRI sets from the pod's cgroup parent:
 *
 *   - cgroupfs driver: `<cgroup parent>/<sandbox id>` (e.g. `/kubepods/pod<uid>/<id>`);
 *   - systemd driver: `<slice>:<prefix>:<name>` -> `a.slice/a-b.slice/<prefix>-<name>.scope`.
 *
 * cgroup v2: one hierarchy. v1: every mounted hierarchy under the root (cpu, memory, cpuset, pids,
 * name=systemd, the hybrid `unified` one...), as runc joins them. A missing cgroupfs directory is
 * created (and only those are removed again by `release`, deepest first, when empty); a new v1
 * cpuset directory gets its parent's cpus/mems (the kernel refuses tasks in an empty cpuset). A
 * systemd scope is never created here (that is systemd's job): when absent, the VM stays where it is.
 *
 * Nothing here fails the pod: a failure is returned and the caller logs it, naming the path.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface VmCgroupOptions {
  /** Where the cgroup hierarchies are mounted (default /sys/fs/cgroup; tests: a temp dir). */
  root?: string;
}

export interface VmCgroupResult {
  /** The cgroup path relative to each hierarchy root (undefined: the spec names none). */
  path?: string;
  /** Hierarchies joined (directory each). */
  joined: string[];
  /** Directories this call created (to remove at teardown). */
  created: string[];
  /** What went wrong, per hierarchy (the path named); empty when all went well. */
  errors: string[];
}

/** The cgroup path of an OCI `linux.cgroupsPath`, relative to a hierarchy's root; undefined when none. */
export function cgroupPathOf(cgroupsPath: unknown): { path: string; systemd: boolean } | undefined {
  if (typeof cgroupsPath !== 'string' || cgroupsPath.trim() === '') return undefined;
  const p = cgroupsPath.trim();
  const parts = p.split(':');
  if (parts.length === 3 && !p.startsWith('/')) {
    const [slice, prefix, name] = parts as [string, string, string];
    return { path: posix.join(expandSlice(slice || '-.slice'), `${prefix ? `${prefix}-` : ''}${name}.scope`), systemd: true };
  }
  const norm = posix.normalize(`/${p}`);
  if (p.split('/').includes('..')) return undefined;
  return { path: norm.replace(/^\/+/, ''), systemd: false };
}

/** systemd's slice naming: `a-b-c.slice` lives at `a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root. */
function expandSlice(slice: string): string {
  if (slice === '-.slice' || !slice.endsWith('.slice')) return '';
  const words = slice.slice(0, -'.slice'.length).split('-');
  const out: string[] = [];
  for (let i = 1; i <= words.length; i++) out.push(`${words.slice(0, i).join('-')}.slice`);
  return out.join('/');
}

/** The hierarchies under `root`: itself on cgroup v2, else each mounted v1 (or hybrid) hierarchy once. */
export function hierarchies(root: string): { dir: string; v2: boolean; cpuset: boolean }[] {
  if (existsSync(join(root, 'cgroup.controllers'))) return [{ dir: root, v2: true, cpuset: false }];
  const out: { dir: string; v2: boolean; cpuset: boolean }[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(root).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    const dir = join(root, n);
    try {
      if (lstatSync(dir).isSymbolicLink()) continue; // cpu,cpuacct -> the same hierarchy
    } catch {
      continue;
    }
    if (!existsSync(join(dir, 'cgroup.procs'))) continue;
    out.push({ dir, v2: existsSync(join(dir, 'cgroup.controllers')), cpuset: existsSync(join(dir, 'cpuset.cpus')) && !existsSync(join(dir, 'cgroup.controllers')) });
  }
  return out;
}

/** Moves `pids` into the cgroup `cgroupsPath` names, in every hierarchy; never throws. */
export function joinVmCgroup(cgroupsPath: unknown, pids: readonly number[], o: VmCgroupOptions = {}): VmCgroupResult {
  const root = o.root ?? '/sys/fs/cgroup';
  const res: VmCgroupResult = { joined: [], created: [], errors: [] };
  const cg = cgroupPathOf(cgroupsPath);
  if (!cg) {
    if (cgroupsPath !== undefined && cgroupsPath !== '') res.errors.push(`linux.cgroupsPath ${JSON.stringify(cgroupsPath)} is not a cgroup path`);
    return res;
  }
  res.path = cg.path;
  const hs = hierarchies(root);
  if (hs.length === 0) res.errors.push(`no cgroup hierarchy mounted under ${root}`);
  for (const h of hs) {
    const target = join(h.dir, cg.path);
    try {
      if (!existsSync(target)) {
        if (cg.systemd) throw new Error('the systemd scope does not exist (the shim does not create systemd units)');
        createDirs(h.dir, cg.path, h.cpuset, res.created);
      }
      for (const pid of pids) {
        try {
          writeFileSync(join(target, 'cgroup.procs'), `${pid}\n`);
        } catch (e) {
          // a helper that is already gone is not an error of the cgroup
          if (existsSync(`/proc/${pid}`)) throw e;
        }
      }
      res.joined.push(target);
    } catch (e) {
      res.errors.push(`${target}: ${(e as Error).message}`);
    }
  }
  return res;
}

function createDirs(base: string, rel: string, cpuset: boolean, created: string[]): void {
  let dir = base;
  for (const part of rel.split('/').filter(Boolean)) {
    const parent = dir;
    dir = join(dir, part);
    if (existsSync(dir)) continue;
    mkdirSync(dir);
    created.push(dir);
    if (cpuset) {
      // v1: a new cpuset is empty and takes no task until it has cpus and mems
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (readOr(join(dir, f)) === '') writeFileSync(join(dir, f), readOr(join(parent, f)) || '\n');
      }
    }
  }
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Removes the directories `joinVmCgroup` created (deepest first), each once its cgroup.procs is
 * empty (bounded wait: an exited process leaves its cgroup a moment after it was reaped); returns
 * what could not be removed. A directory someone else put tasks into stays.
 */
export async function releaseVmCgroup(created: readonly string[], o: { waitMs?: number } = {}): Promise<string[]> {
  const left: string[] = [];
  for (const dir of [...created].sort((a, b) => b.length - a.length)) {
    const deadline = Date.now() + (o.waitMs ?? 2000);
    for (;;) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || Date.now() > deadline) {
          left.push(`${dir}: ${code ?? (e as Error).message}${readOr(join(dir, 'cgroup.procs')) ? ` (tasks: ${readOr(join(dir, 'cgroup.procs')).split('\n').join(' ')})` : ''}`);
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
  return left;
}
