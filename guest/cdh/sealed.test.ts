/** Sealed secrets: the format, ES256 verification, and each refusal with its check. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { parseSealedSecret, verifySealedSignature } from './sealed.js';
import { sealVaultSecret } from './sealed-testing.js';

const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = k.publicKey.export({ format: 'jwk' });

test('a signed vault secret parses and verifies', () => {
  const s = parseSealedSecret(sealVaultSecret('kbs:///default/app/db', k.privateKey, 'kbs:///default/keys/seal'));
  assert.deepEqual(s.header, { alg: 'ES256', kid: 'kbs:///default/keys/seal' });
  assert.equal(s.secret.name, 'kbs:///default/app/db');
  verifySealedSignature(s, jwk);
});

test('an unsigned ("fakejwsheader") secret parses; its signature never verifies', () => {
  const s = parseSealedSecret(sealVaultSecret('kbs:///a/b/c', undefined, ''));
  assert.equal(s.header, undefined);
  assert.throws(() => verifySealedSignature(s, jwk), (e: Error & { check?: string }) => e.check === 'sealed.signature');
});

function flipAt(s: string, i: number): string {
  return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

const good = sealVaultSecret('kbs:///default/app/db', k.privateKey, 'kbs:///default/keys/seal');
const bad: { name: string; sealed: string; key?: JsonWebKey; check: string }[] = [
  { name: 'a changed header', sealed: flipAt(good, 10), check: 'sealed.signature' },
  { name: 'a changed payload', sealed: sealVaultSecret('kbs:///default/app/other', k.privateKey, 'x').replace(/\.[^.]+$/, `.${good.split('.')[3]}`), check: 'sealed.signature' },
  { name: 'a changed signature', sealed: flipAt(good, good.length - 5), check: 'sealed.signature' },
  { name: 'the wrong key', sealed: good, key: other.publicKey.export({ format: 'jwk' }), check: 'sealed.signature' },
  { name: 'an RSA key', sealed: good, key: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), check: 'sealed.key' },
];
for (const c of bad) {
  test(`a sealed secret with ${c.name} is refused (${c.check})`, () => {
    assert.throws(() => verifySealedSignature(parseSealedSecret(c.sealed), c.key ?? jwk), (e: Error & { check?: string }) => e.check === c.check);
  });
}

const malformed: { name: string; sealed: string; check: string; code?: string }[] = [
  { name: 'no prefix', sealed: good.slice(7), check: 'sealed.format' },
  { name: 'two parts', sealed: 'sealed.a.b', check: 'sealed.format' },
  { name: 'a payload that is not JSON', sealed: `sealed.e30.${Buffer.from('nope').toString('base64url')}.AA`, check: 'sealed.format' },
  { name: 'another version', sealed: sealVaultSecret('kbs:///a/b/c', k.privateKey, 'x', { version: '0.2.0' }), check: 'sealed.version' },
  { name: 'an envelope secret', sealed: sealVaultSecret('x', k.privateKey, 'x', { type: 'envelope', provider: 'aliyun' }), check: 'sealed.type', code: 'COCOLET_UNIMPLEMENTED' },
  { name: 'another vault provider', sealed: sealVaultSecret('x', k.privateKey, 'x', { provider: 'aliyun' }), check: 'sealed.provider', code: 'COCOLET_UNIMPLEMENTED' },
  { name: 'a huge string', sealed: `sealed.${'A'.repeat(70_000)}`, check: 'sealed.format' },
];
for (const c of malformed) {
  test(`a malformed sealed secret is refused: ${c.name}`, () => {
    assert.throws(() => parseSealedSecret(c.sealed), (e: Error & { check?: string; code?: string }) => e.check === c.check && (!c.code || e.code === c.code));
  });
}
