/**
 * TPM 2.0 structures (TCG TPM 2.0 Library, Part 2 "Structures"), big-endian: TPMS_ATTEST for
 * quotes, TPMT_SIGNATURE and TPMT_PUBLIC (RSA and ECC keys).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { ByteReader } from '../bytes.js';
import { fail, Reason } from '../errors.js';

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;

export const TpmAlg = {
  RSA: 0x0001,
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  ECC: 0x0023,
} as const;

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const HASHES: Record<number, HashName> = { [TpmAlg.SHA1]: 'sha1', [TpmAlg.SHA256]: 'sha256', [TpmAlg.SHA384]: 'sha384', [TpmAlg.SHA512]: 'sha512' };
export const HASH_SIZE: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export function hashName(alg: number): HashName | undefined {
  return HASHES[alg];
}

export function hashAlgOf(name: string): number | undefined {
  const e = Object.entries(HASHES).find(([, n]) => n === name);
  return e ? Number(e[0]) : undefined;
}

export interface PcrSelection {
  hash: number;
  /** PCR indexes in ascending order. */
  pcrs: number[];
}

export interface TpmsAttest {
  magic: number;
  type: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  pcrSelections: PcrSelection[];
  pcrDigest: Uint8Array;
  raw: Uint8Array;
}

export function parseTpmsAttest(buf: Uint8Array): TpmsAttest {
  const r = new ByteReader(buf, 'TPMS_ATTEST');
  const magic = r.u32('magic');
  if (magic !== TPM_GENERATED_VALUE) fail(Reason.TpmMagic, `TPMS_ATTEST magic 0x${magic.toString(16)} is not TPM_GENERATED_VALUE 0xff544347`);
  const type = r.u16('type');
  if (type !== TPM_ST_ATTEST_QUOTE) fail(Reason.TpmType, `TPMS_ATTEST type 0x${type.toString(16)} is not TPM_ST_ATTEST_QUOTE 0x8018`);
  const qualifiedSigner = r.sized16('qualifiedSigner');
  const extraData = r.sized16('extraData');
  const clock = r.u64('clockInfo.clock');
  const resetCount = r.u32('clockInfo.resetCount');
  const restartCount = r.u32('clockInfo.restartCount');
  const safe = r.u8('clockInfo.safe') === 1;
  const firmwareVersion = r.u64('firmwareVersion');
  const count = r.u32('pcrSelect.count');
  if (count > 16) fail(Reason.Malformed, `TPMS_ATTEST: ${count} PCR selections is more than any TPM has banks`);
  const pcrSelections: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16(`pcrSelect[${i}].hash`);
    const size = r.u8(`pcrSelect[${i}].sizeofSelect`);
    const bits = r.bytes(size, `pcrSelect[${i}].pcrSelect`);
    const pcrs: number[] = [];
    for (let b = 0; b < bits.length; b++) for (let k = 0; k < 8; k++) if ((bits[b]! >> k) & 1) pcrs.push(b * 8 + k);
    pcrSelections.push({ hash, pcrs });
  }
  const pcrDigest = r.sized16('pcrDigest');
  if (r.remaining !== 0) fail(Reason.Malformed, `TPMS_ATTEST has ${r.remaining} trailing bytes`);
  return { magic, type, qualifiedSigner, extraData, clock, resetCount, restartCount, safe, firmwareVersion, pcrSelections, pcrDigest, raw: buf };
}

export interface TpmtSignature {
  sigAlg: number;
  hash: number;
  /** RSA: the signature; ECDSA: r || s, each left-padded to the same width. */
  signature: Uint8Array;
  ecdsa?: { r: Uint8Array; s: Uint8Array };
}

