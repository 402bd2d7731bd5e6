/**
 * Message encoding for payloads. Large singular `bytes` fields are left out of the protobuf
 * encoder (which would grow and copy its buffer several times) and written as separate chunks
 * after the rest of the message, so a large payload goes from the caller's buffer to the socket
 * without a copy. Appending a field after the others is valid protobuf (fields may come in any
 * order; for a singular field the last occurrence wins).
 */
import { create, fromBinary, isMessage, toBinary, ScalarType, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { CocoletError, ErrorCode } from '../errors/index.js';

/** Bytes fields at least this long are written as their own chunk. */
export const LARGE_BYTES = 4096;

export interface EncodedMessage {
  chunks: Uint8Array[];
  length: number;
}

const EMPTY = new Uint8Array(0);
const largeFieldCache = new WeakMap<DescMessage, DescField[]>();

function bytesFields(schema: DescMessage): DescField[] {
  let fs = largeFieldCache.get(schema);
  if (!fs) {
    fs = schema.fields.filter((f) => f.fieldKind === 'scalar' && f.scalar === ScalarType.BYTES && f.oneof === undefined);
    largeFieldCache.set(schema, fs);
  }
  return fs;
}

function tagAndLength(field: number, length: number): Uint8Array {
  const out: number[] = [];
  let v = field * 8 + 2;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  v = length;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** Encodes a message (or its init shape) for `schema`. */
export function encodeMessage(schema: DescMessage, value: unknown): EncodedMessage {
  if (value === undefined || value === null) throw new CocoletError(ErrorCode.Internal, 'ttrpc: handler returned no message');
  const msg = isMessage(value, schema) ? value : create(schema, value as never);
  const fields = bytesFields(schema);
  let large: Array<[DescField, Uint8Array]> | undefined;
  for (const f of fields) {
    const v = (msg as Record<string, unknown>)[f.localName];
    if (v instanceof Uint8Array && v.length >= LARGE_BYTES) (large ??= []).push([f, v]);
  }
  if (!large) {
    const b = toBinary(schema, msg);
    return { chunks: [b], length: b.length };
  }
  const rest = { ...msg } as Record<string, unknown>;
  for (const [f] of large) rest[f.localName] = EMPTY;
  const head = toBinary(schema, rest as Message);
  const chunks: Uint8Array[] = head.length > 0 ? [head] : [];
  let length = head.length;
  for (const [f, v] of large) {
    const t = tagAndLength(f.number, v.length);
    chunks.push(t, v);
    length += t.length + v.length;
  }
  return { chunks, length };
}

/** Decodes a payload; failures are COCOLET_PROTOBUF_INVALID. */
export function decodeMessage(schema: DescMessage, bytes: Uint8Array, context?: Record<string, string>): Message {
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new CocoletError(ErrorCode.ProtobufInvalid, `unmarshal ${schema.typeName}: ${(e as Error).message}`, context ? { cause: e, context } : { cause: e });
  }
}

/** Joins chunks into one buffer (for callers that need contiguous bytes). */
export function joinChunks(m: EncodedMessage): Uint8Array {
  return m.chunks.length === 1 ? m.chunks[0]! : Buffer.concat(m.chunks, m.length);
}
