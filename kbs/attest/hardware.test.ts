/**
 * The SNP and TDX adapters on real evidence from the shared fixtures (their report_data is the
 * fixture's, so the tests give that as the expected binding), then appraised against reference
 * values: measurement, minimum TCB, init-data, debug forbidden, binding, collateral.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSnpReport, parseTdxQuote } from '../../shared/attestation/index.js';
import { readCollateralDir } from '../verify/collateral-dir.js';
import { attestationFixtures, FIXTURES_ABSENT, fx } from '../../shared/attestation/testing/fixtures.js';
import { AttestationFailure, verifyEvidence, Waiver, type EvidenceInput, type Gates } from './evidence.js';
import { appraise } from './reference-values.js';

const F = attestationFixtures();
const skip = F === null && FIXTURES_ABSENT;
const STRICT: Gates = { allowDebug: false, allowDevelopmentTee: false, allowSample: false };
const AT = new Date('2024-01-01T00:00:00Z');

function snpInput(dir: string, gates: Gates = STRICT, reportData?: Uint8Array): EvidenceInput {
  const report = fx(`snp/${dir}/report.bin`);
  return {
    tee: 'snp',
    primary: { attestation_report: Buffer.from(report).toString('base64'), cert_chain: [{ cert_type: 'VCEK', data: [...fx(`snp/${dir}/vcek.der`)] }] },
    reportData: reportData ?? parseSnpReport(report).reportData,
    gates,
    trust: { tpmAkPins: new Set() },
    at: AT,
  };
}

function failsWith(fn: () => unknown, reason: string, detail?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof AttestationFailure && e.reason === reason && (!detail || detail.test(e.detail)));
}

test('snp: a real Milan report verifies; its measurement and TCB are appraised', { skip }, () => {
  const v = verifyEvidence(snpInput('milan-v2-virtee'));
  const m = '7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f';
  assert.equal(v.facts.measurement, m);
  assert.deepEqual(v.facts.tcb, { bootloader: 3, tee: 0, snp: 8, microcode: 115 });
  assert.deepEqual(v.waivers, []);
  assert.equal(appraise({ measurements: [m], minTcb: { snp: 8, microcode: 115 } }, v.facts).status, 'affirming');
  assert.match(appraise({ measurements: ['00'.repeat(48)] }, v.facts).failed.join(), /measurement 7a1e.* is not an accepted measurement/);
  assert.match(appraise({ measurements: [m], minTcb: { microcode: 200 } }, v.facts).failed.join(), /tcb microcode 115 is below the minimum 200/);
});

test('snp: evidence not bound to this nonce and key is refused (snp.report-data)', { skip }, () => {
  failsWith(() => verifyEvidence(snpInput('milan-v2-virtee', STRICT, new Uint8Array(48).fill(7))), 'snp.report-data');
});

test('snp: a debug-enabled guest is refused unless the default reference values allow debug, then the waiver shows', { skip }, () => {
  failsWith(() => verifyEvidence(snpInput('milan-v2-go-sev-guest')), 'snp.debug');
  const v = verifyEvidence(snpInput('milan-v2-go-sev-guest', { ...STRICT, allowDebug: true }));
  assert.deepEqual(v.waivers, [Waiver.Debug]);
});

test('snp: init-data whose digest is not HOST_DATA is refused', { skip }, () => {
  const input = { ...snpInput('milan-v2-virtee'), initData: { format: 'toml', body: 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n' } };
  failsWith(() => verifyEvidence(input), 'kbs.init-data', /HOST_DATA 0{64} is not the init-data digest/);
});

test('snp: no VCEK in the evidence, or a structured report missing a field, is refused by name', { skip }, () => {
  const i = snpInput('milan-v2-virtee');
  failsWith(() => verifyEvidence({ ...i, primary: { attestation_report: (i.primary as { attestation_report: string }).attestation_report, cert_chain: [] } }), 'evidence.missing-input', /no VCEK/);
  failsWith(() => verifyEvidence({ ...i, primary: { attestation_report: { version: 2 }, cert_chain: [{ cert_type: 'VCEK', data: [1] }] } }), 'evidence.malformed', /guest_svn/);
});

const V4 = 'tdx/v4-tdx10-spr-e4-go-tdx-guest';
function tdxInput(reportData?: Uint8Array, collateral = false): EvidenceInput {
  const quote = fx(`${V4}/quote.bin`);
  return {
    tee: 'tdx',
    primary: { quote: Buffer.from(quote).toString('base64') },
    reportData: reportData ?? parseTdxQuote(quote).body.reportData,
    gates: STRICT,
    trust: { tpmAkPins: new Set(), ...(collateral ? { tdxCollateral: readCollateralDir(`${F}/${V4}/collateral`) } : {}) },
    at: new Date('2023-07-01T01:00:00Z'),
  };
}

test('tdx: a real quote is refused by the strict verifier: without collateral, under its (older) TCB levels, or bound to something else', { skip }, () => {
  failsWith(() => verifyEvidence(tdxInput()), 'tdx.collateral-missing');
  // The 2023 SPR sample's platform is below every TCB level its own collateral lists.
  failsWith(() => verifyEvidence(tdxInput(undefined, true)), 'tdx.tcb-level');
  failsWith(() => verifyEvidence(tdxInput(new Uint8Array(64).fill(9), true)), 'tdx.report-data');
});

test('az-snp-vtpm: the real Azure HCL sample is refused (its VCEK belongs to another chip); no VCEK is refused by name', { skip }, () => {
  const pcrs = (JSON.parse(Buffer.from(fx('tpm/azure-vtpm-kinvolk/pcrs_sha256.json')).toString()) as { pcrs: Record<string, string> }).pcrs;
  const primary = {
    quote: { signature: [...fx('tpm/azure-vtpm-kinvolk/quote.rsassa_sha256.sig')], message: [...fx('tpm/azure-vtpm-kinvolk/quote.tpms_attest.bin')], pcrs: Array.from({ length: 24 }, (_, i) => [...Buffer.from(pcrs[String(i)]!, 'hex')]) },
    report: [...fx('snp/azure-hcl-milan-kinvolk/hcl-report-snp.bin')],
    vcek: Buffer.from(fx('snp/azure-hcl-milan-kinvolk/certs.pem')).toString(),
  };
  const input: EvidenceInput = { tee: 'az-snp-vtpm', primary, reportData: new TextEncoder().encode('challenge'), gates: STRICT, trust: { tpmAkPins: new Set() }, at: AT };
  failsWith(() => verifyEvidence(input), 'snp.signature');
  failsWith(() => verifyEvidence({ ...input, primary: { ...primary, vcek: undefined } }), 'evidence.missing-input', /vcek/);
  // The same evidence in trustee v0.21's v1 shape (hex quote fields, base64url HCL and DER VCEK) gets the same verdict.
  const pem = primary.vcek.split('-----END CERTIFICATE-----')[0]!.replace(/-----BEGIN CERTIFICATE-----|\s/g, '');
  const hexOf = (a: number[]): string => Buffer.from(a).toString('hex');
  const v1 = {
    version: 1,
    tpm_quote: { signature: hexOf(primary.quote.signature), message: hexOf(primary.quote.message), pcrs: primary.quote.pcrs.map(hexOf) },
    hcl_report: Buffer.from(primary.report).toString('base64url'),
    vcek: Buffer.from(pem, 'base64').toString('base64url'),
  };
  failsWith(() => verifyEvidence({ ...input, primary: v1 }), 'snp.signature');
  failsWith(() => verifyEvidence({ ...input, primary: { ...v1, version: 3 } }), 'evidence.unsupported', /version 3/);
});
