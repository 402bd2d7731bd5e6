/**
 * Unpacks an OCI layer (tar, already decompressed) into a root folder, applying whiteouts. Every
 * path is checked: no `..`, no absolute escapes, never writing through a symlink, hardlinks only
 * to entries inside the root. ustar, GNU long names and PAX path/linkpath/size are understood.
 */
import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

const BLOCK = 512;

function bad(msg: string): CocoletError {
  return new CocoletError(ErrorCode.InvalidArgument, `image layer: ${msg}`);
}

function str(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
}

function octal(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // base-256 (GNU) for big numbers
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i]!;
    return n;
  }
  const s = str(b, off, len).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

/** Path inside the root, normalised; throws on traversal. '' means the root itself. */
export function safeRelative(p: string): string {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw bad(`path ${JSON.stringify(p.slice(0, 200))} escapes the root`);
    parts.push(c);
  }
  return parts.join('/');
}

/** Makes sure no existing component of `rel`'s parent is a symlink (creating missing dirs). */
function ensureParent(root: string, rel: string): void {
  const parts = rel.split('/').slice(0, -1);
  let cur = root;
  for (const c of parts) {
    cur = join(cur, c);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      mkdirSync(cur, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink()) throw bad(`entry ${JSON.stringify(rel)} would be written through a symlink`);
    if (!st.isDirectory()) throw bad(`parent of ${JSON.stringify(rel)} is not a directory`);
  }
}

function removeExisting(path: string, keepDir: boolean): void {
  try {
    const st = lstatSync(path);
    if (keepDir && st.isDirectory()) return;
    rmSync(path, { recursive: true, force: true });
  } catch {
    /* absent */
  }
}

export interface UnpackStats {
  entries: number;
  bytes: number;
}

export function unpackLayer(tar: Buffer, root: string, opts: { chown?: boolean } = {}): UnpackStats {
  const chown = opts.chown ?? (typeof process.getuid === 'function' && process.getuid() === 0);
  let off = 0;
  let paxPath: string | undefined;
  let paxLink: string | undefined;
  let paxSize: number | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  const stats: UnpackStats = { entries: 0, bytes: 0 };
  const dirModes: [string, number][] = [];
  /** Paths this layer created: whiteouts only hide what lower layers had. */
  const created = new Set<string>();
  while (off + BLOCK <= tar.length) {
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== octal(h, 148, 8)) throw bad(`header checksum mismatch at offset ${off}`);
    const type = String.fromCharCode(h[156]! || 48);
    const size = paxSize ?? octal(h, 124, 12);
    const dataOff = off + BLOCK;
    if (dataOff + size > tar.length) throw bad('truncated entry');
    const data = tar.subarray(dataOff, dataOff + size);
    off = dataOff + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'g') {
      if (type === 'x') {
        for (const rec of parsePax(data)) {
          if (rec[0] === 'path') paxPath = rec[1];
          else if (rec[0] === 'linkpath') paxLink = rec[1];
          else if (rec[0] === 'size') paxSize = Number(rec[1]);
        }
      }
      continue;
    }
    if (type === 'L') {
      longName = str(data, 0, data.length);
      continue;
    }
    if (type === 'K') {
      longLink = str(data, 0, data.length);
      continue;
    }
    const prefix = str(h, 345, 155);
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const link = paxLink ?? longLink ?? str(h, 157, 100);
    paxPath = paxLink = paxSize = longName = longLink = undefined;
    const mode = octal(h, 100, 8) & 0o7777;
    const uid = octal(h, 108, 8);
    const gid = octal(h, 116, 8);
    const rel = safeRelative(name);
    stats.entries++;
    if (rel === '') continue;
    const base = rel.split('/').pop()!;
    ensureParent(root, rel);
    const dest = join(root, rel);
    if (base === '.wh..wh..opq') {
      const parent = rel.split('/').slice(0, -1).join('/');
      const dir = join(root, parent);
      for (const e of readdirSync(dir)) {
        const child = parent ? `${parent}/${e}` : e;
        if (!created.has(child)) rmSync(join(dir, e), { recursive: true, force: true });
      }
      continue;
    }
    if (base.startsWith('.wh.')) {
      const hidden = [...rel.split('/').slice(0, -1), base.slice(4)].join('/');
      if (created.has(hidden)) continue;
      rmSync(join(root, rel.split('/').slice(0, -1).join('/'), base.slice(4)), { recursive: true, force: true });
      continue;
    }
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) created.add(rel.slice(0, i));
    created.add(rel);
    switch (type) {
      case '0':
      case '7':
        removeExisting(dest, false);
        writeFileSync(dest, data, { mode, flag: 'wx' });
        chmodSync(dest, mode);
        stats.bytes += size;
        break;
      case '5':
        removeExisting(dest, true);
        mkdirSync(dest, { recursive: true, mode: 0o755 });
        dirModes.push([dest, mode]);
        break;
      case '2':
        removeExisting(dest, false);
        symlinkSync(link, dest);
        break;
      case '1': {
        const target = join(root, safeRelative(link));
        const st = lstatSync(target);
        if (!st.isFile()) throw bad(`hardlink ${JSON.stringify(rel)} to a non-file`);
        removeExisting(dest, false);
        linkSync(target, dest);
        break;
      }
      default:
        // devices and fifos are not created from image layers inside the guest
        continue;
    }
    if (chown) {
      try {
        lchownSync(dest, uid, gid);
      } catch {
        /* best effort */
      }
    }
  }
  for (const [d, m] of dirModes) chmodSync(d, m);
  return stats;
}

function parsePax(data: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(data.toString('ascii', i, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.push([rec.slice(0, eq), rec.slice(eq + 1)]);
    i += len;
  }
  return out;
}
