/**
 * The binding between the challenge, the TEE key and the evidence (report_data), as
 * guest-components computes it and trustee checks it:
 *   digest = H(JCS({"additional-evidence": <string>, "nonce": <challenge nonce>, "tee-pubkey": <JWK>}))
 * with H the challenge's `selected-hash-algorithm`, SHA-384 when the challenge selects none
 * (trustee's `extra-params` is ""). TEEs with a fixed-width report_data field zero-pad it.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { TeePubKey } from './protocol.js';

export type BindingHash = 'sha256' | 'sha384' | 'sha512';
export const DEFAULT_BINDING_HASH: BindingHash = 'sha384';

/** The hash the challenge's extra-params select ("" or no selection: SHA-384). */
export function bindingHashOf(extraParams: unknown): BindingHash {
  if (typeof extraParams === 'object' && extraParams !== null) {
    const sel = (extraParams as Record<string, unknown>)['selected-hash-algorithm'];
    if (sel === 'sha256' || sel === 'sha384' || sel === 'sha512') return sel;
  }
  return DEFAULT_BINDING_HASH;
}

/** The canonical JSON that is hashed. */
export function bindingDocument(nonce: string, teePubKey: TeePubKey, additionalEvidence: string): string {
  return canonicalJson({ 'additional-evidence': additionalEvidence, nonce, 'tee-pubkey': teePubKey });
}

/** H(JCS({additional-evidence, nonce, tee-pubkey})): the report_data a TEE must carry. */
export function bindingDigest(nonce: string, teePubKey: TeePubKey, additionalEvidence: string, hash: BindingHash = DEFAULT_BINDING_HASH): Uint8Array {
  return new Uint8Array(createHash(hash).update(bindingDocument(nonce, teePubKey, additionalEvidence), 'utf8').digest());
}

/** `data` zero-padded (or truncated) to `width` bytes, as TEEs place it in their report_data field. */
export function padReportData(data: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(width);
  out.set(data.subarray(0, width));
  return out;
}
