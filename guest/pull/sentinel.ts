/**
 * Escape detection for tests, the fuzz target and the e2e test (not used by the agent): sentinel
 * files and directories outside an unpack root, and a snapshot of everything under a directory
 * (mode, owner, link count, size, mtime, ctime, inode, link target) to compare before and
 * after a hostile layer was applied. The inode change time catches any write, chmod, chown, link or
 * utimes (no caller can set it back), so contents need not be read.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** Writes `<dir>/secret` (0640, owner 1234 when root) and `<dir>/dir/` (0750). */
export function plantSentinels(dir: string): void {
  mkdirSync(join(dir, 'dir'), { recursive: true });
  const f = join(dir, 'secret');
  writeFileSync(f, 'sentinel\n', { mode: 0o640 });
  chmodSync(f, 0o640);
  if (process.geteuid?.() === 0) chownSync(f, 1234, 1234);
  chmodSync(join(dir, 'dir'), 0o750);
}

function describe(p: string, st: Stats): string {
  return `${st.mode} ${st.uid}:${st.gid} ${st.nlink} ${st.size} ${st.mtimeMs} ${st.ctimeMs} ${st.ino} ${st.isSymbolicLink() ? readlinkSync(p) : ''}`;
}

/**
 * Everything under `dir` except the `skip` paths (and what is below them), plus /etc/passwd; with
 * `contents`, each regular file's SHA-256 too (redundant with ctime, but says what changed).
 */
export function snapshotTree(dir: string, skip: readonly string[] = [], o: { contents?: boolean } = {}): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      out.set(p, describe(p, st) + (o.contents && st.isFile() ? ` sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}` : ''));
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  const passwd = lstatSync('/etc/passwd');
  out.set('/etc/passwd', describe('/etc/passwd', passwd));
  return out;
}

/**
 * A cheaper repeated check: lists the tree once, then each call lstat-s only those paths (a new
 * or removed entry anywhere changes its directory's mtime and ctime, so no readdir is needed).
 * Returns the paths whose state differs from the listing's.
 */
export function watchTree(dir: string, skip: readonly string[] = []): () => string[] {
  const before = snapshotTree(dir, skip);
  return () => {
    const changed: string[] = [];
    for (const [p, want] of before) {
      let got: string;
      try {
        const st = lstatSync(p);
        got = describe(p, st);
      } catch {
        got = 'gone';
      }
      if (got !== want) changed.push(p);
    }
    return changed;
  };
}
