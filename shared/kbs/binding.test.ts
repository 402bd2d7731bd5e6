/**
 * The binding recomputed from trustee's captured exchanges (shared/reference/trustee/rcar-wire.txt,
 * sections A, C and D): the report_data kbs-client sent equals our digest of the nonce, the TEE
 * key and the (empty) additional evidence. The captured values are copied here as test data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindingDigest, bindingDocument, bindingHashOf, padReportData } from './binding.js';
import { canonicalJson } from './canonical-json.js';
import { parseAttestation, parseRequest, KbsProtocolError, parseResourcePath } from './protocol.js';

const CAPTURED = [
  {
    name: 'section C: EC P-256 key',
    body: '{"init-data":null,"runtime-data":{"nonce":"ntaHxTVK9bwLZTJBU1FzMuaTR5eEJ5pCdDlKEyceJPk=","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"rxd493F8_X8H5V_3qDUdF469wEcq0cBU18e-egpBnto","y":"WHtqluG0sMpbRLxYva8PN9IFKZmtnhPhbt2hvdjh3oU"}},"tee-evidence":{"primary_evidence":{"report_data":"O0O7VxG+nzV6QwOPSqJBUPhASdp6rTEF3QWOJugJ11kVv5VNIz31UCsG1RCufsmA","svn":"1"},"additional_evidence":""}}',
    jcs: '{"additional-evidence":"","nonce":"ntaHxTVK9bwLZTJBU1FzMuaTR5eEJ5pCdDlKEyceJPk=","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","x":"rxd493F8_X8H5V_3qDUdF469wEcq0cBU18e-egpBnto","y":"WHtqluG0sMpbRLxYva8PN9IFKZmtnhPhbt2hvdjh3oU"}}',
  },
  {
    name: 'section A: EC P-256 key (first try)',
    body: '{"init-data":null,"runtime-data":{"nonce":"fpRr1xcqpV0lj+dwTtKi/hDTCMpZsmfx1PJa6tuuutw=","tee-pubkey":{"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x":"2qxkLI3B3DZOmQ6vMeWf2PI5YdYa9dyWrQk00UXHbN0","y":"giWvlJVUSSi3GDK3Q8m-Sc-b53V8K4As8T6jfaJ1i-4"}},"tee-evidence":{"primary_evidence":{"report_data":"X4nt6WBHaWSEbfM7yOjMdVZW1idqtI+rqvR+TYAhWFU7wbPKbILcUq3GSjGZLRFc","svn":"1"},"additional_evidence":""}}',
  },
  {
    name: 'section D: RSA-2048 key (raw tcpdump bytes)',
    body: '{"init-data":null,"runtime-data":{"nonce":"fLDeb20xn2n+CKjIUOFs/EbKzE7mnanDpxtkHZO1u/k=","tee-pubkey":{"kty":"RSA","alg":"RSA-OAEP-256","n":"1PgOvBhW9drMjudFDXvyAmSA8TlobgoQnC_csLMXyXuSyfxuRkR2RSStgTauUKSr7jzcf62o5DRS7_-CfXW14vtzA6hQ8q6Wlq9EBX6EKjr7W1kebCoeXRDsa1hKaUnnaqS1IE8rmkG0vezvoc6YK-6rkCnC3-aObMtMM47Rt2uKuC4_Ara7NkNn5Mu5D9noKcFdWP0oHOSUZI-PC_pazmnAfrpPD8ssHBXPvUJ09uO9_509OqsiQ7VPt9d2RNL3kMjaivvju-w1HgBAEGTWm_u_zvr-EvVk5vps7lCZGc50nRoimsqYDckgIt5hGFxatoiNMUoTRkNMCNZnfb3Luw","e":"AQAB"}},"tee-evidence":{"primary_evidence":{"report_data":"ZvPbXOZFxqJ9xUT314fVyW0b+Va1/m+plZlalqtKrOG56d1axvOEFLU+odPm+tBn","svn":"1"},"additional_evidence":""}}',
  },
];

for (const c of CAPTURED) {
  test(`binding recomputed from trustee's capture, ${c.name}`, () => {
    const att = parseAttestation(JSON.parse(c.body));
    const rd = att['runtime-data'];
    if (c.jcs) assert.equal(bindingDocument(rd.nonce, rd['tee-pubkey'], att['tee-evidence'].additional_evidence), c.jcs);
    const digest = bindingDigest(rd.nonce, rd['tee-pubkey'], att['tee-evidence'].additional_evidence, bindingHashOf(''));
    assert.equal(digest.length, 48);
    const sent = (att['tee-evidence'].primary_evidence as { report_data: string }).report_data;
    assert.equal(Buffer.from(digest).toString('base64'), sent);
  });
}

test('a different nonce, key or additional evidence changes the binding', () => {
  const att = parseAttestation(JSON.parse(CAPTURED[0]!.body));
  const rd = att['runtime-data'];
  const base = Buffer.from(bindingDigest(rd.nonce, rd['tee-pubkey'], '')).toString('hex');
  assert.notEqual(Buffer.from(bindingDigest(rd.nonce.replace('n', 'm'), rd['tee-pubkey'], '')).toString('hex'), base);
  assert.notEqual(Buffer.from(bindingDigest(rd.nonce, { ...rd['tee-pubkey'], x: 'AAAA' } as never, '')).toString('hex'), base);
  assert.notEqual(Buffer.from(bindingDigest(rd.nonce, rd['tee-pubkey'], '{}')).toString('hex'), base);
});

test('selected-hash-algorithm picks the hash; anything else is SHA-384', () => {
  assert.equal(bindingHashOf({ 'selected-hash-algorithm': 'sha512' }), 'sha512');
  assert.equal(bindingHashOf(''), 'sha384');
  assert.equal(bindingHashOf({ 'selected-hash-algorithm': 'md5' }), 'sha384');
});

test('report data is zero-padded to the TEE field', () => {
  assert.deepEqual([...padReportData(new Uint8Array([1, 2]), 4)], [1, 2, 0, 0]);
  assert.equal(padReportData(new Uint8Array(70), 64).length, 64);
});

test('JCS sorts by UTF-16 code units and writes numbers as ECMAScript does', () => {
  assert.equal(canonicalJson({ b: [1e21, 0.1, -0], a: 'é\n', '\u20ac': 1, '\ud83d\ude00': 2, 'a\u0000': null }), '{"a":"é\\n","a\\u0000":null,"b":[1e+21,0.1,0],"\u20ac":1,"\ud83d\ude00":2}');
  assert.throws(() => canonicalJson({ n: Number.NaN }), /\$\.n/);
});

interface BadCase {
  name: string;
  body: unknown;
  detail: RegExp;
}
const BAD_ATTESTATIONS: BadCase[] = [
  { name: 'not an object', body: [], detail: /Attestation must be a JSON object/ },
  { name: 'no runtime-data', body: { 'tee-evidence': { primary_evidence: {} } }, detail: /runtime-data must be a JSON object/ },
  { name: 'RSA1_5 key', body: { 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'RSA', alg: 'RSA1_5', n: 'AQ', e: 'AQAB' } }, 'tee-evidence': { primary_evidence: {} } }, detail: /RSA1_5/ },
  { name: 'P-384 key', body: { 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'EC', crv: 'P-384', alg: 'ECDH-ES+A256KW', x: 'AQ', y: 'AQ' } }, 'tee-evidence': { primary_evidence: {} } }, detail: /P-384/ },
  { name: 'EC key without alg', body: { 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'EC', crv: 'P-256', x: 'AQ', y: 'AQ' } }, 'tee-evidence': { primary_evidence: {} } }, detail: /tee-pubkey\.alg must be a string/ },
  { name: 'no primary evidence', body: { 'runtime-data': { nonce: 'n', 'tee-pubkey': { kty: 'RSA', alg: 'RSA-OAEP-256', n: 'AQ', e: 'AQAB' } }, 'tee-evidence': {} }, detail: /primary_evidence is missing/ },
];
for (const c of BAD_ATTESTATIONS) {
  test(`a malformed Attestation is refused naming the field: ${c.name}`, () => {
    assert.throws(() => parseAttestation(c.body), (e: unknown) => e instanceof KbsProtocolError && c.detail.test(e.detail));
  });
}

test('Request: the captured one parses; an unknown TEE is refused', () => {
  const r = parseRequest(JSON.parse('{"version":"0.4.0","tee":"sample","extra-params":{"supported-hash-algorithms":["sha256","sha384","sha512","sm3"]}}'));
  assert.equal(r.tee, 'sample');
  assert.throws(() => parseRequest({ version: '0.4.0', tee: 'foo' }), /not a known TEE/);
});

test('resource paths are three safe segments', () => {
  assert.deepEqual(parseResourcePath('default/test/secret1'), { repository: 'default', type: 'test', tag: 'secret1' });
  for (const bad of ['a/b', 'a/b/c/d', 'a/../c', 'a/b/', 'a/b/c%2f', 'a/ b/c']) assert.equal(parseResourcePath(bad), undefined, bad);
});
