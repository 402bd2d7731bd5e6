/**
 * Attestation evidence verification: one Verifier per TEE behind the seam in types.ts. The KBS
 * looks verifiers up by the KBS protocol's TEE string.
 */
export * from './types.js';
export { builtinTrustStore, loadTrustStore, trustStoreFrom, trustStoreOf, fingerprint, type TrustStore, type AnchorClaim, type Vendor } from './trust.js';
export { EvidenceError, Reason, isEvidenceError, type ReasonCode } from './errors.js';
export { snpVerifier, verifySnp, verifySnpWithTrust, loadSnpTrust, parseTcbSpec, type SnpEvidence, type SnpTrust } from './snp/verify.js';
export { parseSnpReport, type SnpReport } from './snp/report.js';
export { tdxVerifier, verifyTdx, type TdxEvidence, type TdxVerifyOptions } from './tdx/verify.js';
export { parseTdxQuote, type TdxQuote } from './tdx/quote.js';
export { type TdxCollateral } from './tdx/collateral.js';
export { tpmVerifier, verifyTpm, type TpmEvidence, type PcrValues } from './tpm/verify.js';
export { akSpkiSha256, parseAkPin, type AkTrust } from './tpm/ak-trust.js';
export { parseTpmsAttest, parseTpmtSignature, parseTpmtPublic } from './tpm/structures.js';
export { azSnpVerifier, azTdxVerifier, verifyAzSnp, verifyAzTdx, type AzSnpEvidence, type AzTdxEvidence } from './azure/verify.js';
export { parseHclReport } from './azure/hcl.js';
export { parseEventLog, replay } from './eventlog.js';
export { ccaVerifier, verifyCca, cpakFrom, type CcaEvidence } from './cca/verify.js';

import { snpVerifier as snp } from './snp/verify.js';
import { tdxVerifier as tdx } from './tdx/verify.js';
import { tpmVerifier as tpm } from './tpm/verify.js';
import { azSnpVerifier as azSnp, azTdxVerifier as azTdx } from './azure/verify.js';
import { ccaVerifier as cca } from './cca/verify.js';

/** Every verifier by its KBS protocol TEE string. */
export const verifiers = {
  snp,
  tdx,
  tpm,
  'az-snp-vtpm': azSnp,
  'az-tdx-vtpm': azTdx,
  cca,
} as const;
