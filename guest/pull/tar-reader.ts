/**
 * Reads a tar archive (an OCI layer, already decompressed) held in memory, entry by entry: ustar,
 * GNU long names (`L`/`K`) and base-256 numbers, PAX extended headers (path, linkpath, size, uid,
 * gid, mtime). Nothing here touches the file system; every field is checked and every limit
 * enforced before an entry is handed out, so a hostile archive costs at most the limits.
 * Errors are CocoletErrors naming the entry (its path when known, else the header offset).
 */
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

const BLOCK = 512;
/** Consecutive metadata headers (PAX, GNU long name/link) allowed before a real entry. */
const MAX_META_HEADERS = 8;

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'other';

export interface TarEntry {
  /** The entry's path as written in the archive (PAX / GNU long name applied), not yet cleaned. */
  name: string;
  type: TarEntryType;
  /** The raw type flag character (for error messages about unsupported types). */
  typeflag: string;
  /** Permission bits incl. setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
  /** Symlink target or hardlink target path. */
  linkname: string;
  /** The file's content (a view into the archive; empty for non-files). */
  data: Buffer;
}

export interface TarReadLimits {
  /** Entries (not counting PAX / GNU metadata headers). */
  maxEntries: number;
  /** Bytes of one entry's content. */
  maxEntryBytes: number;
  /** Bytes of all entries' content together. */
  maxTotalBytes: number;
  /** Bytes of an entry's path and of a link's target. */
  maxPathBytes: number;
}

export function limitError(limit: string, value: number, entry: string): CocoletError {
  return new CocoletError(ErrorCode.ResourceExhausted, `entry ${quote(entry)}: exceeds the limit ${limit} (${value})`, { context: { entry: entry.slice(0, 256), limit } });
}

export function entryError(entry: string, msg: string): CocoletError {
  return new CocoletError(ErrorCode.InvalidArgument, `entry ${quote(entry)}: ${msg}`, { context: { entry: entry.slice(0, 256) } });
}

/** A path for a message: JSON-quoted, at most 200 characters. */
export function quote(p: string): string {
  return JSON.stringify(p.length > 200 ? `${p.slice(0, 200)}…` : p);
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.toString('utf8', 0, z < 0 ? len : z);
}

/** A numeric header field: octal text (NUL/space padded) or GNU base-256; undefined when malformed. */
function num(b: Buffer, off: number, len: number): number | undefined {
  const first = b[off]!;
  if (first & 0x80) {
    if (first === 0xff) return undefined; // negative
    let n = first & 0x7f;
    for (let i = off + 1; i < off + len; i++) {
      n = n * 256 + b[i]!;
      if (n > Number.MAX_SAFE_INTEGER) return undefined;
    }
    return n;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let n = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) break;
    n = n * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (b[i] !== 0x20 && b[i] !== 0) return undefined;
  return digits === 0 ? 0 : n;
}

function headerChecksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : h[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return want === unsigned || want === signed;
}

function typeOf(flag: string, name: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      // pre-POSIX archives mark directories by a trailing slash on a regular entry
      return name.endsWith('/') ? 'dir' : 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'dir';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

function paxNumber(v: string, what: string, where: string, fractional = false): number {
  const ok = fractional ? /^-?\d{1,18}(\.\d{0,18})?$/.test(v) : /^\d{1,16}$/.test(v);
  const n = Number(v);
  if (!ok || !Number.isFinite(n) || (!fractional && !Number.isSafeInteger(n))) throw entryError(where, `PAX ${what} ${quote(v)} is not a number`);
  return n;
}

/** Parses PAX records (`"<len> <key>=<value>\n"`) into `p`; refuses malformed records and sparse files. */
function parsePax(data: Buffer, p: Pending, where: string): void {
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0 || sp - i > 20) throw entryError(where, 'malformed PAX record');
    const lenText = data.toString('latin1', i, sp);
    if (!/^\d+$/.test(lenText)) throw entryError(where, 'malformed PAX record length');
    const len = Number(lenText);
    if (len <= sp - i + 1 || i + len > data.length || data[i + len - 1] !== 0x0a) throw entryError(where, 'malformed PAX record');
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    i += len;
    const eq = rec.indexOf('=');
    if (eq <= 0) throw entryError(where, 'malformed PAX record');
    const key = rec.slice(0, eq);
    const value = rec.slice(eq + 1);
    if (key === 'path') p.path = value;
    else if (key === 'linkpath') p.linkpath = value;
    else if (key === 'size') p.size = paxNumber(value, 'size', where);
    else if (key === 'uid') p.uid = paxNumber(value, 'uid', where);
    else if (key === 'gid') p.gid = paxNumber(value, 'gid', where);
    else if (key === 'mtime') p.mtime = paxNumber(value, 'mtime', where, true);
    else if (key.startsWith('GNU.sparse.')) throw entryError(where, 'sparse files are not supported');
    // atime, ctime, uname, gname, comment, charset, SCHILY.xattr.* ...: not applied
  }
}

