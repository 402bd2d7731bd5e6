/** Small helpers over asn1js for decoding DER-encoded certificate extension values. */
import * as asn1js from 'asn1js';
import { fail, Reason } from './errors.js';

export function parseDer(b: Uint8Array, what: string): asn1js.AsnType {
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const r = asn1js.fromBER(ab);
  if (r.offset === -1) fail(Reason.CertMalformed, `${what}: not DER (${r.result.error})`);
  return r.result;
}

export function derInteger(b: Uint8Array, what: string): number {
  const v = parseDer(b, what);
  if (!(v instanceof asn1js.Integer)) return fail(Reason.CertMalformed, `${what}: expected an INTEGER`);
  const n = v.valueBlock.valueDec;
  if (!Number.isSafeInteger(n)) return fail(Reason.CertMalformed, `${what}: INTEGER out of range`);
  return n;
}

export function derString(b: Uint8Array, what: string): string {
  const v = parseDer(b, what);
  if (v instanceof asn1js.IA5String || v instanceof asn1js.PrintableString || v instanceof asn1js.Utf8String) return v.valueBlock.value;
  return fail(Reason.CertMalformed, `${what}: expected a string`);
}

export function oidOf(v: asn1js.AsnType): string | undefined {
  return v instanceof asn1js.ObjectIdentifier ? v.valueBlock.toString() : undefined;
}
