/**
 * Hand-written codec for the ttrpc envelope messages (ttrpc.Request, ttrpc.Response,
 * google.rpc.Status), wire-identical to the generated schemas in shared/gen/ttrpc but faster and
 * able to leave the payload out of the encoded prefix so frames are written without copying it.
 *
 * Request  { string service=1; string method=2; bytes payload=3; int64 timeout_nano=4; repeated KeyValue metadata=5 }
 * Response { google.rpc.Status status=1; bytes payload=2 }
 * Status   { int32 code=1; string message=2; repeated google.protobuf.Any details=3 }
 */
import { CocoletError, ErrorCode } from '../errors/index.js';

export interface KeyValuePair {
  key: string;
  value: string;
}

export interface RequestEnvelope {
  service: string;
  method: string;
  /** Undefined when the field was absent (Go: nil payload). */
  payload: Buffer | undefined;
  /** Nanoseconds; 0 = no timeout. */
  timeoutNano: number;
  metadata: KeyValuePair[];
}

export interface StatusEnvelope {
  code: number;
  message: string;
  /** Raw encoded google.protobuf.Any entries, kept opaque. */
  details: Buffer[];
}

export interface ResponseEnvelope {
  status: StatusEnvelope | undefined;
  payload: Buffer | undefined;
}

