/**
 * ECDSA P-256 / P-384 verification of raw (r, s) signatures with a selectable backend:
 * node:crypto (OpenSSL) or @noble/curves. `bench/verify` measures both; the default is the faster
 * one on Node 20 (node:crypto, see DEFAULT_ECDSA_BACKEND). Both reject malformed keys and
 * signatures by returning false / throwing EvidenceError, never anything else.
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { p256, p384 } from '@noble/curves/nist.js';
import { fail, Reason } from './errors.js';

export type Curve = 'P-256' | 'P-384';
export type EcdsaBackend = 'node' | 'noble';

/** node:crypto measured faster than @noble/curves for both curves (bench/verify). */
export const DEFAULT_ECDSA_BACKEND: EcdsaBackend = 'node';

const SIZE: Record<Curve, number> = { 'P-256': 32, 'P-384': 48 };

const HASH: Record<Curve, string> = { 'P-256': 'sha256', 'P-384': 'sha384' };

/**
 * Raw points already imported (and so already checked to be on the curve), oldest first. A
 * verifier sees the same few keys again and again — a TDX quote's attestation key belongs to its
 * platform's quoting enclave — and importing one costs about as much as a verification.
 */
const importedKeys = new Map<string, KeyObject>();
const IMPORTED_KEYS_MAX = 1024;

export class EcdsaPublicKey {
  private nodeKey: KeyObject | undefined;

  private constructor(
    readonly curve: Curve,
    /** Uncompressed point 04 || X || Y. */
    readonly point: Uint8Array,
  ) {}

  /** From raw X || Y (as in a TDX quote) or 04 || X || Y. */
  static fromRaw(curve: Curve, raw: Uint8Array, what: string): EcdsaPublicKey {
    const n = SIZE[curve];
    let point: Uint8Array;
    if (raw.length === 2 * n) {
      point = new Uint8Array(2 * n + 1);
      point[0] = 4;
      point.set(raw, 1);
    } else if (raw.length === 2 * n + 1 && raw[0] === 4) {
      point = raw;
    } else {
      return fail(Reason.Malformed, `${what}: ${curve} public key must be ${2 * n} raw bytes, got ${raw.length}`);
    }
    const k = new EcdsaPublicKey(curve, point);
    const id = `${curve}:${Buffer.from(point.buffer, point.byteOffset, point.length).toString('base64')}`;
    const known = importedKeys.get(id);
    if (known) {
      k.nodeKey = known;
      return k;
    }
    try {
      // OpenSSL checks that the point is on the curve when it decodes the key.
      k.nodeKey = createPublicKey({
        key: { kty: 'EC', crv: curve, x: Buffer.from(point.subarray(1, 1 + n)).toString('base64url'), y: Buffer.from(point.subarray(1 + n)).toString('base64url') },
        format: 'jwk',
      });
    } catch (e) {
      return fail(Reason.Malformed, `${what}: not a point on ${curve}`, e);
    }
    if (importedKeys.size >= IMPORTED_KEYS_MAX) importedKeys.delete(importedKeys.keys().next().value!);
    importedKeys.set(id, k.nodeKey);
    return k;
  }

  /** From a node KeyObject holding an EC public key (e.g. a certificate's). */
  static fromKeyObject(key: KeyObject, what: string): EcdsaPublicKey {
    const jwk = key.export({ format: 'jwk' });
    if (key.asymmetricKeyType !== 'ec' || (jwk.crv !== 'P-256' && jwk.crv !== 'P-384') || !jwk.x || !jwk.y) {
      return fail(Reason.CertKey, `${what}: expected an EC P-256 or P-384 key, got ${key.asymmetricKeyType ?? 'unknown'} ${jwk.crv ?? ''}`.trim());
    }
    const curve = jwk.crv as Curve;
    const raw = Buffer.concat([Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    const k = EcdsaPublicKey.fromRaw(curve, new Uint8Array(raw), what);
    k.nodeKey = key;
    return k;
  }

  private keyObject(): KeyObject {
    if (!this.nodeKey) {
      const n = SIZE[this.curve];
      this.nodeKey = createPublicKey({
        key: {
          kty: 'EC',
          crv: this.curve,
          x: Buffer.from(this.point.subarray(1, 1 + n)).toString('base64url'),
          y: Buffer.from(this.point.subarray(1 + n)).toString('base64url'),
        },
        format: 'jwk',
      });
    }
    return this.nodeKey;
  }

  /**
   * Verifies a signature given as big-endian r || s (each exactly the curve size) over `message`
   * hashed with the curve's hash (SHA-256 for P-256, SHA-384 for P-384).
   */
  verify(message: Uint8Array, rs: Uint8Array, backend: EcdsaBackend = DEFAULT_ECDSA_BACKEND): boolean {
    if (rs.length !== 2 * SIZE[this.curve]) return false;
    try {
      if (backend === 'noble') {
        const c = this.curve === 'P-256' ? p256 : p384;
        return c.verify(rs, message, this.point, { lowS: false, prehash: true });
      }
      return nodeVerify(HASH[this.curve], message, { key: this.keyObject(), dsaEncoding: 'ieee-p1363' }, rs);
    } catch {
      return false;
    }
  }
}

export function curveSize(curve: Curve): number {
  return SIZE[curve];
}
