/**
 * Fuzzing of layer unpacking (guest/pull/tar.ts) on a real file system: each input is one to three
 * layers applied in turn to a fresh root inside a jail directory that also holds sentinels (an
 * outside directory, another image's rootfs). Inputs are either generated entry lists (hostile
 * names, link targets and types from a dictionary, random modes, sizes and PAX records) or byte
 * mutations of such archives (header checksums recomputed half of the time so the mutated
 * fields get past the checksum). After every input:
 *   - a crash is anything thrown that is not a CocoletError, or a CocoletError with code
 *     COCOLET_INTERNAL (unpackLayer's wrapping of a non-file-system error);
 *   - an escape is any change outside the root (every path under the jail but the root: mode,
 *     owner, link count, size, mtime, ctime, inode; a new entry moves its directory's times; and
 *     /etc/passwd).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { Rng } from '../../shared/testing/rng.js';
import { unpackLayer, type UnpackLimits } from '../../guest/pull/tar.js';
import { writeTar, type TarWriteEntry } from '../../guest/pull/tar-writer.js';
import { plantSentinels, watchTree } from '../../guest/pull/sentinel.js';

export interface TarFuzzFinding {
  kind: 'crash' | 'escape';
  iteration: number;
  detail: string;
  /** The layers, hex, first 4 KiB each. */
  layersHex: string[];
}

export interface TarFuzzStats {
  iterations: number;
  accepted: number;
  rejected: Record<string, number>;
  /** Rejections by reason (the message with the layer, quoted paths and numbers taken out). */
  reasons: Record<string, number>;
  crashes: number;
  escapes: number;
  findings: TarFuzzFinding[];
  seconds: number;
}

export interface TarFuzzOptions {
  iterations: number;
  seed: number;
  /** Parent of the jail (default /dev/shm when present: tmpfs, like the guest's store). */
  dir?: string;
  progressEvery?: number;
  onProgress?: (done: number) => void;
}

/** Small limits so bombs are cheap to hit; the code paths are the same as with the defaults. */
const LIMITS: Partial<UnpackLimits> = { maxEntries: 64, maxEntryBytes: 64 * 1024, maxTotalBytes: 256 * 1024, maxPathBytes: 1024, maxSymlinkHops: 8 };
const GOOD_TYPES = ['0', '0', '0', '1', '1', '2', '2', '2', '5', '5', '7', '\0'];
/** Refused types and metadata headers standing alone: one entry in 16 gets one. */
const ODD_TYPES = ['3', '4', '6', 'S', 'V', 'D', 'x', 'g', 'L', 'K'];

/**
 * Names and link targets. Absolute ones point into the jail only (never at the host's own files),
 * and the root sits four levels below the jail, deeper than any `..` chain here climbs: whatever
 * an escape would touch is under the jail, where the snapshot sees it.
 */
function dictionary(jail: string): { names: string[]; links: string[] } {
  const out = join(jail, 'outside');
  const other = join(jail, 'other');
  const names = [
    'a', 'a/b', 'a/b/c', 'evil', 'evil/secret', 'evil/dir', 'evil/dir/x', 'evil/new', 'lib', 'lib/x', 'd', 'd/e', 'f', 'f/x',
    '../outside/secret', '../../outside', 'a/../../x', '/', '.', './', './a', '/a', `${out}/secret`, out, `${other}/etc/secret`,
    '.wh..wh..opq', 'evil/.wh..wh..opq', 'd/.wh..wh..opq', '.wh.evil', 'evil/.wh.secret', 'evil/.wh.dir', '.wh...', '.wh..', '.wh.', 'a/.wh.b',
    'etc/passwd', `${jail}/etc/passwd`, 'x'.repeat(300), `${'l/'.repeat(60)}f`, 'dir/', 'a//b', 'a/./b', 'evil/../evil',
  ];
  const links = [
    'a', 'a/b', 'evil', 'evil/secret', 'evil/dir', 'f', 'd', 'lib', 'lib/x', '.', '..', jail, '../..', '../../..', '../outside', '../outside/secret',
    out, `${out}/secret`, `${out}/dir`, `${other}/etc`, `${other}/etc/secret`, '../other/etc', `${jail}/etc/passwd`, `${jail}/etc`, 'evil/../../outside/secret',
    'b/../../..', 'loop', 'loop/x', '', 'x'.repeat(2000), '../../../../outside',
  ];
  return { names, links };
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.below(xs.length)]!;
}

