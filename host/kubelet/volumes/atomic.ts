/**
 * Atomic writer for projected files (the layout of kubernetes pkg/volume/util/atomic_writer.go,
 * our own code), so a running container that bind-mounts the volume directory sees a ConfigMap,
 * Secret or token update all at once, never a half-written set:
 *
 *   <dir>/..2026_12_03_14_50_01.123456789/   the files of one version (real files, modes set)
 *   <dir>/..data -> ..2026_12_03_14_50_01.123456789
 *   <dir>/<key>  -> ..data/<key>              one symlink per top-level path
 *
 * An update writes a new version directory, points `..data_tmp` at it and renames that over
 * `..data` (rename(2) is atomic), adds links for new top-level paths, removes links for paths
 * that are gone, and then removes the old version directory. Writing the same payload again
 * changes nothing. Paths must be relative, without `..` components, and may not start with `..`.
 *
 * API: `writeAtomic(dir, payload)` → true when something changed; `validatePayloadPath(p)`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';

export const DATA_DIR_NAME = '..data';
const DATA_TMP_NAME = '..data_tmp';

export interface FileProjection {
  data: Buffer;
  /** Permission bits (0o644 when unset). */
  mode?: number;
}

export type Payload = Map<string, FileProjection>;

/** Refuses absolute paths, `..` components, paths starting with `..` and empty components. */
export function validatePayloadPath(p: string): void {
  const bad = (why: string): never => {
    throw new CocoletError(ErrorCode.InvalidArgument, `volume path ${JSON.stringify(p)} ${why}`, { context: { path: p } });
  };
  if (p === '') bad('is empty');
  if (p.startsWith('/')) bad('must be relative');
  if (p.length > 4096) bad('is too long');
  if (p.startsWith('..')) bad("must not start with '..'");
  const parts = p.split('/');
  if (parts.some((x) => x === '..')) bad("must not contain '..'");
  if (parts.some((x) => x === '')) bad('has an empty component');
}

function timestampName(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.${randomBytes(5).toString('hex')}`;
}

/** Files (relative paths) under a version directory. */
function listFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(root, r));
    else out.push(r);
  }
  return out;
}

function currentVersion(dir: string): string | undefined {
  try {
    return readlinkSync(join(dir, DATA_DIR_NAME));
  } catch {
    return undefined;
  }
}

function samePayload(versionDir: string, payload: Payload): boolean {
  let files: string[];
  try {
    files = listFiles(versionDir);
  } catch {
    return false;
  }
  if (files.length !== payload.size) return false;
  for (const [p, f] of payload) {
    const file = join(versionDir, p);
    if (!existsSync(file)) return false;
    if ((statSync(file).mode & 0o7777) !== (f.mode ?? 0o644)) return false;
    if (!readFileSync(file).equals(f.data)) return false;
  }
  return true;
}

const topLevel = (p: string): string => p.split('/')[0]!;

/** Writes `payload` into `dir` atomically; returns false when it was already there. */
export function writeAtomic(dir: string, payload: Payload): boolean {
  for (const p of payload.keys()) validatePayloadPath(p);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const old = currentVersion(dir);
  if (old && samePayload(join(dir, old), payload)) return false;

  const version = timestampName();
  const vdir = join(dir, version);
  mkdirSync(vdir, { mode: 0o755 });
  for (const [p, f] of payload) {
    const file = join(vdir, p);
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(file, f.data, { mode: f.mode ?? 0o644 });
    chmodSync(file, f.mode ?? 0o644); // the umask must not narrow the mode asked for
  }
  const tmp = join(dir, DATA_TMP_NAME);
  rmSync(tmp, { force: true });
  symlinkSync(version, tmp);
  renameSync(tmp, join(dir, DATA_DIR_NAME));

  const wanted = new Set([...payload.keys()].map(topLevel));
  for (const name of wanted) {
    const link = join(dir, name);
    let st;
    try {
      st = lstatSync(link);
    } catch {
      st = undefined;
    }
    if (st && !st.isSymbolicLink()) rmSync(link, { recursive: true, force: true });
    if (!st || !st.isSymbolicLink()) symlinkSync(join(DATA_DIR_NAME, name), link);
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith('..') || wanted.has(name)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
  if (old && old !== version && old.startsWith('..')) rmSync(join(dir, old), { recursive: true, force: true });
  return true;
}