/**
 * Yields the archive's entries in order. Stops at the end-of-archive marker (a zero block) or at
 * the end of the buffer on a block boundary; anything else (bad checksum, truncated data, bad
 * numbers, limits exceeded) throws.
 */
export function* readTar(tar: Buffer, limits: TarReadLimits): Generator<TarEntry> {
  let off = 0;
  let entries = 0;
  let total = 0;
  let meta = 0;
  let pending: Pending = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (off < tar.length) {
    const where = `header at offset ${off}`;
    if (off + BLOCK > tar.length) {
      if (tar.subarray(off).every((x) => x === 0)) return;
      throw entryError(where, 'truncated header');
    }
    const h = tar.subarray(off, off + BLOCK);
    if (h[0] === 0 && h.every((x) => x === 0)) return;
    if (!headerChecksumOk(h)) throw entryError(where, 'header checksum mismatch');
    const flag = String.fromCharCode(h[156]!);
    const headerSize = num(h, 124, 12);
    if (headerSize === undefined) throw entryError(where, 'malformed size field');
    const isMeta = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    const size = isMeta ? headerSize : (pending.size ?? headerSize);
    const dataOff = off + BLOCK;
    if (size > tar.length - dataOff) throw entryError(where, `truncated: the entry declares ${size} bytes, the archive has ${tar.length - dataOff} left`);
    const data = tar.subarray(dataOff, dataOff + size);
    off = dataOff + Math.ceil(size / BLOCK) * BLOCK;
    if (isMeta) {
      if (++meta > MAX_META_HEADERS) throw entryError(where, `more than ${MAX_META_HEADERS} metadata headers in a row`);
      if (size > limits.maxPathBytes + 64 * 1024) throw limitError('maxPathBytes', limits.maxPathBytes, where);
      if (flag === 'x') parsePax(data, pending, where);
      else if (flag === 'L') longName = cstr(data, 0, data.length);
      else if (flag === 'K') longLink = cstr(data, 0, data.length);
      // 'g' (global PAX header): not applied
      continue;
    }
    meta = 0;
    const magic = h.toString('latin1', 257, 263);
    const prefix = magic === 'ustar\0' ? cstr(h, 345, 155) : '';
    const short = cstr(h, 0, 100);
    const name = pending.path ?? longName ?? (prefix ? `${prefix}/${short}` : short);
    const linkname = pending.linkpath ?? longLink ?? cstr(h, 157, 100);
    const mode = num(h, 100, 8);
    const uid = pending.uid ?? num(h, 108, 8);
    const gid = pending.gid ?? num(h, 116, 8);
    const mtime = pending.mtime ?? num(h, 136, 12);
    pending = {};
    longName = longLink = undefined;
    const label = name || where;
    if (mode === undefined || uid === undefined || gid === undefined || mtime === undefined) throw entryError(label, 'malformed numeric field');
    if (name === '') throw entryError(where, 'empty path');
    if (name.includes('\0') || linkname.includes('\0')) throw entryError(label, 'NUL byte in a path');
    if (Buffer.byteLength(name) > limits.maxPathBytes) throw limitError('maxPathBytes', limits.maxPathBytes, name);
    if (Buffer.byteLength(linkname) > limits.maxPathBytes) throw limitError('maxPathBytes', limits.maxPathBytes, name);
    if (++entries > limits.maxEntries) throw limitError('maxEntries', limits.maxEntries, name);
    const type = typeOf(flag, name);
    if (type === 'file') {
      if (size > limits.maxEntryBytes) throw limitError('maxEntryBytes', limits.maxEntryBytes, name);
      total += size;
      if (total > limits.maxTotalBytes) throw limitError('maxTotalBytes', limits.maxTotalBytes, name);
    }
    yield { name, type, typeflag: flag, mode: mode & 0o7777, uid, gid, mtime, linkname, data: type === 'file' ? data : data.subarray(0, 0) };
  }
}
