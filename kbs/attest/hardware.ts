/**
 * Hardware TEE evidence in trustee's attester shapes, checked by the shared verifiers:
 *  - `snp`: {attestation_report, cert_chain: [{cert_type, data}]} with the report as the sev
 *    crate's serde JSON (what guest-components sends) or raw bytes (base64 or a byte array), and
 *    the VCEK/VLEK in the chain (the broker fetches nothing);
 *    report_data = binding digest zero-padded to 64 bytes; init-data digest in HOST_DATA.
 *  - `tdx`: {quote, cc_eventlog?} base64; collateral from the broker's configuration (required
 *    by the verifier); report_data as for SNP; init-data digest in MRCONFIGID.
 *  - `az-snp-vtpm` / `az-tdx-vtpm` (Azure CVMs with a paravisor vTPM), trustee v0.21's versioned
 *    shapes: v1/v2 {version, tpm_quote: {signature, message, pcrs} hex, hcl_report, vcek | td_quote
 *    base64url}, v0 {quote, report, vcek PEM} / {tpm_quote, hcl_report, td_quote} with byte arrays;
 *    the vTPM quote's nonce is the binding digest itself, its AK comes from the HCL runtime data
 *    the hardware report binds; init-data digest extended into PCR 8 as for `tpm`. (v2's extra
 *    HCL user-data = report_data check is not made; the quote's nonce binds the same digest.)
 * Debug guests are refused unless the default reference values allow them (then a waiver).
 */
import { verifyAzSnp, verifyAzTdx, verifySnp, verifyTdx, type TdxCollateral, type VerifyResult } from '../../shared/attestation/index.js';
import { initDataPcrValue, INIT_DATA_PCR } from '../../shared/kbs/evidence.js';
import { padReportData } from '../../shared/kbs/binding.js';
import { KbsProtocolError } from '../../shared/kbs/protocol.js';
import { snpReportFromJson } from '../../shared/kbs/snp-json.js';
import { AttestationFailure, digestInitData, Waiver, type EvidenceInput, type VerifiedEvidence } from './evidence.js';
import type { EvidenceFacts, SnpMinTcb } from './reference-values.js';

export interface HardwareTrust {
  /** TDX collateral (TCB info, QE identity, CRLs) the verifier needs. */
  tdxCollateral?: TdxCollateral;
}

const REPORT_DATA_SIZE = 64;

