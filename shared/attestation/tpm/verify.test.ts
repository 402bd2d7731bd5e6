import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, constants, type KeyObject } from 'node:crypto';
import { attestationFixtures, FIXTURES_ABSENT, flip, fx, fxText, manifestSamples } from '../testing/fixtures.js';
import { TpmAlg } from './structures.js';
import { verifyTpm, type PcrValues, type TpmEvidence } from './verify.js';
import type { VerifyOptions } from '../types.js';
import { parseCertificate } from '../certs.js';
import { trustStoreFrom, trustStoreOf, type TrustStore } from '../trust.js';

const have = attestationFixtures() !== null;
const GCE = 'tpm/gce-vtpm-cos85-nonce9009-go-tpm-tools';
const GCE0 = 'tpm/gce-vtpm-cos85-no-nonce-go-tpm-tools';
const AZ = 'tpm/azure-vtpm-kinvolk';

function pcrs(rel: string): PcrValues {
  return JSON.parse(fxText(rel)) as PcrValues;
}

function gce(dir: string, bank: string, extra: Partial<TpmEvidence> = {}): TpmEvidence {
  return {
    quote: fx(`${dir}/quote_${bank}.tpms_attest.bin`),
    signature: fx(`${dir}/quote_${bank}.tpmt_signature.bin`),
    ak: fx(`${dir}/ak_pub.tpmt_public.bin`),
    pcrs: pcrs(`${dir}/pcrs_${bank}.json`),
    eventLog: fx(`${dir}/event_log.bin`),
    ...extra,
  };
}

function azure(extra: Partial<TpmEvidence> = {}): TpmEvidence {
  return { quote: fx(`${AZ}/quote.tpms_attest.bin`), signature: fx(`${AZ}/quote.rsassa_sha256.sig`), ak: fx(`${AZ}/ak_pub.pem`), pcrs: pcrs(`${AZ}/pcrs_sha256.json`), ...extra };
}

const NONCE = new Uint8Array([0x90, 0x09]);
/** SHA-256 of the AKs' DER SPKI, as `openssl pkey -pubin -outform DER | sha256sum` prints them. */
const AZ_PIN = '891d22ab4aed49770d8ee205c0bcf8404877c918e151deb57a7f3f03b27c94c4';
const GCE_PIN = '6a114d75ad6e7b75f7da33dead50f2e29bf509108646ced2e588bebc35f0d5b6';
const PINS = [AZ_PIN, GCE_PIN];
const gceRoots = (): TrustStore => trustStoreOf([parseCertificate(fx('roots/gce-tpm/tpm_ek_root_1.der'), 'root')], 'gce-root');
const gceRootAndIntermediate = (): TrustStore =>
  trustStoreOf([parseCertificate(fx('roots/gce-tpm/tpm_ek_root_1.der'), 'root'), parseCertificate(fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), 'intermediate')], 'gce-dir');
const BY_ROOTS = (): VerifyOptions => ({ nonce: NONCE, akPins: [], akRoots: gceRoots() });
const CHALLENGE = new TextEncoder().encode('challenge');

test('every TPM fixture sample has the outcome the manifest gives', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  for (const s of manifestSamples().filter((m) => m.kind === 'tpm2-quote')) {
    await t.test(s.id, () => {
      if (s.dir === AZ) {
        const r = verifyTpm(azure(), { nonce: CHALLENGE, akPins: [AZ_PIN] });
        assert.equal(r.verified, s.expected.verifies, r.reason);
        return;
      }
      const nonce = Buffer.from(String(s.expected.nonce_hex), 'hex');
      const chain = (s.expected.ak_cert_chain as string[]).map((p) => fx(p));
      for (const bank of ['sha256', 'sha384']) {
        const r = verifyTpm(gce(s.dir, bank, { ak: fx(`${s.dir}/ak_cert.der`), akChain: chain }), { nonce, at: new Date('2024-01-01T00:00:00Z'), akRoots: gceRoots() });
        assert.equal(r.verified, s.expected.verifies, `${bank}: ${r.reason}`);
        assert.equal(r.claims.ak_trust, 'certificate');
        assert.deepEqual((r.claims.event_log as { replayed_pcrs: number[] }).replayed_pcrs, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      }
    });
  }
});

interface Case {
  name: string;
  code: string | null;
  ev: () => TpmEvidence;
  opts?: VerifyOptions;
  check?: (claims: Record<string, unknown>) => void;
}

