/**
 * A reproducible cpio "newc" archive writer (the format the Linux kernel unpacks as an
 * initramfs). Reproducible means: entries sorted by path, mtime 0, owner 0:0, inode numbers
 * assigned in order, no device numbers — the same entries always give the same bytes.
 */

export type CpioEntry =
  | { path: string; kind: 'dir'; mode?: number }
  | { path: string; kind: 'file'; data: Uint8Array; mode?: number }
  | { path: string; kind: 'symlink'; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const TRAILER = 'TRAILER!!!';

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function header(ino: number, mode: number, nlink: number, fileSize: number, nameSize: number): Buffer {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const fields = [ino, mode, 0, 0, nlink, 0, fileSize, 0, 0, 0, 0, nameSize, 0];
  return Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
}

function pad4(len: number): Buffer {
  const r = (4 - (len % 4)) % 4;
  return Buffer.alloc(r);
}

/** Normalises a path to the archive form: no leading slash or `./`, no trailing slash. */
export function archivePath(p: string): string {
  const s = p.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  if (s === '' || s.split('/').some((c) => c === '..' || c === '.' || c === '')) {
    throw new Error(`invalid archive path ${JSON.stringify(p)}`);
  }
  return s;
}

/**
 * Serialises entries into one newc archive. Parent directories that are not listed are added
 * (mode 0755). Duplicate paths are an error.
 */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const p = archivePath(e.path);
    if (byPath.has(p)) throw new Error(`duplicate archive path ${p}`);
    byPath.set(p, { ...e, path: p });
  }
  for (const p of [...byPath.keys()]) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!byPath.has(dir)) byPath.set(dir, { path: dir, kind: 'dir' });
    }
  }
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer | Uint8Array): void => {
    chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    offset += b.byteLength;
  };
  const emit = (ino: number, mode: number, nlink: number, name: string, data: Uint8Array): void => {
    const nameBuf = Buffer.from(name + '\0', 'utf8');
    push(header(ino, mode, nlink, data.byteLength, nameBuf.length));
    push(nameBuf);
    push(pad4(offset));
    if (data.byteLength > 0) {
      push(data);
      push(pad4(offset));
    }
  };
  let ino = 1;
  for (const e of sorted) {
    switch (e.kind) {
      case 'dir':
        emit(ino++, S_IFDIR | (e.mode ?? 0o755), 2, e.path, new Uint8Array());
        break;
      case 'file':
        emit(ino++, S_IFREG | (e.mode ?? 0o644), 1, e.path, e.data);
        break;
      case 'symlink':
        emit(ino++, S_IFLNK | 0o777, 1, e.path, Buffer.from(e.target, 'utf8'));
        break;
    }
  }
  emit(0, 0, 1, TRAILER, new Uint8Array());
  return Buffer.concat(chunks, offset);
}

/** Parses a newc archive back into entries (for tests and inspection). */
export function readCpio(buf: Uint8Array): { path: string; mode: number; data: Buffer }[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: { path: string; mode: number; data: Buffer }[] = [];
  let off = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    if (off + 110 > b.length) throw new Error('truncated cpio header');
    const magic = b.toString('ascii', off, off + 6);
    if (magic !== '070701') throw new Error(`bad cpio magic at ${off}`);
    const field = (i: number): number => Number.parseInt(b.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = b.toString('utf8', off + 110, off + 110 + nameSize - 1);
    off = align(off + 110 + nameSize);
    const data = b.subarray(off, off + size);
    off = align(off + size);
    if (name === TRAILER) return out;
    out.push({ path: name, mode, data });
  }
}
