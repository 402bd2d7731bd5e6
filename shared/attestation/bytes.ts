/**
 * Bounds-checked binary reading for evidence parsers. Every read past the end throws an
 * EvidenceError (evidence.truncated) naming the structure and field, so a parser fed hostile
 * bytes can only fail with a CocoletError.
 */
import { timingSafeEqual } from 'node:crypto';
import { fail, Reason } from './errors.js';

export class ByteReader {
  private pos = 0;

  constructor(
    readonly buf: Uint8Array,
    /** Names the structure in error messages, e.g. `TPMS_ATTEST`. */
    readonly what: string,
    readonly littleEndian = false,
    start = 0,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      fail(Reason.Truncated, `${this.what}: ${field} needs ${n} bytes at offset ${this.pos}, only ${Math.max(0, this.buf.length - this.pos)} left`);
    }
  }

  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const b = this.buf;
    const p = this.pos;
    this.pos += 2;
    return this.littleEndian ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getUint32(0, this.littleEndian);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getBigUint64(0, this.littleEndian);
    this.pos += 8;
    return v;
  }

  /** TPM2B: a u16 size then that many bytes. */
  sized16(field: string): Uint8Array {
    const n = this.u16(`${field}.size`);
    return this.bytes(n, field);
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string, what: string): Uint8Array {
  const t = s.trim().replace(/^0x/i, '');
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) fail(Reason.Malformed, `${what}: not an even-length hex string`);
  return new Uint8Array(Buffer.from(t, 'hex'));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isAllZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

export function reversed(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[b.length - 1 - i]!;
  return out;
}

/** Left-pads with zeros (or strips leading zeros) to exactly n bytes; null if it does not fit. */
export function fixedWidth(b: Uint8Array, n: number): Uint8Array | null {
  let start = 0;
  while (b.length - start > n && b[start] === 0) start++;
  const v = b.subarray(start);
  if (v.length > n) return null;
  const out = new Uint8Array(n);
  out.set(v, n - v.length);
  return out;
}

/** Zero-pads or truncates to n bytes, as the CoCo verifiers regularize expected report data. */
export function regularize(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(b.subarray(0, n));
  return out;
}