const cases: Case[] = [
  { name: 'AK as TPMT_PUBLIC', code: null, ev: () => gce(GCE, 'sha256'), opts: { nonce: NONCE } },
  { name: 'AK as certificate (DER)', code: null, ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`) }), opts: { nonce: NONCE } },
  { name: 'AK as PEM SPKI with a raw RSASSA signature (Azure)', code: null, ev: () => azure(), opts: { nonce: CHALLENGE } },
  { name: 'SHA-1 PCR bank refused by default', code: 'tpm.sha1-not-allowed', ev: () => gce(GCE0, 'sha1') },
  { name: 'SHA-1 PCR bank accepted when allowed', code: null, ev: () => gce(GCE0, 'sha1'), opts: { allowSha1: true } },
  { name: 'SHA-512 PCR values for a SHA-256 quote', code: 'tpm.pcr-selection', ev: () => gce(GCE0, 'sha256', { pcrs: { hash: 'sha512', pcrs: {} } }) },
  { name: 'no nonce expected, quote without nonce', code: null, ev: () => gce(GCE0, 'sha384') },
  { name: 'wrong nonce (upstream: 01020304)', code: 'tpm.nonce', ev: () => azure(), opts: { nonce: new Uint8Array([1, 2, 3, 4]) } },
  { name: 'nonce missing from the verifier', code: 'tpm.nonce', ev: () => gce(GCE, 'sha256') },
  { name: 'reversed signature (upstream)', code: 'tpm.signature', ev: () => azure({ signature: new Uint8Array(fx(`${AZ}/quote.rsassa_sha256.sig`)).reverse() }), opts: { nonce: CHALLENGE } },
  { name: 'flipped byte in TPMT_SIGNATURE', code: 'tpm.signature', ev: () => gce(GCE, 'sha256', { signature: flip(fx(`${GCE}/quote_sha256.tpmt_signature.bin`), 100) }), opts: { nonce: NONCE } },
  { name: 'flipped byte in the quoted pcrDigest', code: 'tpm.signature', ev: () => gce(GCE, 'sha256', { quote: flip(fx(`${GCE}/quote_sha256.tpms_attest.bin`), 114) }), opts: { nonce: NONCE } },
  { name: 'flipped byte in clockInfo', code: 'tpm.signature', ev: () => gce(GCE, 'sha256', { quote: flip(fx(`${GCE}/quote_sha256.tpms_attest.bin`), 50) }), opts: { nonce: NONCE } },
  { name: 'bad magic', code: 'tpm.magic', ev: () => gce(GCE, 'sha256', { quote: flip(fx(`${GCE}/quote_sha256.tpms_attest.bin`), 0) }), opts: { nonce: NONCE } },
  { name: 'truncated TPMS_ATTEST', code: 'evidence.truncated', ev: () => gce(GCE, 'sha256', { quote: fx(`${GCE}/quote_sha256.tpms_attest.bin`).subarray(0, 60) }), opts: { nonce: NONCE } },
  {
    name: 'PCR value that does not match the digest',
    code: 'tpm.pcr-digest',
    ev: () => {
      const p = pcrs(`${GCE}/pcrs_sha256.json`);
      p.pcrs['5'] = '00'.repeat(32);
      return gce(GCE, 'sha256', { pcrs: p, eventLog: undefined });
    },
    opts: { nonce: NONCE },
  },
  {
    name: 'tampered event log digest',
    code: 'tpm.event-log',
    ev: () => {
      const log = new Uint8Array(fx(`${GCE}/event_log.bin`));
      const headerSize = 32 + new DataView(log.buffer).getUint32(28, true);
      // first real event: pcrIndex, type, count, (SHA-1, 20 bytes), (SHA-256, 32 bytes): flip the SHA-256 digest
      return gce(GCE, 'sha256', { eventLog: flip(log, headerSize + 12 + 22 + 2 + 3) });
    },
    opts: { nonce: NONCE, allowSha1: true },
  },
  { name: 'AK certificate chain verifies', code: null, ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), fx('roots/gce-tpm/tpm_ek_root_1.der')] }), opts: BY_ROOTS() },
  { name: 'AK certificate chain without the intermediate', code: 'cert.issuer', ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_root_1.der')] }), opts: BY_ROOTS() },
  { name: 'AK certificate expired (at 2052)', code: 'cert.expired', ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), fx('roots/gce-tpm/tpm_ek_root_1.der')] }), opts: { ...BY_ROOTS(), at: new Date('2052-01-01T00:00:00Z') } },
  { name: 'AK certificate not yet valid (at 2020)', code: 'cert.not-yet-valid', ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), fx('roots/gce-tpm/tpm_ek_root_1.der')] }), opts: { ...BY_ROOTS(), at: new Date('2020-01-01T00:00:00Z') } },
  { name: 'flipped byte in the AK certificate signature', code: 'cert.signature', ev: () => { const c = fx(`${GCE}/ak_cert.der`); return gce(GCE, 'sha256', { ak: flip(c, c.length - 1), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), fx('roots/gce-tpm/tpm_ek_root_1.der')] }); }, opts: BY_ROOTS() },
  { name: 'flipped byte in the intermediate signature', code: 'cert.signature', ev: () => { const c = fx('roots/gce-tpm/tpm_ek_intermediate_2.der'); return gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [flip(c, c.length - 1), fx('roots/gce-tpm/tpm_ek_root_1.der')] }); }, opts: BY_ROOTS() },
  { name: 'flipped byte in the root signature', code: 'cert.signature', ev: () => { const c = fx('roots/gce-tpm/tpm_ek_root_1.der'); return gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), flip(c, c.length - 1)] }); }, opts: BY_ROOTS() },
  { name: 'unrelated AK', code: 'tpm.signature', ev: () => gce(GCE, 'sha256', { ak: fx(`${AZ}/ak_pub.pem`) }), opts: { nonce: NONCE } },
  // --- AK trust ---
  { name: 'AK pinned (PEM SPKI)', code: null, ev: () => azure(), opts: { nonce: CHALLENGE, akPins: [AZ_PIN] }, check: (c) => { assert.equal(c.ak_trust, 'pinned'); assert.equal(c.ak_spki_sha256, AZ_PIN); } },
  { name: 'AK pinned (TPMT_PUBLIC hashes to the same SPKI pin as its certificate)', code: null, ev: () => gce(GCE, 'sha256'), opts: { nonce: NONCE, akPins: [`sha256:${GCE_PIN.toUpperCase()}`] }, check: (c) => assert.equal(c.ak_trust, 'pinned') },
  { name: 'AK pin wrong', code: 'tpm.ak-untrusted', ev: () => azure(), opts: { nonce: CHALLENGE, akPins: [GCE_PIN] } },
  { name: 'no AK pin or roots: refused', code: 'tpm.ak-untrusted', ev: () => azure(), opts: { nonce: CHALLENGE, akPins: [] } },
  {
    name: 'no AK pin or roots, allow-untrusted-ak: unchecked, waiver listed',
    code: null,
    ev: () => azure(),
    opts: { nonce: CHALLENGE, akPins: [], allowUntrustedAk: true },
    check: (c) => { assert.equal(c.ak_trust, 'unchecked'); assert.deepEqual(c.waivers, ['allow-untrusted-ak']); },
  },
  { name: 'AK chain in the evidence but no AK roots configured', code: 'tpm.ak-untrusted', ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), fx('roots/gce-tpm/tpm_ek_root_1.der')] }), opts: { nonce: NONCE, akPins: [] } },
  { name: 'AK roots: AK certificate alone, intermediate from the roots directory', code: null, ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`) }), opts: { nonce: NONCE, akPins: [], akRoots: gceRootAndIntermediate() }, check: (c) => { assert.equal(c.ak_trust, 'certificate'); assert.equal((c.ak_trust_anchor as { source: string }).source, 'gce-dir'); } },
  { name: 'AK roots: chain ends at another root', code: 'cert.untrusted-root', ev: () => gce(GCE, 'sha256', { ak: fx(`${GCE}/ak_cert.der`), akChain: [fx('roots/gce-tpm/tpm_ek_intermediate_2.der'), fx('roots/gce-tpm/tpm_ek_root_1.der')] }), opts: { nonce: NONCE, akPins: [], akRoots: trustStoreFrom(fx('roots/intel/intel_sgx_root_ca.pem'), 'intel') } },
  { name: 'AK roots configured but the AK is a bare key', code: 'tpm.ak-untrusted', ev: () => gce(GCE, 'sha256'), opts: BY_ROOTS() },
];

