/**
 * The seam between evidence verification and its consumers (the KBS, the CLI): one Verifier per
 * TEE, each taking its own evidence shape and common options, returning a VerifyResult that
 * either says verified with claims, or not verified with one stable reason naming the check.
 */
import type { EcdsaBackend } from './ecdsa.js';
import { EvidenceError, type ReasonCode } from './errors.js';
import type { TrustStore } from './trust.js';
import type { TcbVersion } from './snp/report.js';

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
  /**
   * Trust anchors replacing the built-in vendor roots (AMD ARK/ASK/ASVK for snp and
   * az-snp-vtpm, the Intel SGX Root CA for tdx and az-tdx-vtpm). A chain that does not end at
   * one of them is refused with cert.untrusted-root. Default: the built-in roots.
   */
  trustRoots?: TrustStore;
  /**
   * SNP: the lowest acceptable TCB. Every component of the report's reported, committed and
   * current TCB must be at least this (`fmc` only counts on Turin). Default: no minimum (claims
   * `min_tcb: "unchecked"`); the reported TCB must still equal the VCEK's.
   */
  minTcb?: TcbVersion;
  /** SNP: the VMPL the report must have been requested at. Default 0 (DEFAULT_SNP_VMPL). */
  vmpl?: number;
  /**
   * TDX (and az-tdx-vtpm): TCB statuses accepted from the TCB info and QE identity. Default
   * UpToDate and SWHardeningNeeded; any other status listed shows up in `waivers`.
   */
  acceptedTcbStatuses?: readonly string[];
  /**
   * TDX: accept a quote without complete collateral (TCB info, QE identity, PCK CRL, root CRL).
   * Default false (tdx.collateral-missing); when used, the claims say `tcb_status: "unchecked"`
   * for what was not given, and `waivers` lists `allow-no-collateral`.
   */
  allowNoCollateral?: boolean;
  /** TPM: roots (and intermediates) an AK certificate must chain to. */
  akRoots?: TrustStore;
  /** TPM: trusted AKs by SHA-256 (hex) of the DER SubjectPublicKeyInfo of the AK public key. */
  akPins?: readonly string[];
  /**
   * TPM: accept an AK that no pin or root vouches for. Default false (tpm.ak-untrusted); when
   * used the claims say `ak_trust: "unchecked"` and `waivers` lists `allow-untrusted-ak`.
   */
  allowUntrustedAk?: boolean;
}

/** SNP: the VMPL expected when VerifyOptions.vmpl is not given (the guest kernel without an SVSM). */
export const DEFAULT_SNP_VMPL = 0;

/** The flags that weaken a default check, by their name in the claims' `waivers` list. */
export const WAIVERS = {
  allowDebug: 'allow-debug',
  allowSha1: 'allow-sha1',
  allowNoCollateral: 'allow-no-collateral',
  allowUntrustedAk: 'allow-untrusted-ak',
} as const;

/** Default accepted TDX TCB statuses: platform patched, possibly needing software mitigations. */
export const DEFAULT_ACCEPTED_TCB_STATUSES: readonly string[] = ['UpToDate', 'SWHardeningNeeded'];

/**
 * Every waiver set in `opts` (whether or not this evidence needed it), so a verifier configured
 * to waive a check says so in every result: `allow-debug`, ..., and
 * `accept-tcb-status:<status>` for each accepted TDX TCB status beyond the defaults.
 */
export function waiversOf(opts: VerifyOptions): string[] {
  const out: string[] = [];
  for (const [k, name] of Object.entries(WAIVERS)) if (opts[k as keyof typeof WAIVERS] === true) out.push(name);
  for (const s of opts.acceptedTcbStatuses ?? []) if (!DEFAULT_ACCEPTED_TCB_STATUSES.includes(s)) out.push(`accept-tcb-status:${s}`);
  return out;
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
 * check; turns that into a VerifyResult. Other exceptions are bugs and propagate. The claims
 * start with `waivers` (waiversOf), verified or not.
 */
export function runChecks(tee: TeeType, opts: VerifyOptions, body: (claims: Claims) => void): VerifyResult {
  const claims: Claims = { waivers: waiversOf(opts) };
  try {
    body(claims);
    return { verified: true, tee, claims };
  } catch (e) {
    if (e instanceof EvidenceError) return { verified: false, tee, reason: e.summary, reasonCode: e.reason, claims };
    throw e;
  }
}
