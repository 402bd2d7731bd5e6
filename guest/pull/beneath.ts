/**
 * Path resolution confined to a root directory, for unpacking image layers. Node has no
 * openat2(RESOLVE_IN_ROOT), so each component is looked at with lstat from the root down:
 *   - a directory is entered;
 *   - a symlink is followed *within the root*: its target is resolved against the directory it
 *     sits in (an absolute target from the root itself), `..` never climbs above the root, at most
 *     `maxSymlinkHops` symlinks per path (containerd's archive applier does the same through
 *     continuity's RootPath, "securejoin"-style, so images whose layers write through `/lib ->
 *     usr/lib` work);
 *   - a missing component is created as a directory (0755) when asked to;
 *   - anything else (a file, a device) in a parent position is an error.
 * The result is a path of real directories from the root down, so an operation on
 * `<resolved dir>/<name>` acts inside the root, provided nothing else changes the tree meanwhile:
 * the guest agent unpacks an image alone, into a fresh directory no container sees until the
 * image is complete (no concurrent writer inside the root, so no TOCTOU between the lstat walk
 * and the operation; other images may unpack meanwhile, each in its own root). The final component of an entry is never followed: callers create it with
 * O_EXCL|O_NOFOLLOW, symlink(), link() (which does not follow) or mkdir().
 *
 * Resolved directories are cached by the path asked for; the caller must call `invalidate()`
 * whenever it removes or replaces anything in the tree (creating new entries never changes what
 * an existing path resolves to).
 */
import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { entryError, limitError } from './tar-reader.js';

/** Linux's MAXSYMLINKS: symlinks followed while resolving one path. */
export const DEFAULT_MAX_SYMLINK_HOPS = 40;

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Splits a path from an archive into clean components: leading `/` and `.` / empty components
 * dropped (an absolute path is taken relative to the root, as tar and containerd do); a `..`
 * component is refused (no legitimate layer has one, and resolving it lexically before symlinks
 * would not be what the kernel does). `entry` names the archive entry in errors.
 */
export function cleanComponents(p: string, entry: string): string[] {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw entryError(entry, `path ${JSON.stringify(p.slice(0, 200))} has a ".." component`);
    out.push(c);
  }
  return out;
}

export class Beneath {
  private readonly cache = new Map<string, string>();

  /**
   * @param root an existing directory (not a symlink), the unpack root
   * @param onCreate called with each directory created while resolving (its resolved relative path)
   */
  constructor(
    readonly root: string,
    private readonly maxSymlinkHops = DEFAULT_MAX_SYMLINK_HOPS,
    private readonly onCreate: (rel: string) => void = () => {},
  ) {
    let st;
    try {
      st = lstatSync(root);
    } catch (e) {
      throw new CocoletError(ErrorCode.FailedPrecondition, `unpack root ${root} is not there (${code(e) ?? 'error'})`);
    }
    if (!st.isDirectory()) throw new CocoletError(ErrorCode.FailedPrecondition, `unpack root ${root} is not a directory`);
  }

  /** The absolute path of a resolved relative path ('' is the root). */
  abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  invalidate(): void {
    this.cache.clear();
  }

  /**
   * Resolves directory components (already cleaned) inside the root; returns the resolved path
   * relative to the root ('' for the root), or undefined when a component is missing and
   * `create` is false. `entry` names the archive entry in errors.
   */
  dir(components: readonly string[], create: boolean, entry: string): string | undefined {
    if (components.length === 0) return '';
    const key = components.join('/');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const stack: string[] = [];
    const todo = components.slice().reverse(); // a stack: the next component is last
    let hops = 0;
    while (todo.length > 0) {
      const c = todo.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        stack.pop(); // never above the root
        continue;
      }
      stack.push(c);
      const rel = stack.join('/');
      const abs = this.abs(rel);
      let st;
      try {
        st = lstatSync(abs);
      } catch (e) {
        if (code(e) !== 'ENOENT') throw e;
        if (!create) return undefined;
        mkdirSync(abs, { mode: 0o755 });
        this.onCreate(rel);
        continue;
      }
      if (st.isDirectory()) continue;
      if (!st.isSymbolicLink()) throw entryError(entry, `parent ${JSON.stringify(rel.slice(0, 200))} is not a directory`);
      if (++hops > this.maxSymlinkHops) throw limitError('maxSymlinkHops', this.maxSymlinkHops, entry);
      const target = readlinkSync(abs);
      stack.pop();
      if (target.startsWith('/')) stack.length = 0;
      const parts = target.split('/');
      for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]!);
    }
    const out = stack.join('/');
    this.cache.set(key, out);
    return out;
  }
}
