/**
 * Evidence shapes as trustee's attesters send them in `tee-evidence.primary_evidence`, for the
 * TEEs the development machine has: `tpm` (a TPM 2.0 quote over the binding, trustee's TPM
 * attester format) and `sample` (no TEE at all; trustee's sample attester).
 */
import { createHash } from 'node:crypto';
import { KbsProtocolError } from './protocol.js';

/**
 * trustee v0.21 (deps/verifier/src/tpm, TPM_REPORT_DATA_SIZE): the quote's qualifying data is the
 * binding digest cut (or zero-padded) to 32 bytes — the first 32 bytes of the SHA-384 digest.
 */
export const TPM_REPORT_DATA_SIZE = 32;
/** The PCR the init-data digest is extended into (guest-components' INIT_DATA_PCR). */
export const INIT_DATA_PCR = 8;

export interface TpmPrimaryEvidence {
  /** base64 (standard) DER SubjectPublicKeyInfo of the attestation key. */
  ak_public: string;
  tpm_quote: {
    /** base64 of the marshalled TPMT_SIGNATURE. */
    signature: string;
    /** base64 of the TPMS_ATTEST the signature covers. */
    message: string;
    /** the 24 SHA-256 PCR values, hex, PCR 0 first. */
    pcrs: string[];
  };
}

export interface SamplePrimaryEvidence {
  svn: string;
  /** base64 (standard) of the binding digest. */
  report_data: string;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || v.length === 0 || !B64.test(v)) throw new KbsProtocolError(`${what} must be a non-empty base64 string`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

export interface ParsedTpmEvidence {
  akDer: Uint8Array;
  signature: Uint8Array;
  quote: Uint8Array;
  /** PCR index -> lowercase hex SHA-256 value. */
  pcrs: Record<string, string>;
}

export function parseTpmEvidence(v: unknown): ParsedTpmEvidence {
  if (typeof v !== 'object' || v === null) throw new KbsProtocolError('tpm evidence must be a JSON object {ak_public, tpm_quote}');
  const o = v as Record<string, unknown>;
  const q = o.tpm_quote as Record<string, unknown> | undefined;
  if (typeof q !== 'object' || q === null) throw new KbsProtocolError('tpm evidence: tpm_quote must be an object {signature, message, pcrs}');
  if (!Array.isArray(q.pcrs) || q.pcrs.length !== 24) throw new KbsProtocolError('tpm evidence: tpm_quote.pcrs must list the 24 SHA-256 PCR values');
  const pcrs: Record<string, string> = {};
  q.pcrs.forEach((p: unknown, i) => {
    if (typeof p !== 'string' || !/^[0-9a-fA-F]{64}$/.test(p)) throw new KbsProtocolError(`tpm evidence: tpm_quote.pcrs[${i}] is not 64 hex characters`);
    pcrs[String(i)] = p.toLowerCase();
  });
  return { akDer: b64(o.ak_public, 'tpm evidence: ak_public'), signature: b64(q.signature, 'tpm evidence: tpm_quote.signature'), quote: b64(q.message, 'tpm evidence: tpm_quote.message'), pcrs };
}

export function parseSampleEvidence(v: unknown): SamplePrimaryEvidence {
  if (typeof v !== 'object' || v === null) throw new KbsProtocolError('sample evidence must be a JSON object {svn, report_data}');
  const o = v as Record<string, unknown>;
  if (typeof o.report_data !== 'string') throw new KbsProtocolError('sample evidence: report_data must be a string');
  return { svn: typeof o.svn === 'string' ? o.svn : String(o.svn ?? ''), report_data: o.report_data };
}

/** PCR 8 after one extend of a fresh (all-zero) SHA-256 PCR with the init-data digest. */
export function initDataPcrValue(initDataDigest: Uint8Array): string {
  return createHash('sha256').update(new Uint8Array(32)).update(initDataDigest).digest('hex');
}

/** SHA-256 of the DER SPKI: how a pinned AK is named (trustee hashes its trusted AKs the same way). */
export function akPinOf(akDer: Uint8Array): string {
  return createHash('sha256').update(akDer).digest('hex');
}
