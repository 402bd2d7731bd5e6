import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { Cert } from '../certs.js';
import { EcdsaPublicKey } from '../ecdsa.js';
import { EvidenceError } from '../errors.js';
import { SNP_REPORT_SIZE } from '../snp/report.js';
import type { SnpTrust } from '../snp/verify.js';
import { attestationFixtures, FIXTURES_ABSENT, flip, fx, fxText } from '../testing/fixtures.js';
import { checkRuntimeDataBinding, parseHclReport, parseRuntimeData } from './hcl.js';
import { verifyAzSnp } from './verify.js';
import { trustStoreFrom } from '../trust.js';

const have = attestationFixtures() !== null;
const D = 'snp/azure-hcl-milan-kinvolk';
const AT = new Date('2024-01-01T00:00:00Z');

function reason(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof EvidenceError) return e.reason;
    throw e;
  }
  return undefined;
}

test('Azure HCL report (kinvolk sample)', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const hcl = fx(`${D}/hcl-report-snp.bin`);
  await t.test('manifest outcome: the bundled VCEK belongs to another chip', () => {
    const r = verifyAzSnp({ hcl, leaf: fx(`${D}/certs.pem`) }, { at: AT });
    assert.equal(r.verified, false);
    assert.equal(r.reasonCode, 'snp.signature', r.reason);
  });
  await t.test('layout: SNP report, SHA-256 runtime data equal to var-data.json, HCLAkPub', () => {
    const h = parseHclReport(hcl);
    assert.equal(h.reportType, 'snp');
    assert.equal(h.hashType, 'sha256');
    assert.deepEqual(Buffer.from(h.hwReport), Buffer.from(fx(`${D}/report.bin`)));
    assert.equal(Buffer.from(h.varData).toString('utf8'), fxText(`${D}/var-data.json`));
    assert.equal(reason(() => checkRuntimeDataBinding(h, h.hwReport.subarray(0x50, 0x90))), undefined);
    assert.equal(parseRuntimeData(h).ak.asymmetricKeyType, 'rsa');
  });
  await t.test('runtime data altered: binding to report_data fails', () => {
    const h = parseHclReport(flip(hcl, 1236 + 10));
    assert.equal(reason(() => checkRuntimeDataBinding(h, h.hwReport.subarray(0x50, 0x90))), 'azure.report-data');
  });
  await t.test('its chain must end at a trusted ARK too (Genoa roots only)', () => {
    const r = verifyAzSnp({ hcl, leaf: fx(`${D}/certs.pem`) }, { at: AT, trustRoots: trustStoreFrom(fx('roots/amd/ask_ark_genoa.pem'), 'genoa') });
    assert.equal(r.reasonCode, 'cert.untrusted-root', r.reason);
  });
  await t.test('bad HCL signature', () => {
    assert.equal(verifyAzSnp({ hcl: flip(hcl, 0), leaf: fx(`${D}/certs.pem`) }, { at: AT }).reasonCode, 'azure.hcl');
  });
  await t.test('truncated HCL report', () => {
    assert.equal(verifyAzSnp({ hcl: hcl.subarray(0, 1300), leaf: fx(`${D}/certs.pem`) }, { at: AT }).reasonCode, 'evidence.truncated');
  });
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** A complete synthetic az-snp-vtpm evidence set: SNP report (self-made VCEK key) in an HCL report, vTPM quote by HCLAkPub. */
function syntheticAzure(nonce: Uint8Array) {
  const vcek = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const ak = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = ak.publicKey.export({ format: 'jwk' });
  const varData = Buffer.from(JSON.stringify({ keys: [{ kid: 'HCLAkPub', key_ops: ['sign'], kty: 'RSA', e: jwk.e, n: jwk.n }], 'vm-configuration': { 'secure-boot': true } }));
  const rep = Buffer.alloc(SNP_REPORT_SIZE);
  rep.writeUInt32LE(2, 0);
  rep.writeBigUInt64LE(0x30000n, 0x08);
  rep.writeUInt32LE(1, 0x34);
  createHash('sha256').update(varData).digest().copy(rep, 0x50);
  const sig = sign('sha384', rep.subarray(0, 0x2a0), { key: vcek.privateKey, dsaEncoding: 'ieee-p1363' });
  for (let i = 0; i < 48; i++) {
    rep[0x2a0 + i] = sig[47 - i]!;
    rep[0x2a0 + 72 + i] = sig[95 - i]!;
  }
  const header = Buffer.concat([Buffer.from('HCLA'), u32le(1), u32le(0), u32le(2), u32le(0), Buffer.alloc(12)]);
  const hcl = Buffer.concat([header, rep, u32le(20 + varData.length), u32le(1), u32le(2), u32le(1), u32le(varData.length), varData]);
  const quote = Buffer.concat([u32be(0xff544347), u16(0x8018), u16(0), u16(nonce.length), Buffer.from(nonce), Buffer.alloc(17), Buffer.alloc(8), u32be(0), u16(0)]);
  const signature = sign('sha256', quote, ak.privateKey);
  const trust: SnpTrust = { leaf: { role: 'VCEK', cn: 'SEV-VCEK' } as unknown as Cert, info: { kind: 'vcek' }, key: EcdsaPublicKey.fromKeyObject(vcek.publicKey, 'test'), chain: [], anchor: { subject: 'test', sha256: '00', source: 'test' } };
  return { hcl, quote, signature, trust };
}

test('az-snp-vtpm end to end (synthetic keys)', async (t) => {
  const nonce = new Uint8Array([9, 9, 9]);
  const s = syntheticAzure(nonce);
  await t.test('verifies: SNP report, runtime-data binding, vTPM quote by HCLAkPub over the nonce', () => {
    const r = verifyAzSnp({ hcl: s.hcl, trust: s.trust, vtpm: { quote: s.quote, signature: s.signature } }, { nonce });
    assert.equal(r.verified, true, r.reason);
    assert.equal((r.claims.tpm as { nonce: string }).nonce, '090909');
    assert.equal((r.claims.tpm as { ak_trust: string }).ak_trust, 'hcl-runtime-data');
    assert.deepEqual(r.claims.waivers, []);
  });
  await t.test('wrong nonce', () => {
    assert.equal(verifyAzSnp({ hcl: s.hcl, trust: s.trust, vtpm: { quote: s.quote, signature: s.signature } }, { nonce: new Uint8Array([1]) }).reasonCode, 'tpm.nonce');
  });
  await t.test('quote signed by another key than HCLAkPub', () => {
    const other = syntheticAzure(nonce);
    assert.equal(verifyAzSnp({ hcl: s.hcl, trust: s.trust, vtpm: { quote: s.quote, signature: other.signature } }, { nonce }).reasonCode, 'tpm.signature');
  });
  await t.test('no vTPM quote', () => {
    assert.equal(verifyAzSnp({ hcl: s.hcl, trust: s.trust }, { nonce }).reasonCode, 'azure.quote-missing');
  });
  await t.test('runtime data swapped after signing', () => {
    const hcl = new Uint8Array(s.hcl);
    hcl[1236 + 12] = hcl[1236 + 12]! ^ 1;
    assert.equal(verifyAzSnp({ hcl, trust: s.trust, vtpm: { quote: s.quote, signature: s.signature } }, { nonce }).reasonCode, 'azure.report-data');
  });
});
