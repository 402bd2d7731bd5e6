/**
 * Applies an OCI image layer (a tar, already decompressed) to a root directory, per the OCI
 * image spec's layer format, without any file-system operation acting outside the root:
 *   - every entry's parent is resolved inside the root (beneath.ts: symlinked parents followed
 *     within the root, never out of it); `..` components are refused, absolute paths are taken
 *     relative to the root;
 *   - the entry itself is never followed: files are created O_EXCL|O_NOFOLLOW and chowned,
 *     chmodded and timed through their descriptor; symlinks get lchown/lutimes; an existing
 *     entry in the way is removed first (rm does not follow symlinks) unless both are directories;
 *   - hardlink targets are resolved the same way and must be regular files inside the root; a
 *     hardlink is never chowned or chmodded (it shares its target's inode);
 *   - whiteouts `.wh.<name>` and opaque whiteouts `.wh..wh..opq` remove what lower layers had,
 *     resolved inside the root; what this layer itself created stays;
 *   - device nodes, fifos and other special types are refused, naming the entry;
 *   - setuid/setgid bits of files are cleared unless `keepSetuid` (directories keep setgid);
 *     extended attributes (so file capabilities too) are never applied;
 *   - limits (UnpackLimits) bound entries, bytes, path lengths and symlink hops.
 * Directory modes and times are applied at the end (so a read-only directory does not stop
 * later entries), each directory re-resolved without following anything and skipped when a
 * later entry replaced it.
 * Errors are CocoletErrors naming the layer and the entry; the root is then half-applied, so the
 * caller unpacks into a fresh directory and discards it on failure (store.ts does).
 */
import { closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { Beneath, cleanComponents, DEFAULT_MAX_SYMLINK_HOPS } from './beneath.js';
import { entryError, quote, readTar, type TarEntry, type TarReadLimits } from './tar-reader.js';

export interface UnpackLimits extends TarReadLimits {
  /** Symlinks followed while resolving one entry's parent or hardlink target. */
  maxSymlinkHops: number;
}

/**
 * Defaults: generous for real images (a full distribution layer has ~10^4-10^5 entries and
 * well under a GiB) and small enough that a hostile layer cannot fill guest memory unnoticed.
 */
export const DEFAULT_UNPACK_LIMITS: Readonly<UnpackLimits> = Object.freeze({
  /** Entries per layer (PAX / GNU metadata headers not counted). */
  maxEntries: 500_000,
  /** Bytes of one file. */
  maxEntryBytes: 1024 * 1024 * 1024,
  /** Bytes of all files of a layer together (the store also applies it to the image as a whole). */
  maxTotalBytes: 2 * 1024 * 1024 * 1024,
  /** Bytes of an entry's path or link target (Linux's PATH_MAX). */
  maxPathBytes: 4096,
  maxSymlinkHops: DEFAULT_MAX_SYMLINK_HOPS,
});

export interface UnpackOptions {
  /** The layer's digest, named in errors. */
  layer?: string;
  /** Apply the entries' uid/gid (default: when running as root). */
  chown?: boolean;
  /** Keep setuid/setgid bits on files (default false: cleared). Wired to the container policy. */
  keepSetuid?: boolean;
  limits?: Partial<UnpackLimits>;
}

export interface UnpackStats {
  entries: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Files whose setuid/setgid bits were cleared. */
  setuidCleared: number;
}

const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
/** Year 9999: times beyond are clamped (futimes refuses some huge values). */
const MAX_TIME = 253_402_300_799;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

function clampTime(t: number): number {
  return Math.min(Math.max(t, 0), MAX_TIME);
}

interface DirMeta {
  rel: string;
  mode: number;
  mtime: number;
}

/** One layer's application: the root, what this layer created (for whiteouts), deferred dirs. */
class LayerApplier {
  readonly stats: UnpackStats = { entries: 0, bytes: 0, setuidCleared: 0 };
  /** Resolved paths this layer created (entries and the directories made for them), and their ancestors. */
  private readonly created = new Set<string>();
  private readonly dirs: DirMeta[] = [];
  private readonly fs: Beneath;

  constructor(root: string, private readonly o: { chown: boolean; keepSetuid: boolean; limits: UnpackLimits }) {
    this.fs = new Beneath(root, o.limits.maxSymlinkHops, (rel) => this.created.add(rel));
  }

  apply(e: TarEntry): void {
    const parts = cleanComponents(e.name, e.name);
    if (parts.length === 0) {
      if (e.type === 'dir') return; // the root itself ("./"): its mode stays the store's
      throw entryError(e.name, 'a non-directory entry names the root');
    }
    const base = parts.pop()!;
    if (base.startsWith('.wh.')) return this.whiteout(e, parts, base);
    if (e.type === 'char' || e.type === 'block' || e.type === 'fifo') throw entryError(e.name, `${e.type === 'fifo' ? 'fifo' : `${e.type} device`} entries are not allowed in image layers`);
    if (e.type === 'other') throw entryError(e.name, `unsupported tar entry type ${JSON.stringify(e.typeflag)}`);
    const parent = this.fs.dir(parts, true, e.name)!;
    const rel = parent === '' ? base : `${parent}/${base}`;
    this.markCreated(rel);
    const dest = this.fs.abs(rel);
    switch (e.type) {
      case 'file':
        return this.file(e, dest);
      case 'dir':
        return this.directory(e, rel, dest);
      case 'symlink':
        this.create(dest, true, () => symlinkSync(e.linkname, dest));
        if (this.o.chown) lchownSync(dest, e.uid, e.gid);
        lutimesSync(dest, clampTime(e.mtime), clampTime(e.mtime));
        return;
      case 'hardlink':
        return this.hardlink(e, dest);
    }
  }

  private markCreated(rel: string): void {
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) this.created.add(rel.slice(0, i));
    this.created.add(rel);
  }

  /** Runs `make`; when something is in the way, removes it (unless a directory may stay) and runs it again. */
  private create(dest: string, removeDir: boolean, make: () => void): void {
    try {
      make();
      return;
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    const st = lstatSync(dest);
    if (!removeDir && st.isDirectory()) return;
    rmSync(dest, { recursive: true, force: true });
    this.fs.invalidate();
    make();
  }

  private file(e: TarEntry, dest: string): void {
    let mode = e.mode;
    if (!this.o.keepSetuid && mode & (S_ISUID | S_ISGID)) {
      mode &= ~(S_ISUID | S_ISGID);
      this.stats.setuidCleared++;
    }
    let fd = -1;
    this.create(dest, true, () => (fd = openSync(dest, CREATE_FILE, 0o600)));
    try {
      for (let off = 0; off < e.data.length; ) off += writeSync(fd, e.data, off, e.data.length - off);
      // chown before chmod: chown clears setuid/setgid
      if (this.o.chown) fchownSync(fd, e.uid, e.gid);
      fchmodSync(fd, mode);
      futimesSync(fd, clampTime(e.mtime), clampTime(e.mtime));
    } finally {
      closeSync(fd);
    }
    this.stats.bytes += e.data.length;
  }

  private directory(e: TarEntry, rel: string, dest: string): void {
    this.create(dest, false, () => mkdirSync(dest, { mode: 0o700 }));
    if (this.o.chown) lchownSync(dest, e.uid, e.gid); // a real directory: checked or just made
    // setgid on a directory only makes new files inherit its group: kept; setuid means nothing there
    this.dirs.push({ rel, mode: e.mode & ~S_ISUID, mtime: clampTime(e.mtime) });
  }

  private hardlink(e: TarEntry, dest: string): void {
    const parts = cleanComponents(e.linkname, e.name);
    const base = parts.pop();
    if (base === undefined || base.startsWith('.wh.')) throw entryError(e.name, `hardlink target ${quote(e.linkname)} is not a file`);
    const dir = this.fs.dir(parts, false, e.name);
    const target = dir === undefined ? undefined : this.fs.abs(dir === '' ? base : `${dir}/${base}`);
    let st;
    try {
      st = target === undefined ? undefined : lstatSync(target);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    if (!st) throw entryError(e.name, `hardlink target ${quote(e.linkname)} does not exist in the root`);
    if (!st.isFile()) throw entryError(e.name, `hardlink target ${quote(e.linkname)} is not a regular file`);
    if (target === dest) return;
    // link() does not follow a symlink at the target; the target is a regular file anyway
    this.create(dest, true, () => linkSync(target!, dest));
  }

  private whiteout(e: TarEntry, parts: string[], base: string): void {
    if (base === '.wh..wh..opq') {
      const dir = this.fs.dir(parts, true, e.name)!;
      this.markCreated(dir);
      this.clearLower(dir);
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // other AUFS metadata: nothing to apply
    const hidden = base.slice(4);
    if (hidden === '' || hidden === '.' || hidden === '..') throw entryError(e.name, 'whiteout of an invalid name');
    const dir = this.fs.dir(parts, false, e.name);
    if (dir === undefined) return; // nothing below to hide
    const rel = dir === '' ? hidden : `${dir}/${hidden}`;
    if (this.created.has(rel)) return; // a whiteout hides lower layers only
    rmSync(this.fs.abs(rel), { recursive: true, force: true });
    this.fs.invalidate();
  }

  /** Removes everything under `dir` (a resolved real directory) that this layer did not create. */
  private clearLower(dir: string): void {
    for (const name of readdirSync(this.fs.abs(dir))) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      if (!this.created.has(rel)) {
        rmSync(this.fs.abs(rel), { recursive: true, force: true });
        this.fs.invalidate();
      } else if (lstatSync(this.fs.abs(rel)).isDirectory()) {
        this.clearLower(rel);
      }
    }
  }

  /** Directory modes and times, last; each directory re-checked component by component. */
  finish(): void {
    for (const d of this.dirs) {
      if (!this.stillRealDir(d.rel)) continue;
      const fd = openSync(this.fs.abs(d.rel), OPEN_DIR);
      try {
        fchmodSync(fd, d.mode);
        futimesSync(fd, d.mtime, d.mtime);
      } finally {
        closeSync(fd);
      }
    }
  }

  private stillRealDir(rel: string): boolean {
    let cur = this.fs.root;
    for (const c of rel.split('/')) {
      cur = `${cur}/${c}`;
      try {
        if (!lstatSync(cur).isDirectory()) return false;
      } catch {
        return false;
      }
    }
    return true;
  }
}

/** Entries applied between two yields of `unpackLayerAsync` (each a few file-system calls). */
export const DEFAULT_YIELD_EVERY = 256;

/**
 * The unpack loop; yields every `yieldEvery` entries (the synchronous driver ignores the yields).
 * Throws a CocoletError naming the layer and the entry on the first problem.
 */
function* applyLayer(tar: Buffer, root: string, opts: UnpackOptions, yieldEvery: number): Generator<void, UnpackStats> {
  const limits: UnpackLimits = { ...DEFAULT_UNPACK_LIMITS, ...opts.limits };
  const layer = opts.layer ?? 'layer';
  const chown = opts.chown ?? (typeof process.geteuid === 'function' && process.geteuid() === 0);
  let current = '';
  try {
    const applier = new LayerApplier(root, { chown, keepSetuid: opts.keepSetuid ?? false, limits });
    for (const e of readTar(tar, limits)) {
      current = e.name;
      applier.stats.entries++;
      applier.apply(e);
      if (applier.stats.entries % yieldEvery === 0) yield;
    }
    current = '';
    applier.finish();
    return applier.stats;
  } catch (err) {
    if (err instanceof CocoletError) {
      throw new CocoletError(err.code, `image layer ${layer}: ${err.message}`, { cause: err, context: { ...err.context, layer } });
    }
    const e = err as NodeJS.ErrnoException;
    if (!e.syscall) {
      // not a file-system error: a bug here, reported as such (the fuzz target counts these)
      throw new CocoletError(ErrorCode.Internal, `image layer ${layer}: entry ${quote(current)}: unpack failed (${String(err).slice(0, 200)})`, { cause: err, context: { layer, entry: current.slice(0, 256) } });
    }
    // a file-system error (ENAMETOOLONG, ENOSPC, ...): name the entry, not the absolute path
    const code = e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'ENOMEM' ? ErrorCode.ResourceExhausted : ErrorCode.InvalidArgument;
    throw new CocoletError(code, `image layer ${layer}: entry ${quote(current)}: ${e.syscall} failed (${e.code ?? 'error'})`, { cause: err, context: { layer, entry: current.slice(0, 256) } });
  }
}

/**
 * Applies one layer to `root` (an existing directory). Throws a CocoletError naming the layer and
 * the entry on the first problem; the root is then partly applied and must be discarded.
 */
export function unpackLayer(tar: Buffer, root: string, opts: UnpackOptions = {}): UnpackStats {
  const run = applyLayer(tar, root, opts, Number.MAX_SAFE_INTEGER);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/**
 * unpackLayer that lets the event loop run every `yieldEvery` entries, so the agent keeps
 * answering requests (Health, other containers) while a large layer applies. The caller must not
 * touch `root` meanwhile (nothing else does: the store's unpack directory is its own).
 */
export async function unpackLayerAsync(tar: Buffer, root: string, opts: UnpackOptions & { yieldEvery?: number } = {}): Promise<UnpackStats> {
  const run = applyLayer(tar, root, opts, Math.max(1, opts.yieldEvery ?? DEFAULT_YIELD_EVERY));
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
