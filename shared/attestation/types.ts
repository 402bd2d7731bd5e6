/**
 * The seam between evidence verification and its consumers (the KBS, the CLI): one Verifier per
 * TEE, each taking its own evidence shape and common options, returning a VerifyResult that
 * either says verified with claims, or not verified with one stable reason naming the check.
 */
import type { EcdsaBackend } from './ecdsa.js';
import { EvidenceError, type ReasonCode } from './errors.js';

export type TeeType = 'snp' | 'tdx' | 'tpm' | 'az-snp-vtpm' | 'az-tdx-vtpm' | 'cca';

export interface VerifyOptions {
  /** Time at which certificates and collateral must be valid; default now. */
  at?: Date;
  /** Expected nonce (TPM qualifying data). */
  nonce?: Uint8Array;
  /** Expected report_data; zero-padded / truncated to the TEE's field width before comparing. */
  reportData?: Uint8Array;
  /** Accept debug-enabled guests (SNP policy DEBUG, TDX attributes DEBUG). Default false. */
  allowDebug?: boolean;
  /** Accept SHA-1 TPM signatures. Default false. */
  allowSha1?: boolean;
  /** ECDSA implementation for evidence signatures. */
  ecdsaBackend?: EcdsaBackend;
}

export type Claims = Record<string, unknown>;

export interface VerifyResult {
  verified: boolean;
  tee: TeeType;
  /** `<reason code>: <what exactly failed>` when not verified. */
  reason?: string;
  /** The stable reason code alone. */
  reasonCode?: ReasonCode;
  /** Claims parsed so far (complete when verified). */
  claims: Claims;
}

export interface Verifier<E> {
  readonly tee: TeeType;
  verify(evidence: E, opts?: VerifyOptions): VerifyResult;
}

/**
 * Runs `body`, which fills `claims` as it parses and throws EvidenceError on the first failed
 * check; turns that into a VerifyResult. Other exceptions are bugs and propagate.
 */
export function runChecks(tee: TeeType, body: (claims: Claims) => void): VerifyResult {
  const claims: Claims = {};
  try {
    body(claims);
    return { verified: true, tee, claims };
  } catch (e) {
    if (e instanceof EvidenceError) return { verified: false, tee, reason: e.summary, reasonCode: e.reason, claims };
    throw e;
  }
}