export function parseTpmtSignature(buf: Uint8Array): TpmtSignature {
  const r = new ByteReader(buf, 'TPMT_SIGNATURE');
  const sigAlg = r.u16('sigAlg');
  if (sigAlg === TpmAlg.RSASSA || sigAlg === TpmAlg.RSAPSS) {
    const hash = r.u16('hash');
    const signature = r.sized16('sig');
    if (r.remaining !== 0) fail(Reason.Malformed, `TPMT_SIGNATURE has ${r.remaining} trailing bytes`);
    return { sigAlg, hash, signature };
  }
  if (sigAlg === TpmAlg.ECDSA) {
    const hash = r.u16('hash');
    const sr = r.sized16('signatureR');
    const ss = r.sized16('signatureS');
    if (r.remaining !== 0) fail(Reason.Malformed, `TPMT_SIGNATURE has ${r.remaining} trailing bytes`);
    return { sigAlg, hash, signature: new Uint8Array(0), ecdsa: { r: sr, s: ss } };
  }
  return fail(Reason.TpmSignatureScheme, `TPMT_SIGNATURE sigAlg 0x${sigAlg.toString(16)} is not RSASSA, RSAPSS or ECDSA`);
}

export interface TpmtPublic {
  type: number;
  nameAlg: number;
  objectAttributes: number;
  scheme: number;
  schemeHash: number;
  key: KeyObject;
}

const CURVES: Record<number, string> = { 0x0003: 'P-256', 0x0004: 'P-384', 0x0005: 'P-521' };

function symmetric(r: ByteReader): void {
  const alg = r.u16('parameters.symmetric.algorithm');
  if (alg !== TpmAlg.NULL) {
    r.u16('parameters.symmetric.keyBits');
    r.u16('parameters.symmetric.mode');
  }
}

function scheme(r: ByteReader, field: string): [number, number] {
  const s = r.u16(`${field}.scheme`);
  const h = s === TpmAlg.NULL ? TpmAlg.NULL : r.u16(`${field}.hashAlg`);
  return [s, h];
}

export function parseTpmtPublic(buf: Uint8Array): TpmtPublic {
  const r = new ByteReader(buf, 'TPMT_PUBLIC');
  const type = r.u16('type');
  const nameAlg = r.u16('nameAlg');
  const objectAttributes = r.u32('objectAttributes');
  r.sized16('authPolicy');
  let key: KeyObject;
  let sch: [number, number];
  try {
    if (type === TpmAlg.RSA) {
      symmetric(r);
      sch = scheme(r, 'parameters.scheme');
      r.u16('parameters.keyBits');
      const exp = r.u32('parameters.exponent');
      const n = r.sized16('unique.rsa');
      if (n.length < 128) fail(Reason.TpmAk, `TPMT_PUBLIC RSA modulus is ${n.length * 8} bits`);
      const e = Buffer.alloc(4);
      e.writeUInt32BE(exp === 0 ? 65537 : exp);
      key = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(n).toString('base64url'), e: e.subarray(e.findIndex((x) => x !== 0)).toString('base64url') }, format: 'jwk' });
    } else if (type === TpmAlg.ECC) {
      symmetric(r);
      sch = scheme(r, 'parameters.scheme');
      const curveId = r.u16('parameters.curveID');
      scheme(r, 'parameters.kdf');
      const x = r.sized16('unique.ecc.x');
      const y = r.sized16('unique.ecc.y');
      const crv = CURVES[curveId];
      if (!crv) fail(Reason.TpmAk, `TPMT_PUBLIC curve 0x${curveId.toString(16)} is not a NIST curve`);
      key = createPublicKey({ key: { kty: 'EC', crv, x: Buffer.from(x).toString('base64url'), y: Buffer.from(y).toString('base64url') }, format: 'jwk' });
    } else {
      return fail(Reason.TpmAk, `TPMT_PUBLIC type 0x${type.toString(16)} is not RSA or ECC`);
    }
  } catch (e) {
    if (e instanceof Error && e.name === 'EvidenceError') throw e;
    return fail(Reason.TpmAk, 'TPMT_PUBLIC does not hold a usable public key', e);
  }
  if (r.remaining !== 0) fail(Reason.Malformed, `TPMT_PUBLIC has ${r.remaining} trailing bytes`);
  return { type, nameAlg, objectAttributes, scheme: sch[0], schemeHash: sch[1], key };
}