test('TPM verification checks', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = verifyTpm(c.ev(), { akPins: PINS, ...c.opts });
      if (c.code === null) assert.equal(r.verified, true, r.reason);
      else assert.equal(r.reasonCode, c.code, r.reason);
      c.check?.(r.claims);
    });
  }
});

// --- synthetic quotes: ECDSA and RSAPSS keys given as TPMT_PUBLIC, SHA-1 signatures ---

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function tpm2b(b: Uint8Array): Buffer {
  return Buffer.concat([u16(b.length), Buffer.from(b)]);
}

function attest(nonce: Uint8Array, pcrValues: Buffer[], digestHash: string): Buffer {
  const digest = createHash(digestHash).update(Buffer.concat(pcrValues)).digest();
  return Buffer.concat([
    u32(0xff544347), u16(0x8018), tpm2b(Buffer.from('signer')), tpm2b(nonce),
    Buffer.alloc(8), u32(1), u32(2), Buffer.from([1]), Buffer.alloc(8),
    u32(1), u16(TpmAlg.SHA256), Buffer.from([3, 0x03, 0, 0]), tpm2b(digest),
  ]);
}

function eccPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([
    u16(TpmAlg.ECC), u16(TpmAlg.SHA256), u32(0x00050072), tpm2b(new Uint8Array(0)),
    u16(TpmAlg.NULL), u16(TpmAlg.ECDSA), u16(TpmAlg.SHA256), u16(0x0003), u16(TpmAlg.NULL),
    tpm2b(Buffer.from(jwk.x!, 'base64url')), tpm2b(Buffer.from(jwk.y!, 'base64url')),
  ]);
}

function rsaPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([
    u16(TpmAlg.RSA), u16(TpmAlg.SHA256), u32(0x00050072), tpm2b(new Uint8Array(0)),
    u16(TpmAlg.NULL), u16(TpmAlg.RSAPSS), u16(TpmAlg.SHA256), u16(2048), u32(0),
    tpm2b(Buffer.from(jwk.n!, 'base64url')),
  ]);
}

test('TPM synthetic quotes (ECDSA / RSAPSS keys as TPMT_PUBLIC)', async (t) => {
  const nonce = new Uint8Array([1, 2, 3]);
  const pcr = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
  const values: PcrValues = { hash: 'sha256', pcrs: { '0': pcr[0]!.toString('hex'), '1': pcr[1]!.toString('hex') } };
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const q = attest(nonce, pcr, 'sha256');
  const ecdsaSig = (hash: number, h: string): Buffer => {
    const s = sign(h, q, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    return Buffer.concat([u16(TpmAlg.ECDSA), u16(hash), tpm2b(s.subarray(0, 32)), tpm2b(s.subarray(32))]);
  };
  const pss = sign('sha256', q, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  const rsapssSig = Buffer.concat([u16(TpmAlg.RSAPSS), u16(TpmAlg.SHA256), tpm2b(pss)]);
  const rows: { name: string; code: string | null; ev: TpmEvidence; opts?: VerifyOptions }[] = [
    { name: 'ECDSA P-256 SHA-256', code: null, ev: { quote: q, signature: ecdsaSig(TpmAlg.SHA256, 'sha256'), ak: eccPublic(ec.publicKey), pcrs: values } },
    { name: 'ECDSA with SHA-1 refused', code: 'tpm.sha1-not-allowed', ev: { quote: q, signature: ecdsaSig(TpmAlg.SHA1, 'sha1'), ak: eccPublic(ec.publicKey) } },
    { name: 'ECDSA with SHA-1 allowed', code: null, ev: { quote: q, signature: ecdsaSig(TpmAlg.SHA1, 'sha1'), ak: eccPublic(ec.publicKey) }, opts: { allowSha1: true } },
    { name: 'RSAPSS SHA-256', code: null, ev: { quote: q, signature: rsapssSig, ak: rsaPublic(rsa.publicKey), pcrs: values } },
    { name: 'RSAPSS signature with an ECC AK', code: 'tpm.signature-scheme', ev: { quote: q, signature: rsapssSig, ak: eccPublic(ec.publicKey) } },
    { name: 'AK as SPKI DER', code: null, ev: { quote: q, signature: ecdsaSig(TpmAlg.SHA256, 'sha256'), ak: new Uint8Array(ec.publicKey.export({ format: 'der', type: 'spki' })) } },
  ];
  for (const r of rows) {
    await t.test(r.name, () => {
      const res = verifyTpm(r.ev, { nonce, allowUntrustedAk: true, ...r.opts });
      if (r.code === null) assert.equal(res.verified, true, res.reason);
      else assert.equal(res.reasonCode, r.code, res.reason);
    });
  }
});
