/**
 * The KBS protocol facts the data hub needs (RCAR as trustee v0.21 speaks it). Local until the
 * broker's shared/kbs types are on main; then this file re-exports them.
 */
import { createHash } from 'node:crypto';

export const KBS_PROTOCOL_VERSION = '0.4.0';
export const KBS_PREFIX = '/kbs/v0';
export const SESSION_COOKIE = 'kbs-session-id';
export const ERROR_TYPE_PREFIX = 'https://github.com/confidential-containers/kbs/errors';

export type TeePubKey = { kty: 'EC'; crv: 'P-256' | 'P-521'; alg: 'ECDH-ES+A256KW'; x: string; y: string } | { kty: 'RSA'; alg: 'RSA-OAEP-256'; n: string; e: string };

export interface Challenge {
  nonce: string;
  'extra-params': unknown;
}

export type BindingHash = 'sha256' | 'sha384' | 'sha512';

export function bindingHashOf(extraParams: unknown): BindingHash {
  if (typeof extraParams === 'object' && extraParams !== null) {
    const sel = (extraParams as Record<string, unknown>)['selected-hash-algorithm'];
    if (sel === 'sha256' || sel === 'sha384' || sel === 'sha512') return sel;
  }
  return 'sha384';
}

/** RFC 8785 canonical JSON of the plain values the binding hashes (strings and objects of them). */
export function canonicalJson(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** H(JCS({"additional-evidence", "nonce", "tee-pubkey"})): the report_data the evidence must carry. */
export function bindingDigest(nonce: string, teePubKey: TeePubKey, additionalEvidence: string, hash: BindingHash): Uint8Array {
  return new Uint8Array(createHash(hash).update(canonicalJson({ 'additional-evidence': additionalEvidence, nonce, 'tee-pubkey': teePubKey }), 'utf8').digest());
}

/** The kind named by an error body's `type` (`PolicyDeny`, `TokenNotFound`, ...). */
export function errorKindOf(info: unknown): string | undefined {
  const t = (info as { type?: unknown } | null)?.type;
  return typeof t === 'string' && t.startsWith(`${ERROR_TYPE_PREFIX}/`) ? t.slice(ERROR_TYPE_PREFIX.length + 1) : undefined;
}
