/**
 * The guest's JWE decryption (node:crypto only) against JWEs made by jose, as trustee's and
 * cocolet's brokers make them; and against trustee's captured RSA-OAEP-256 exchange shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { FlattenedEncrypt } from 'jose';
import { decryptJwe, type FlattenedJwe } from './jwe.js';

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

async function encrypt(plaintext: string, pub: KeyObject, alg: string, extra: Record<string, unknown> = {}): Promise<FlattenedJwe> {
  return (await new FlattenedEncrypt(Buffer.from(plaintext)).setProtectedHeader({ alg, enc: 'A256GCM', ...extra }).encrypt(pub)) as FlattenedJwe;
}

for (const [name, pair, alg] of [
  ['EC P-256, ECDH-ES+A256KW', ec, 'ECDH-ES+A256KW'],
  ['EC P-521, ECDH-ES+A256KW', ec521, 'ECDH-ES+A256KW'],
  ['RSA-2048, RSA-OAEP-256', rsa, 'RSA-OAEP-256'],
] as const) {
  test(`decrypts jose's JWE: ${name}`, async () => {
    const jwe = await encrypt('s3cret-value', pair.publicKey, alg);
    assert.equal(decryptJwe(jwe, pair.privateKey).toString(), 's3cret-value');
  });
}

test('ECDH-ES+A256KW with apu/apv in the header', async () => {
  const jwe = (await new FlattenedEncrypt(Buffer.from('x')).setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' }).setKeyManagementParameters({ apu: Buffer.from('alice'), apv: Buffer.from('bob') }).encrypt(ec.publicKey)) as FlattenedJwe;
  assert.equal(decryptJwe(jwe, ec.privateKey).toString(), 'x');
});

const flip = (s: string, i = 5) => {
  const b = Buffer.from(s, 'base64url');
  b[i % b.length]! ^= 1;
  return b.toString('base64url');
};

const tampered: { name: string; key?: KeyObject; change: (j: FlattenedJwe) => FlattenedJwe; check: string }[] = [
  { name: 'ciphertext', change: (j) => ({ ...j, ciphertext: flip(j.ciphertext, 0) }), check: 'jwe.integrity' },
  { name: 'tag', change: (j) => ({ ...j, tag: flip(j.tag) }), check: 'jwe.integrity' },
  { name: 'iv', change: (j) => ({ ...j, iv: flip(j.iv) }), check: 'jwe.integrity' },
  { name: 'encrypted key', change: (j) => ({ ...j, encrypted_key: flip(j.encrypted_key) }), check: 'jwe.key-unwrap' },
  { name: 'protected header (re-encoded, same meaning)', change: (j) => ({ ...j, protected: Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(j.protected, 'base64url').toString()), kid: 'x' })).toString('base64url') }), check: 'jwe.integrity' },
  { name: 'enc other than A256GCM', change: (j) => ({ ...j, protected: Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(j.protected, 'base64url').toString()), enc: 'A128GCM' })).toString('base64url') }), check: 'jwe.header' },
  { name: 'alg for another key type', change: (j) => ({ ...j, protected: Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(j.protected, 'base64url').toString()), alg: 'RSA-OAEP-256' })).toString('base64url') }), check: 'jwe.header' },
  { name: 'an aad member', change: (j) => ({ ...j, aad: 'AAAA' }), check: 'jwe.format' },
  { name: 'another TEE key', key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, change: (j) => j, check: 'jwe.key-unwrap' },
  { name: 'a missing field', change: (j) => ({ ...j, iv: undefined as unknown as string }), check: 'jwe.format' },
];
for (const c of tampered) {
  test(`a JWE with a changed ${c.name} gives no plaintext (${c.check})`, async () => {
    const jwe = c.change(await encrypt('s3cret-value', ec.publicKey, 'ECDH-ES+A256KW'));
    assert.throws(() => decryptJwe(jwe, c.key ?? ec.privateKey), (e: Error & { check?: string; code?: string }) => e.check === c.check && e.code === 'COCOLET_DATA_LOSS' && !e.message.includes('s3cret'));
  });
}