function bytes(v: unknown, what: string): Uint8Array {
  if (typeof v === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(v)) return new Uint8Array(Buffer.from(v, 'base64'));
  if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x < 256)) return new Uint8Array(v as number[]);
  throw new AttestationFailure('evidence.malformed', `${what} must be base64 or an array of bytes`);
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AttestationFailure('evidence.malformed', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** The lowest of the reported, committed and current TCB, component by component: what minTcb is compared with. */
function lowestTcb(c: Record<string, unknown>): SnpMinTcb {
  const tcbs = ['reported_tcb', 'committed_tcb', 'current_tcb'].map((k) => c[k] as SnpMinTcb | undefined).filter((t): t is SnpMinTcb => !!t);
  const min = (k: keyof SnpMinTcb): number => Math.min(...tcbs.map((t) => t[k] ?? 0));
  return { bootloader: min('bootloader'), tee: min('tee'), snp: min('snp'), microcode: min('microcode') };
}

function checked(r: VerifyResult): void {
  if (!r.verified) throw new AttestationFailure(r.reasonCode ?? 'evidence.unverified', r.reason ?? `${r.tee} evidence did not verify`);
}

/** Compares the init-data digest with the TEE's field (zero-padded/truncated to its width). */
function initDataAgainst(input: EvidenceInput, field: string, width: number, what: string): { digest: string; claims: unknown } | undefined {
  if (!input.initData) return undefined;
  const { digest, claims } = digestInitData(input.initData);
  const want = Buffer.from(padReportData(digest, width)).toString('hex');
  if (field !== want) throw new AttestationFailure('kbs.init-data', `${what} ${field} is not the init-data digest (${want})`);
  return { digest: Buffer.from(digest).toString('hex'), claims };
}

export function verifySnpEvidence(input: EvidenceInput): VerifiedEvidence {
  const o = object(input.primary, 'snp evidence');
  let report: Uint8Array;
  if (typeof o.attestation_report === 'object' && o.attestation_report !== null && !Array.isArray(o.attestation_report)) {
    // guest-components' form: the sev crate's AttestationReport as serde JSON.
    try {
      report = snpReportFromJson(o.attestation_report);
    } catch (e) {
      if (e instanceof KbsProtocolError) throw new AttestationFailure('evidence.malformed', `snp evidence: ${e.detail}`);
      throw e;
    }
  } else {
    report = bytes(o.attestation_report, 'snp evidence: attestation_report');
  }
  const chain = Array.isArray(o.cert_chain) ? o.cert_chain.map((e, i) => object(e, `snp evidence: cert_chain[${i}]`)) : [];
  const leafEntry = chain.find((e) => typeof e.cert_type === 'string' && /^(vcek|vlek)$/i.test(e.cert_type));
  if (!leafEntry) throw new AttestationFailure('evidence.missing-input', 'snp evidence carries no VCEK or VLEK in cert_chain (this broker fetches nothing from AMD KDS)');
  const leaf = bytes(leafEntry.data, 'snp evidence: cert_chain VCEK data');
  const rest = chain.filter((e) => e !== leafEntry && typeof e.cert_type === 'string' && /^(ask|ark|asvk)$/i.test(e.cert_type)).map((e) => Buffer.from(bytes(e.data, 'snp evidence: cert_chain data')));
  const r = verifySnp(
    { report, leaf, ...(rest.length > 0 ? { chain: Buffer.concat(rest.map((d) => Buffer.from(`-----BEGIN CERTIFICATE-----\n${d.toString('base64')}\n-----END CERTIFICATE-----\n`))).toString() } : {}) },
    { reportData: padReportData(input.reportData, REPORT_DATA_SIZE), allowDebug: input.gates.allowDebug, ...(input.at ? { at: input.at } : {}) },
  );
  checked(r);
  const c = r.claims as { measurement: string; host_data: string };
  const facts: EvidenceFacts = { tee: 'snp', measurement: c.measurement, tcb: lowestTcb(r.claims) };
  const initData = initDataAgainst(input, c.host_data, 32, 'HOST_DATA');
  if (initData) facts.initDataDigest = initData.digest;
  return { facts, teeClaims: r.claims, ...(initData ? { initData } : {}), waivers: input.gates.allowDebug ? [Waiver.Debug] : [] };
}

export function verifyTdxEvidence(input: EvidenceInput, trust: HardwareTrust): VerifiedEvidence {
  const o = object(input.primary, 'tdx evidence');
  const quote = bytes(o.quote, 'tdx evidence: quote');
  const log = o.cc_eventlog === undefined || o.cc_eventlog === null ? undefined : bytes(o.cc_eventlog, 'tdx evidence: cc_eventlog');
  const r = verifyTdx(
    { quote, ...(trust.tdxCollateral ? { collateral: trust.tdxCollateral } : {}), ...(log ? { eventLog: log } : {}) },
    { reportData: padReportData(input.reportData, REPORT_DATA_SIZE), allowDebug: input.gates.allowDebug, ...(input.at ? { at: input.at } : {}) },
  );
  checked(r);
  const c = r.claims as { mr_td: string; mr_config_id: string };
  const facts: EvidenceFacts = { tee: 'tdx', measurement: c.mr_td };
  const initData = initDataAgainst(input, c.mr_config_id, 48, 'MRCONFIGID');
  if (initData) facts.initDataDigest = initData.digest;
  return { facts, teeClaims: r.claims, ...(initData ? { initData } : {}), waivers: input.gates.allowDebug ? [Waiver.Debug] : [] };
}

interface VtpmParts {
  quote: Uint8Array;
  signature: Uint8Array;
  pcrs: Record<string, string>;
}

function hexBytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) throw new AttestationFailure('evidence.malformed', `${what} must be hex`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

function b64urlBytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(v)) throw new AttestationFailure('evidence.malformed', `${what} must be base64url`);
  return new Uint8Array(Buffer.from(v, 'base64url'));
}

/** The vTPM quote: v1/v2 evidence carries hex fields, v0 the az-cvm-vtpm serde form (byte arrays). */
function vtpmQuote(v: unknown, what: string, versioned: boolean): VtpmParts {
  const q = object(v, what);
  if (!Array.isArray(q.pcrs) || q.pcrs.length !== 24) throw new AttestationFailure('evidence.malformed', `${what}.pcrs must list the 24 SHA-256 PCR values`);
  const field = versioned ? hexBytes : bytes;
  const pcrs: Record<string, string> = {};
  q.pcrs.forEach((p: unknown, i) => {
    const b = Buffer.from(field(p, `${what}.pcrs[${i}]`));
    if (b.length !== 32) throw new AttestationFailure('evidence.malformed', `${what}.pcrs[${i}] is not a SHA-256 value`);
    pcrs[String(i)] = b.toString('hex');
  });
  return { quote: field(q.message, `${what}.message`), signature: field(q.signature, `${what}.signature`), pcrs };
}

