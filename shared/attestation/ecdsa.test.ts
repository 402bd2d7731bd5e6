import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type JsonWebKey } from 'node:crypto';
import { EcdsaPublicKey } from './ecdsa.js';
import { EvidenceError } from './errors.js';

function rawPoint(jwk: JsonWebKey): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
}

test('a raw key imported twice verifies with both backends, and a wrong signature still fails', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const raw = rawPoint(publicKey.export({ format: 'jwk' }));
  const msg = new Uint8Array(600).fill(3);
  const sig = new Uint8Array(sign('sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
  for (let i = 0; i < 2; i++) {
    const k = EcdsaPublicKey.fromRaw('P-256', raw, 'test key');
    assert.equal(k.verify(msg, sig, 'node'), true);
    assert.equal(k.verify(msg, sig, 'noble'), true);
    const bad = sig.slice();
    bad[5]! ^= 1;
    assert.equal(k.verify(msg, bad, 'node'), false);
  }
});

test('a point off the curve is refused every time, whatever was imported before', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const raw = rawPoint(publicKey.export({ format: 'jwk' }));
  EcdsaPublicKey.fromRaw('P-256', raw, 'good key');
  const off = raw.slice();
  off[63]! ^= 1;
  for (let i = 0; i < 2; i++) {
    assert.throws(() => EcdsaPublicKey.fromRaw('P-256', off, 'attestation key'), (e: unknown) => e instanceof EvidenceError && /attestation key: not a point on P-256/.test(e.message));
  }
  // the same bytes read as a P-384 key are a different key (wrong length here), not a cache hit
  assert.throws(() => EcdsaPublicKey.fromRaw('P-384', raw, 'k'), EvidenceError);
});
