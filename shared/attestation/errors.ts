/**
 * Attestation failures. Every failed check throws an EvidenceError whose `reason` is a stable,
 * dotted code naming the check (`snp.signature`, `cert.expired`, `tpm.nonce`, ...) and whose
 * message says exactly what was compared. The CocoletError `code` groups reasons by kind
 * (malformed / signature / certificate / claim) for the one status mapping in shared/errors.
 */
import { CocoletError, ErrorCode, type ErrorCodeValue, type ErrorContext } from '../errors/errors.js';

/** Stable reason codes. Tests assert on these; never rename one. */
export const Reason = {
  // input shape
  Malformed: 'evidence.malformed',
  Truncated: 'evidence.truncated',
  Unsupported: 'evidence.unsupported',
  MissingInput: 'evidence.missing-input',
  // certificates
  CertMalformed: 'cert.malformed',
  CertExpired: 'cert.expired',
  CertNotYetValid: 'cert.not-yet-valid',
  CertSignature: 'cert.signature',
  CertIssuer: 'cert.issuer',
  CertUntrustedRoot: 'cert.untrusted-root',
  CertRevoked: 'cert.revoked',
  CertKey: 'cert.key',
  // SEV-SNP
  SnpVersion: 'snp.version',
  SnpSignatureAlgo: 'snp.signature-algo',
  SnpSignature: 'snp.signature',
  SnpSigningKey: 'snp.signing-key',
  SnpProduct: 'snp.product',
  SnpTcb: 'snp.tcb',
  SnpMinTcb: 'snp.min-tcb',
  SnpChipId: 'snp.chip-id',
  SnpDebug: 'snp.debug',
  SnpVmpl: 'snp.vmpl',
  SnpReportData: 'snp.report-data',
  // TDX
  TdxVersion: 'tdx.version',
  TdxTeeType: 'tdx.tee-type',
  TdxSgxQuote: 'tdx.sgx-quote',
  TdxKeyType: 'tdx.key-type',
  TdxCertData: 'tdx.cert-data',
  TdxQuoteSignature: 'tdx.quote-signature',
  TdxQeSignature: 'tdx.qe-report-signature',
  TdxAkBinding: 'tdx.ak-binding',
  TdxDebug: 'tdx.debug',
  TdxReportData: 'tdx.report-data',
  TdxCollateral: 'tdx.collateral',
  TdxCollateralMissing: 'tdx.collateral-missing',
  TdxCollateralSignature: 'tdx.collateral-signature',
  TdxCollateralExpired: 'tdx.collateral-expired',
  TdxFmspc: 'tdx.fmspc',
  TdxTcbStatus: 'tdx.tcb-status',
  TdxTcbLevel: 'tdx.tcb-level',
  TdxQeIdentity: 'tdx.qe-identity',
  TdxEventLog: 'tdx.event-log',
  // TPM
  TpmMagic: 'tpm.magic',
  TpmType: 'tpm.type',
  TpmSignature: 'tpm.signature',
  TpmSignatureScheme: 'tpm.signature-scheme',
  TpmSha1: 'tpm.sha1-not-allowed',
  TpmNonce: 'tpm.nonce',
  TpmPcrDigest: 'tpm.pcr-digest',
  TpmPcrSelection: 'tpm.pcr-selection',
  TpmAk: 'tpm.ak',
  TpmAkUntrusted: 'tpm.ak-untrusted',
  TpmEventLog: 'tpm.event-log',
  // Azure vTPM
  AzHcl: 'azure.hcl',
  AzRuntimeData: 'azure.runtime-data',
  AzReportData: 'azure.report-data',
  AzAk: 'azure.ak',
  AzQuoteMissing: 'azure.quote-missing',
  // Arm CCA
  CcaToken: 'cca.token',
  CcaAlgorithm: 'cca.algorithm',
  CcaPlatformSignature: 'cca.platform-signature',
  CcaRealmSignature: 'cca.realm-signature',
  CcaRealmKeyBinding: 'cca.realm-key-binding',
  CcaChallenge: 'cca.challenge',
  CcaLifecycle: 'cca.lifecycle',
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];

function kindOf(reason: ReasonCode): ErrorCodeValue {
  if (reason.startsWith('cert.')) return ErrorCode.EvidenceCertificate;
  if (reason.startsWith('evidence.') || reason === Reason.TpmMagic || reason === Reason.TpmType || reason === Reason.TdxCertData || reason === Reason.AzHcl || reason === Reason.CcaToken) {
    return reason === Reason.MissingInput ? ErrorCode.InvalidArgument : ErrorCode.EvidenceMalformed;
  }
  if (/signature$/.test(reason) || reason === Reason.TdxAkBinding || reason === Reason.CcaRealmKeyBinding) return ErrorCode.EvidenceSignature;
  return ErrorCode.EvidenceClaim;
}

export class EvidenceError extends CocoletError {
  readonly reason: ReasonCode;

  constructor(reason: ReasonCode, detail: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(kindOf(reason), detail, options);
    this.name = 'EvidenceError';
    this.reason = reason;
  }

  /** `<reason>: <detail>`, the form the CLI and the KBS report. */
  get summary(): string {
    return `${this.reason}: ${this.message}`;
  }
}

export function fail(reason: ReasonCode, detail: string, cause?: unknown): never {
  throw new EvidenceError(reason, detail, cause === undefined ? {} : { cause });
}

export function isEvidenceError(e: unknown): e is EvidenceError {
  return e instanceof EvidenceError;
}
