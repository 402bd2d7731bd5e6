/**
 * The guest's SNP evidence as the broker receives it: the guest attester's serde-JSON encoding of
 * real SEV-SNP reports (guest/attester/tsm/snp-json.ts) decodes in shared/kbs back to the exact
 * bytes, and the broker verifies the structured form as it verifies the raw one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snpReportJson } from '../../guest/attester/tsm/snp-json.js';
import { snpReportFromJson } from '../../shared/kbs/snp-json.js';
import { parseSnpReport } from '../../shared/attestation/index.js';
import { attestationFixtures, FIXTURES_ABSENT, fx } from '../../shared/attestation/testing/fixtures.js';
import { verifyEvidence } from '../../kbs/attest/evidence.js';

const skip = attestationFixtures() === null && FIXTURES_ABSENT;

for (const dir of ['milan-v2-virtee', 'milan-v2-go-sev-guest', 'azure-hcl-milan-kinvolk']) {
  test(`SNP report ${dir}: guest JSON encoding -> broker decoding gives the same bytes`, { skip }, () => {
    const raw = fx(`snp/${dir}/report.bin`);
    assert.deepEqual(Buffer.from(snpReportFromJson(JSON.parse(JSON.stringify(snpReportJson(raw))))), Buffer.from(raw.subarray(0, 0x4a0)));
  });
}

test('the broker verifies the structured SNP evidence the guest sends', { skip }, () => {
  const raw = fx('snp/milan-v2-virtee/report.bin');
  const v = verifyEvidence({
    tee: 'snp',
    primary: JSON.parse(JSON.stringify({ attestation_report: snpReportJson(raw), cert_chain: [{ cert_type: 'VCEK', data: [...fx('snp/milan-v2-virtee/vcek.der')] }] })),
    reportData: parseSnpReport(raw).reportData,
    gates: { allowDebug: false, allowDevelopmentTee: false, allowSample: false },
    trust: { tpmAkPins: new Set() },
    at: new Date('2024-01-01T00:00:00Z'),
  });
  assert.equal(v.facts.measurement, '7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f');
});
