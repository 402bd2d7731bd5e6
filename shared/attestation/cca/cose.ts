/**
 * The bits of CBOR / COSE (RFC 9052) an Arm CCA attestation token needs: decoding with cbor-x
 * (maps kept as Map, integer keys intact), COSE_Sign1 unpacking, the Sig_structure to verify,
 * and COSE_Key (EC2) to a node KeyObject.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { Decoder, Tag } from 'cbor-x';
import { fail, Reason, type ReasonCode } from '../errors.js';

const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });

export function decodeCbor(b: Uint8Array, what: string): unknown {
  try {
    return decoder.decode(b);
  } catch (e) {
    return fail(Reason.CcaToken, `${what} is not CBOR (${e instanceof Error ? e.message : String(e)})`, e);
  }
}

export function untag(v: unknown, tag: number | undefined, what: string): unknown {
  if (v instanceof Tag) {
    if (tag !== undefined && v.tag !== tag) fail(Reason.CcaToken, `${what} has CBOR tag ${v.tag}, expected ${tag}`);
    return v.value;
  }
  return v;
}

export function asMap(v: unknown, what: string): Map<unknown, unknown> {
  if (!(v instanceof Map)) return fail(Reason.CcaToken, `${what} is not a CBOR map`);
  return v;
}

export function asBytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) return fail(Reason.CcaToken, `${what} is not a byte string`);
  return v;
}

export interface CoseSign1 {
  protectedRaw: Uint8Array;
  alg: number;
  payload: Uint8Array;
  signature: Uint8Array;
}

export function parseCoseSign1(b: Uint8Array, what: string): CoseSign1 {
  const v = untag(decodeCbor(b, what), 18, what);
  if (!Array.isArray(v) || v.length !== 4) return fail(Reason.CcaToken, `${what} is not a COSE_Sign1 array of 4`);
  const protectedRaw = asBytes(v[0], `${what} protected header`);
  const hdr = protectedRaw.length === 0 ? new Map() : asMap(decodeCbor(protectedRaw, `${what} protected header`), `${what} protected header`);
  const alg = hdr.get(1);
  if (typeof alg !== 'number') return fail(Reason.CcaAlgorithm, `${what} protected header has no integer alg`);
  return { protectedRaw, alg, payload: asBytes(v[2], `${what} payload`), signature: asBytes(v[3], `${what} signature`) };
}

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

function bstr(b: Uint8Array): Buffer {
  return Buffer.concat([head(2, b.length), b]);
}

/** Sig_structure = ["Signature1", body_protected, external_aad = h'', payload], deterministic CBOR. */
export function sigStructure(s: CoseSign1): Buffer {
  const ctx = Buffer.from('Signature1');
  return Buffer.concat([Buffer.from([0x84]), head(3, ctx.length), ctx, bstr(s.protectedRaw), bstr(new Uint8Array(0)), bstr(s.payload)]);
}

const ALGS: Record<number, { hash: string; crv: string; size: number }> = {
  [-7]: { hash: 'sha256', crv: 'P-256', size: 32 },
  [-35]: { hash: 'sha384', crv: 'P-384', size: 48 },
  [-36]: { hash: 'sha512', crv: 'P-521', size: 66 },
};

/** Verifies an ES256/384/512 COSE_Sign1 with `key`; fails with `reason` naming `what`. */
export function verifyCoseSign1(s: CoseSign1, key: KeyObject, reason: ReasonCode, what: string): void {
  const alg = ALGS[s.alg];
  if (!alg) fail(Reason.CcaAlgorithm, `${what} alg ${s.alg} is not ES256, ES384 or ES512`);
  const crv = key.asymmetricKeyType === 'ec' ? key.export({ format: 'jwk' }).crv : undefined;
  if (crv !== alg.crv) fail(Reason.CcaAlgorithm, `${what} alg ${s.alg} needs a ${alg.crv} key, the key is ${crv ?? key.asymmetricKeyType}`);
  let ok = false;
  try {
    ok = s.signature.length === 2 * alg.size && nodeVerify(alg.hash, sigStructure(s), { key, dsaEncoding: 'ieee-p1363' }, s.signature);
  } catch {
    ok = false;
  }
  if (!ok) fail(reason, `${what} signature does not verify`);
}

const COSE_CRV: Record<number, { crv: string; size: number }> = { 1: { crv: 'P-256', size: 32 }, 2: { crv: 'P-384', size: 48 }, 3: { crv: 'P-521', size: 66 } };

/** A realm public key as CCA encodes it: an uncompressed SEC1 point or a COSE_Key (EC2). */
export function ecKeyFromCca(b: Uint8Array, what: string): KeyObject {
  try {
    if (b[0] === 0x04) {
      const size = (b.length - 1) / 2;
      const crv = Object.values(COSE_CRV).find((c) => c.size === size);
      if (!crv) return fail(Reason.CcaToken, `${what}: a ${b.length}-byte point is not P-256, P-384 or P-521`);
      return createPublicKey({ key: { kty: 'EC', crv: crv.crv, x: Buffer.from(b.subarray(1, 1 + size)).toString('base64url'), y: Buffer.from(b.subarray(1 + size)).toString('base64url') }, format: 'jwk' });
    }
    const m = asMap(decodeCbor(b, what), what);
    const crv = COSE_CRV[m.get(-1) as number];
    if (m.get(1) !== 2 || !crv) return fail(Reason.CcaToken, `${what}: COSE_Key is not an EC2 key on a NIST curve`);
    const x = asBytes(m.get(-2), `${what} x`);
    const y = asBytes(m.get(-3), `${what} y`);
    return createPublicKey({ key: { kty: 'EC', crv: crv.crv, x: Buffer.from(x).toString('base64url'), y: Buffer.from(y).toString('base64url') }, format: 'jwk' });
  } catch (e) {
    if (e instanceof Error && e.name === 'EvidenceError') throw e;
    return fail(Reason.CcaToken, `${what} is not a usable EC public key`, e);
  }
}
