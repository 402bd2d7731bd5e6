/**
 * A small tar writer for tests, the fuzz target and the benchmark: ustar headers, PAX records for
 * long paths and link targets (and any extra records asked for), and fields that can be set to
 * anything, so hostile archives (device nodes, `..` paths, hardlinks out of the root, lying
 * sizes) can be written as easily as good ones. Not used by the agent itself.
 */

export interface TarWriteEntry {
  name: string;
  /** Type flag: '0' file (default), '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, or any. */
  type?: string;
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** Extra PAX records; `path` / `linkpath` are added by themselves when a name does not fit. */
  pax?: Record<string, string>;
  /** The size written in the header (default: the data's length). */
  declaredSize?: number;
}

const BLOCK = 512;

function field(h: Buffer, off: number, len: number, s: string): void {
  h.write(s, off, len, 'utf8');
}

function octal(h: Buffer, off: number, len: number, n: number): void {
  h.write(n.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function header(name: string, type: string, size: number, e: Partial<TarWriteEntry>): Buffer {
  const h = Buffer.alloc(BLOCK);
  field(h, 0, 100, name);
  octal(h, 100, 8, e.mode ?? (type === '5' ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, e.mtime ?? 0);
  h.write(type.slice(0, 1), 156, 1, 'latin1');
  field(h, 157, 100, e.linkname ?? '');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Writes `entries` as a tar archive, with the two zero blocks that end it unless `end` is false. */
export function writeTar(entries: readonly TarWriteEntry[], o: { end?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? '0';
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    const pax: Record<string, string> = { ...e.pax };
    if (Buffer.byteLength(e.name) > 100) pax.path = e.name;
    if (e.linkname && Buffer.byteLength(e.linkname) > 100) pax.linkpath = e.linkname;
    if (Object.keys(pax).length > 0) {
      const body = Buffer.from(Object.entries(pax).map(([k, v]) => paxRecord(k, v)).join(''));
      out.push(header('PaxHeaders/x', 'x', body.length, {}), body, pad(body.length));
    }
    const name = Buffer.byteLength(e.name) > 100 ? e.name.slice(0, 99) : e.name;
    const linkname = e.linkname && Buffer.byteLength(e.linkname) > 100 ? e.linkname.slice(0, 99) : e.linkname;
    out.push(header(name, type, e.declaredSize ?? data.length, { ...e, linkname }), data, pad(data.length));
  }
  if (o.end !== false) out.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(out);
}