function randomEntry(rng: Rng, d: { names: string[]; links: string[] }): TarWriteEntry {
  const type = rng.below(16) === 0 ? pick(rng, ODD_TYPES) : pick(rng, GOOD_TYPES);
  // hostile names one time in three, else plain ones (so layers get far enough to meet the hostile links)
  const e: TarWriteEntry = { name: rng.below(3) === 0 ? pick(rng, d.names) : pick(rng, d.names.slice(0, 14)), type, linkname: pick(rng, d.links) };
  if (type === '1' && rng.below(2) === 0) e.linkname = pick(rng, d.names.slice(0, 14));
  const m = rng.below(6);
  e.mode = m === 0 ? 0o7777 : m === 1 ? 0o4755 : m === 2 ? 0 : m === 3 ? 0o2775 : rng.below(0o10000);
  e.uid = rng.below(4) === 0 ? 0 : rng.below(70000);
  e.gid = rng.below(4) === 0 ? 0 : rng.below(70000);
  e.mtime = rng.below(4) === 0 ? 0 : rng.next();
  const s = rng.below(10);
  e.data = s < 6 ? 'x'.repeat(rng.below(40)) : s < 8 ? Buffer.alloc(rng.below(4) === 0 ? 70 * 1024 : 700) : '';
  if (rng.below(32) === 0) e.declaredSize = rng.below(3) === 0 ? 1e9 : rng.below(2048);
  if (rng.below(16) === 0) {
    const key = pick(rng, ['path', 'linkpath', 'size', 'uid', 'mtime', 'GNU.sparse.major', 'SCHILY.xattr.security.capability', 'comment']);
    e.pax = { [key]: key === 'path' || key === 'linkpath' ? pick(rng, [...d.names, ...d.links]) : pick(rng, ['0', '1', '-1', '1.5', 'x', '99999999999999999999', '1e3', '']) };
  }
  return e;
}

/** A plausible start: a symlink out, then entries through it (the shapes that found the original bug). */
function seedLayers(rng: Rng, d: { names: string[]; links: string[] }): TarWriteEntry[][] {
  const layers: TarWriteEntry[][] = [];
  const n = 1 + rng.below(3);
  for (let l = 0; l < n; l++) {
    const entries: TarWriteEntry[] = [];
    if (l === 0 && rng.below(2) === 0) entries.push({ name: 'evil', type: '2', linkname: pick(rng, d.links.slice(14, 24)) });
    if (rng.below(4) === 0) entries.push({ name: 'loop', type: '2', linkname: 'loop' });
    const k = 1 + rng.below(8);
    for (let i = 0; i < k; i++) entries.push(randomEntry(rng, d));
    layers.push(entries);
  }
  return layers;
}

const INTERESTING = [0x00, 0x20, 0x2e, 0x2f, 0x30, 0x37, 0x38, 0x7f, 0x80, 0xff];