// ---- encoding ---------------------------------------------------------------------------------

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putVarint(b: Buffer, off: number, v: number): number {
  while (v >= 0x80) {
    b[off++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  b[off++] = v;
  return off;
}

function putString(b: Buffer, off: number, tag: number, s: string, byteLen: number): number {
  b[off++] = tag;
  off = putVarint(b, off, byteLen);
  off += b.write(s, off, byteLen, 'utf8');
  return off;
}

/** A payload: one buffer, or chunks to be written one after the other. */
export type Payload = Uint8Array | readonly Uint8Array[];

function payloadChunks(p: Payload | undefined): { chunks: Uint8Array[] | undefined; length: number } {
  if (p === undefined) return { chunks: undefined, length: 0 };
  if (p instanceof Uint8Array) return p.length > 0 ? { chunks: [p], length: p.length } : { chunks: undefined, length: 0 };
  let n = 0;
  for (const c of p) n += c.length;
  return n > 0 ? { chunks: p.filter((c) => c.length > 0), length: n } : { chunks: undefined, length: 0 };
}

export interface EncodedPrefix {
  /** Everything before the payload bytes (including the payload's tag and length). */
  prefix: Buffer;
  /** Payload chunks to write right after the prefix (not copied). */
  payload: Uint8Array[] | undefined;
  /** Total encoded length. */
  length: number;
}

/**
 * Encodes a Request with `headerRoom` spare bytes at the start (for the frame header) and the
 * payload field last, left out of the returned buffer.
 */
export function encodeRequest(
  headerRoom: number,
  service: string,
  method: string,
  payload: Payload | undefined,
  timeoutNano: number,
  metadata: readonly KeyValuePair[] | undefined,
): EncodedPrefix {
  const sLen = Buffer.byteLength(service);
  const mLen = Buffer.byteLength(method);
  let size = 1 + varintSize(sLen) + sLen + 1 + varintSize(mLen) + mLen;
  if (timeoutNano > 0) size += 1 + varintSize(timeoutNano);
  let kvLens: number[] | undefined;
  if (metadata && metadata.length > 0) {
    kvLens = [];
    for (const kv of metadata) {
      const k = Buffer.byteLength(kv.key);
      const v = Buffer.byteLength(kv.value);
      const inner = (k > 0 ? 1 + varintSize(k) + k : 0) + (v > 0 ? 1 + varintSize(v) + v : 0);
      kvLens.push(k, v, inner);
      size += 1 + varintSize(inner) + inner;
    }
  }
  const { chunks, length: pLen } = payloadChunks(payload);
  if (pLen > 0) size += 1 + varintSize(pLen);
  const b = Buffer.allocUnsafe(headerRoom + size);
  let off = headerRoom;
  off = putString(b, off, 0x0a, service, sLen);
  off = putString(b, off, 0x12, method, mLen);
  if (timeoutNano > 0) {
    b[off++] = 0x20;
    off = putVarint(b, off, timeoutNano);
  }
  if (metadata && kvLens) {
    for (let i = 0; i < metadata.length; i++) {
      const kv = metadata[i]!;
      const k = kvLens[i * 3]!;
      const v = kvLens[i * 3 + 1]!;
      b[off++] = 0x2a;
      off = putVarint(b, off, kvLens[i * 3 + 2]!);
      if (k > 0) off = putString(b, off, 0x0a, kv.key, k);
      if (v > 0) off = putString(b, off, 0x12, kv.value, v);
    }
  }
  if (pLen > 0) {
    b[off++] = 0x1a;
    off = putVarint(b, off, pLen);
  }
  return { prefix: b, payload: chunks, length: size + pLen };
}

/** Encodes a Response the same way (status first, payload last and not copied). */
export function encodeResponse(headerRoom: number, status: { code: number; message: string } | undefined, payload: Payload | undefined): EncodedPrefix {
  let size = 0;
  let stLen = 0;
  let msgLen = 0;
  if (status && (status.code !== 0 || status.message !== '')) {
    msgLen = Buffer.byteLength(status.message);
    stLen = (status.code !== 0 ? 1 + int32Size(status.code) : 0) + (msgLen > 0 ? 1 + varintSize(msgLen) + msgLen : 0);
    size += 1 + varintSize(stLen) + stLen;
  }
  const { chunks, length: pLen } = payloadChunks(payload);
  if (pLen > 0) size += 1 + varintSize(pLen);
  const b = Buffer.allocUnsafe(headerRoom + size);
  let off = headerRoom;
  if (stLen > 0 && status) {
    b[off++] = 0x0a;
    off = putVarint(b, off, stLen);
    if (status.code !== 0) {
      b[off++] = 0x08;
      off = putInt32(b, off, status.code);
    }
    if (msgLen > 0) off = putString(b, off, 0x12, status.message, msgLen);
  }
  if (pLen > 0) {
    b[off++] = 0x12;
    off = putVarint(b, off, pLen);
  }
  return { prefix: b, payload: chunks, length: size + pLen };
}

/** int32 values are sign-extended to 64 bits on the wire (negative ones take 10 bytes). */
function int32Size(v: number): number {
  return v >= 0 ? varintSize(v) : 10;
}

function putInt32(b: Buffer, off: number, v: number): number {
  if (v >= 0) return putVarint(b, off, v);
  let lo = v >>> 0;
  for (let i = 0; i < 4; i++) {
    b[off++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  // bits 28..31 of the low word plus ones above
  b[off++] = (lo & 0x0f) | 0x70 | 0x80;
  for (let i = 0; i < 4; i++) b[off++] = 0xff;
  b[off++] = 0x01;
  return off;
}

// ---- decoding ---------------------------------------------------------------------------------

class Reader {
  off = 0;
  constructor(readonly b: Buffer, readonly end: number = b.length) {}

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.off >= this.end) throw malformed('truncated varint');
      const byte = this.b[this.off++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
    throw malformed('varint too long');
  }

  /** A varint read as int32 (low 32 bits, as protobuf does). */
  int32(): number {
    let lo = 0;
    for (let i = 0; i < 10; i++) {
      if (this.off >= this.end) throw malformed('truncated varint');
      const byte = this.b[this.off++]!;
      if (i < 5) lo |= (byte & 0x7f) << (7 * i);
      if (byte < 0x80) return lo | 0;
    }
    throw malformed('varint too long');
  }

  bytes(): Buffer {
    const n = this.varint();
    if (n > this.end - this.off) throw malformed('length exceeds message');
    const s = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return s;
  }

  string(): string {
    const n = this.varint();
    if (n > this.end - this.off) throw malformed('length exceeds message');
    const s = this.b.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.need(8);
        return;
      case 2:
        this.need(this.varint());
        return;
      case 5:
        this.need(4);
        return;
      default:
        throw malformed(`unsupported wire type ${wireType}`);
    }
  }

  private need(n: number): void {
    if (n > this.end - this.off) throw malformed('truncated field');
    this.off += n;
  }

  tag(): { field: number; wireType: number } {
    const t = this.varint();
    const field = Math.floor(t / 8);
    if (field === 0) throw malformed('field number 0');
    return { field, wireType: t & 7 };
  }
}

function malformed(why: string): CocoletError {
  return new CocoletError(ErrorCode.ProtobufInvalid, `proto: ${why}`);
}

function expect(wireType: number, want: number): void {
  if (wireType !== want) throw malformed(`wrong wire type ${wireType}`);
}

export function decodeRequest(b: Buffer): RequestEnvelope {
  const r = new Reader(b);
  const out: RequestEnvelope = { service: '', method: '', payload: undefined, timeoutNano: 0, metadata: [] };
  while (r.off < r.end) {
    const { field, wireType } = r.tag();
    switch (field) {
      case 1:
        expect(wireType, 2);
        out.service = r.string();
        break;
      case 2:
        expect(wireType, 2);
        out.method = r.string();
        break;
      case 3:
        expect(wireType, 2);
        out.payload = r.bytes();
        break;
      case 4: {
        expect(wireType, 0);
        const v = r.varint();
        // Negative int64 values arrive as 10-byte varints (>= 2^63): treat as "no timeout".
        out.timeoutNano = v >= 2 ** 63 ? 0 : v;
        break;
      }
      case 5: {
        expect(wireType, 2);
        out.metadata.push(decodeKeyValue(r.bytes()));
        break;
      }
      default:
        r.skip(wireType);
    }
  }
  return out;
}

function decodeKeyValue(b: Buffer): KeyValuePair {
  const r = new Reader(b);
  const kv: KeyValuePair = { key: '', value: '' };
  while (r.off < r.end) {
    const { field, wireType } = r.tag();
    if (field === 1 && wireType === 2) kv.key = r.string();
    else if (field === 2 && wireType === 2) kv.value = r.string();
    else if (field === 1 || field === 2) throw malformed(`wrong wire type ${wireType}`);
    else r.skip(wireType);
  }
  return kv;
}

export function decodeStatus(b: Buffer): StatusEnvelope {
  const r = new Reader(b);
  const st: StatusEnvelope = { code: 0, message: '', details: [] };
  while (r.off < r.end) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      expect(wireType, 0);
      st.code = r.int32();
    } else if (field === 2) {
      expect(wireType, 2);
      st.message = r.string();
    } else if (field === 3) {
      expect(wireType, 2);
      st.details.push(r.bytes());
    } else r.skip(wireType);
  }
  return st;
}

export function decodeResponse(b: Buffer): ResponseEnvelope {
  const r = new Reader(b);
  const out: ResponseEnvelope = { status: undefined, payload: undefined };
  while (r.off < r.end) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      expect(wireType, 2);
      out.status = decodeStatus(r.bytes());
    } else if (field === 2) {
      expect(wireType, 2);
      out.payload = r.bytes();
    } else r.skip(wireType);
  }
  return out;
}