/** trustee v0.21's versioned Azure evidence: v1/v2 `{version, tpm_quote, hcl_report, ...}` (base64url), else v0. */
function azVersion(o: Record<string, unknown>, what: string): 0 | 1 | 2 {
  if (o.version === undefined) return 0;
  if (o.version === 1 || o.version === 2) return o.version;
  throw new AttestationFailure('evidence.unsupported', `${what}: version ${JSON.stringify(o.version)} is not 1 or 2`);
}

/** Azure's attester extends PCR 8 with the init-data digest, as the TPM attester does. */
function initDataInPcr8(input: EvidenceInput, pcrs: Record<string, string>): { digest: string; claims: unknown } | undefined {
  if (!input.initData) return undefined;
  const { digest, alg, claims } = digestInitData(input.initData);
  if (digest.length !== 32) throw new AttestationFailure('kbs.init-data', `the vTPM binds init-data into PCR ${INIT_DATA_PCR} with a SHA-256 digest; this init-data uses ${alg}`);
  const want = initDataPcrValue(digest);
  if (pcrs[String(INIT_DATA_PCR)] !== want) throw new AttestationFailure('kbs.init-data', `PCR ${INIT_DATA_PCR} is ${pcrs[String(INIT_DATA_PCR)]}, not the value one extend of the init-data digest gives (${want})`);
  return { digest: Buffer.from(digest).toString('hex'), claims };
}

export function verifyAzSnpEvidence(input: EvidenceInput): VerifiedEvidence {
  const what = 'az-snp-vtpm evidence';
  const o = object(input.primary, what);
  const version = azVersion(o, what);
  let vtpm: VtpmParts;
  let hcl: Uint8Array;
  let leaf: Uint8Array | string;
  if (version === 0) {
    vtpm = vtpmQuote(o.quote, `${what}: quote`, false);
    hcl = bytes(o.report, `${what}: report`);
    if (typeof o.vcek !== 'string' || !o.vcek.includes('-----BEGIN CERTIFICATE-----')) throw new AttestationFailure('evidence.missing-input', `${what}: vcek must be the VCEK certificate as PEM`);
    leaf = o.vcek;
  } else {
    vtpm = vtpmQuote(o.tpm_quote, `${what}: tpm_quote`, true);
    hcl = b64urlBytes(o.hcl_report, `${what}: hcl_report`);
    leaf = b64urlBytes(o.vcek, `${what}: vcek`);
    if (leaf.length === 0) throw new AttestationFailure('evidence.missing-input', `${what}: vcek is empty`);
  }
  const r = verifyAzSnp(
    { hcl, leaf, vtpm: { quote: vtpm.quote, signature: vtpm.signature, pcrs: { hash: 'sha256', pcrs: vtpm.pcrs } } },
    { reportData: input.reportData, allowDebug: input.gates.allowDebug, ...(input.at ? { at: input.at } : {}) },
  );
  checked(r);
  const snp = r.claims.snp as Record<string, unknown> & { measurement: string };
  const facts: EvidenceFacts = { tee: 'az-snp-vtpm', measurement: snp.measurement, pcrs: vtpm.pcrs, tcb: lowestTcb(snp) };
  const initData = initDataInPcr8(input, vtpm.pcrs);
  if (initData) facts.initDataDigest = initData.digest;
  return { facts, teeClaims: { ...r.claims, evidence_version: version }, ...(initData ? { initData } : {}), waivers: input.gates.allowDebug ? [Waiver.Debug] : [] };
}

export function verifyAzTdxEvidence(input: EvidenceInput, trust: HardwareTrust): VerifiedEvidence {
  const what = 'az-tdx-vtpm evidence';
  const o = object(input.primary, what);
  const version = azVersion(o, what);
  const vtpm = vtpmQuote(o.tpm_quote, `${what}: tpm_quote`, version > 0);
  const field = version > 0 ? b64urlBytes : bytes;
  const r = verifyAzTdx(
    {
      hcl: field(o.hcl_report, `${what}: hcl_report`),
      tdQuote: field(o.td_quote, `${what}: td_quote`),
      ...(trust.tdxCollateral ? { collateral: trust.tdxCollateral } : {}),
      vtpm: { quote: vtpm.quote, signature: vtpm.signature, pcrs: { hash: 'sha256', pcrs: vtpm.pcrs } },
    },
    { reportData: input.reportData, allowDebug: input.gates.allowDebug, ...(input.at ? { at: input.at } : {}) },
  );
  checked(r);
  const facts: EvidenceFacts = { tee: 'az-tdx-vtpm', measurement: (r.claims.tdx as { mr_td: string }).mr_td, pcrs: vtpm.pcrs };
  const initData = initDataInPcr8(input, vtpm.pcrs);
  if (initData) facts.initDataDigest = initData.digest;
  return { facts, teeClaims: r.claims, ...(initData ? { initData } : {}), waivers: input.gates.allowDebug ? [Waiver.Debug] : [] };
}