function mutateBytes(tar: Buffer, rng: Rng): Buffer {
  const b = Buffer.from(tar);
  if (b.length === 0) return b;
  const rounds = 1 + rng.below(6);
  const touched = new Set<number>();
  for (let i = 0; i < rounds; i++) {
    const at = rng.below(b.length);
    touched.add(at - (at % 512));
    const op = rng.below(4);
    if (op === 0) b[at] = b[at]! ^ (1 << rng.below(8));
    else if (op === 1) b[at] = pick(rng, INTERESTING);
    else if (op === 2) b[at] = 0x30 + rng.below(8);
    else return rng.below(2) === 0 ? b.subarray(0, at) : Buffer.concat([b, rng.bytes(rng.below(1024))]);
  }
  if (rng.below(2) === 0) {
    for (const off of touched) {
      if (off + 512 > b.length) continue;
      b.fill(0x20, off + 148, off + 156);
      let sum = 0;
      for (let i = off; i < off + 512; i++) sum += b[i]!;
      b.write(sum.toString(8).padStart(6, '0') + '\0 ', off + 148, 8, 'latin1');
    }
  }
  return b;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 6).join('\n') ?? ''}` : String(e);
}

/** Empties `root`; when not root, directories an input made unreadable are opened up first. */
function clear(root: string): void {
  try {
    for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    execFileSync('chmod', ['-R', 'u+rwx', root]);
    for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
  }
}

export function fuzzTar(o: TarFuzzOptions): TarFuzzStats {
  const started = performance.now();
  const rng = new Rng(o.seed);
  const parent = o.dir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const jail = mkdtempSync(join(parent, 'cocolet-fuzz-tar-'));
  const root = join(jail, 'l1/l2/l3/root');
  const d = dictionary(jail);
  const stats: TarFuzzStats = { iterations: 0, accepted: 0, rejected: {}, reasons: {}, crashes: 0, escapes: 0, findings: [], seconds: 0 };
  const plant = (): void => {
    mkdirSync(join(jail, 'l1/l2/l3'), { recursive: true });
    mkdirSync(join(jail, 'etc'), { recursive: true });
    for (const l of ['l1', 'l1/l2', 'l1/l2/l3']) plantSentinels(join(jail, l));
    mkdirSync(join(jail, 'outside'), { recursive: true });
    plantSentinels(join(jail, 'outside'));
    mkdirSync(join(jail, 'other/etc'), { recursive: true });
    plantSentinels(join(jail, 'other/etc'));
  };
  try {
    plant();
    mkdirSync(root);
    let changes = watchTree(jail, [root]);
    const every = o.progressEvery ?? 500;
    for (let i = 0; i < o.iterations; i++) {
      let layers = seedLayers(rng, d).map((l) => writeTar(l, { end: rng.below(8) !== 0 }));
      if (rng.below(3) === 0) {
        const k = rng.below(layers.length);
        layers = layers.map((l, j) => (j === k ? mutateBytes(l, rng) : l));
      }
      let outcome = 'accepted';
      try {
        for (const l of layers) unpackLayer(l, root, { layer: `fuzz${i}`, keepSetuid: rng.below(2) === 0, limits: LIMITS });
      } catch (e) {
        if (e instanceof CocoletError && e.code !== ErrorCode.Internal) {
          outcome = e.code;
          const reason = e.message.replace(/^image layer \S+: /, '').replace(/"(?:[^"\\]|\\.)*"/g, '_').replace(/\d+/g, 'N');
          stats.reasons[reason] = (stats.reasons[reason] ?? 0) + 1;
        } else {
          outcome = 'crash';
          stats.crashes++;
          if (stats.findings.length < 20) stats.findings.push({ kind: 'crash', iteration: i, detail: describeError(e), layersHex: layers.map((l) => l.subarray(0, 4096).toString('hex')) });
        }
      }
      if (outcome === 'accepted') stats.accepted++;
      else if (outcome !== 'crash') stats.rejected[outcome] = (stats.rejected[outcome] ?? 0) + 1;
      const changed = changes();
      if (changed.length > 0) {
        stats.escapes++;
        if (stats.findings.length < 20) stats.findings.push({ kind: 'escape', iteration: i, detail: `changed outside the root: ${changed.join(', ')}`, layersHex: layers.map((l) => l.subarray(0, 4096).toString('hex')) });
        for (const p of ['outside', 'other', 'etc', ...['l1', 'l1/l2', 'l1/l2/l3'].flatMap((l) => [`${l}/secret`, `${l}/dir`])]) rmSync(join(jail, p), { recursive: true, force: true });
        plant();
        changes = watchTree(jail, [root]);
      }
      // the root stays (its parent's mtime must not move), its content goes
      clear(root);
      stats.iterations++;
      if (o.onProgress && stats.iterations % every === 0) o.onProgress(stats.iterations);
    }
  } finally {
    rmSync(jail, { recursive: true, force: true });
  }
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}
