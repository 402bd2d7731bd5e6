/**
 * Azure confidential VMs with a paravisor vTPM (`az-snp-vtpm`, `az-tdx-vtpm`): the hardware
 * evidence (SNP report inside the HCL report, or a TDX quote whose TD report is in it) binds the
 * HCL runtime data, which carries the vTPM attestation key; that key signs the vTPM quote over the
 * verifier's nonce.
 */
import { equalBytes, hex } from '../bytes.js';
import { fail, Reason } from '../errors.js';
import { builtinTrustStore } from '../trust.js';
import { parseSnpReport } from '../snp/report.js';
import { checkSnpReport, loadSnpTrust, type SnpTrust } from '../snp/verify.js';
import { checkTdxQuote, type TdxEvidence } from '../tdx/verify.js';
import { parseTdxQuote } from '../tdx/quote.js';
import { checkTpmQuote, type PcrValues } from '../tpm/verify.js';
import { runChecks, type Claims, type Verifier, type VerifyOptions, type VerifyResult } from '../types.js';
import { checkRuntimeDataBinding, hardwareReport, parseHclReport, parseRuntimeData, TDREPORT_REPORT_DATA_OFFSET, type HclReport } from './hcl.js';

export interface VtpmQuote {
  quote: Uint8Array;
  signature: Uint8Array;
  pcrs?: PcrValues;
}

export interface AzSnpEvidence {
  hcl: Uint8Array;
  /** VCEK (DER or PEM; a PEM bundle may carry ASK and ARK after it). */
  leaf?: Uint8Array | string;
  chain?: Uint8Array | string;
  /** An already loaded and checked chain (e.g. cached by the KBS); replaces leaf / chain. */
  trust?: SnpTrust;
  vtpm?: VtpmQuote;
}

export interface AzTdxEvidence {
  hcl: Uint8Array;
  tdQuote: Uint8Array;
  collateral?: TdxEvidence['collateral'];
  vtpm?: VtpmQuote;
}

function hwOptions(opts: VerifyOptions): VerifyOptions {
  // The verifier's nonce is bound by the vTPM quote, not by the hardware report_data.
  const { reportData: _r, nonce: _n, ...rest } = opts;
  return rest;
}

function checkVtpm(h: HclReport, vtpm: VtpmQuote | undefined, opts: VerifyOptions, claims: Claims): void {
  const rd = parseRuntimeData(h);
  claims.runtime_data = rd.json;
  if (!vtpm) fail(Reason.AzQuoteMissing, 'no vTPM quote given; the HCL report alone does not bind a nonce');
  const tpm: Claims = {};
  try {
    checkTpmQuote(
      { quote: vtpm.quote, signature: vtpm.signature, ak: rd.ak, ...(vtpm.pcrs ? { pcrs: vtpm.pcrs } : {}) },
      { ...opts, ...(opts.reportData && !opts.nonce ? { nonce: opts.reportData } : {}) },
      tpm,
      'hcl-runtime-data',
    );
  } finally {
    claims.tpm = tpm;
  }
}

export function verifyAzSnp(ev: AzSnpEvidence, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('az-snp-vtpm', opts, (claims) => {
    const h = parseHclReport(ev.hcl);
    if (h.reportType !== 'snp') fail(Reason.AzHcl, `HCL report holds a ${h.reportType} report, expected snp`);
    const rep = parseSnpReport(hardwareReport(h));
    const snp: Claims = {};
    claims.snp = snp;
    const trust = ev.trust ?? (ev.leaf !== undefined ? loadSnpTrust(ev.leaf, ev.chain, opts.at ?? new Date(), opts.trustRoots ?? builtinTrustStore('amd')) : fail(Reason.MissingInput, 'no VCEK given'));
    checkSnpReport(rep, trust, hwOptions(opts), snp);
    checkRuntimeDataBinding(h, rep.reportData);
    checkVtpm(h, ev.vtpm, opts, claims);
  });
}

export function verifyAzTdx(ev: AzTdxEvidence, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('az-tdx-vtpm', opts, (claims) => {
    const h = parseHclReport(ev.hcl);
    if (h.reportType !== 'tdx') fail(Reason.AzHcl, `HCL report holds a ${h.reportType} report, expected tdx`);
    const tdx: Claims = {};
    claims.tdx = tdx;
    checkTdxQuote({ quote: ev.tdQuote, ...(ev.collateral ? { collateral: ev.collateral } : {}) }, hwOptions(opts), tdx);
    const q = parseTdxQuote(ev.tdQuote);
    const tdReportData = hardwareReport(h).subarray(TDREPORT_REPORT_DATA_OFFSET, TDREPORT_REPORT_DATA_OFFSET + 64);
    if (!equalBytes(tdReportData, q.body.reportData)) {
      fail(Reason.AzReportData, `TD quote report_data ${hex(q.body.reportData)} differs from the HCL TDREPORT report_data ${hex(tdReportData)}`);
    }
    checkRuntimeDataBinding(h, q.body.reportData);
    checkVtpm(h, ev.vtpm, opts, claims);
  });
}

export const azSnpVerifier: Verifier<AzSnpEvidence> = { tee: 'az-snp-vtpm', verify: verifyAzSnp };
export const azTdxVerifier: Verifier<AzTdxEvidence> = { tee: 'az-tdx-vtpm', verify: verifyAzTdx };
