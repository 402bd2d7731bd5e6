/**
 * Whether a TPM attestation key is one the verifier trusts. A quote only proves that the holder
 * of the AK signed it; the AK must be tied to something trusted, one of:
 *   - a pin: SHA-256 of the AK public key's DER SubjectPublicKeyInfo (`akPins`), the same bytes
 *     `openssl pkey -pubin -outform DER` writes, whatever form the AK was given in (PEM, DER SPKI,
 *     certificate or TPMT_PUBLIC);
 *   - a certificate chain: the AK given as a certificate that chains (with the evidence's chain
 *     and the store's intermediates) to a root of `akRoots`;
 *   - a binding made by other verified evidence (Azure: the AK is in the HCL runtime data that
 *     the SNP report / TD quote signs).
 * Otherwise tpm.ak-untrusted, unless `allowUntrustedAk` (claims `ak_trust: "unchecked"`).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { loadCertificates, verifyChain, type Cert } from '../certs.js';
import { fail, Reason } from '../errors.js';
import { anchorClaim } from '../trust.js';
import type { Claims, VerifyOptions } from '../types.js';

export type AkChainInput = Uint8Array | string | Uint8Array[];

/** What established the AK: `pinned`, `certificate`, a binding (e.g. `hcl-runtime-data`), or `unchecked`. */
export type AkTrust = 'pinned' | 'certificate' | 'hcl-runtime-data' | 'unchecked';

/** SHA-256 (hex) of the DER SubjectPublicKeyInfo of `key`: the value `akPins` holds. */
export function akSpkiSha256(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Normalizes a pin given by a user: 64 hex digits, optional `sha256:` prefix, any case. */
export function parseAkPin(pin: string): string | undefined {
  const t = pin.trim().replace(/^sha256:/i, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(t) ? t : undefined;
}

function akCertificate(ak: Uint8Array | KeyObject): Cert | undefined {
  if (!(ak instanceof Uint8Array)) return undefined;
  const head = Buffer.from(ak.subarray(0, 64)).toString('latin1');
  if (head.includes('-----BEGIN') && !Buffer.from(ak).toString('latin1').includes('BEGIN CERTIFICATE')) return undefined;
  if (!head.includes('-----BEGIN') && ak[0] !== 0x30) return undefined;
  try {
    return loadCertificates(ak, ['AK certificate'], 'AK certificate')[0];
  } catch {
    return undefined;
  }
}

function chainCerts(data: AkChainInput): Cert[] {
  return Array.isArray(data) ? data.map((d, i) => loadCertificates(d, [`AK chain[${i}]`], 'AK chain')[0]!) : loadCertificates(data, 'AK chain', 'AK chain');
}

/**
 * Decides the AK's trust and records `ak_trust` and `ak_spki_sha256` in the claims; throws
 * tpm.ak-untrusted, or a cert.* reason when a configured AK root chain does not verify.
 */
export function checkAkTrust(ak: Uint8Array | KeyObject, key: KeyObject, akChain: AkChainInput | undefined, opts: VerifyOptions, claims: Claims): AkTrust {
  const pin = akSpkiSha256(key);
  claims.ak_spki_sha256 = pin;
  const record = (t: AkTrust): AkTrust => ((claims.ak_trust = t), t);
  const pins = opts.akPins ?? [];
  if (pins.some((p) => parseAkPin(p) === pin)) return record('pinned');
  if (opts.akRoots) {
    const cert = akCertificate(ak);
    if (!cert) fail(Reason.TpmAkUntrusted, `AK roots are configured (${opts.akRoots.source}) but the AK is not given as a certificate`);
    const anchor = verifyChain(cert, akChain ? chainCerts(akChain) : [], { at: opts.at ?? new Date(), trust: opts.akRoots });
    claims.ak_trust_anchor = anchorClaim(anchor, opts.akRoots);
    return record('certificate');
  }
  if (pins.length > 0) fail(Reason.TpmAkUntrusted, `AK public key SHA-256 ${pin} is not one of the ${pins.length} pinned AK key(s)`);
  if (opts.allowUntrustedAk) return record('unchecked');
  return fail(Reason.TpmAkUntrusted, `AK (public key SHA-256 ${pin}) is not tied to anything trusted: give AK roots or an AK pin, or allow an untrusted AK explicitly`);
}
