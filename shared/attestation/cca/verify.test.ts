import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { Encoder, Tag } from 'cbor-x';
import { CCA_SAMPLES_ABSENT, ccaSamplesDir, flip } from '../testing/fixtures.js';
import { sigStructure } from './cose.js';
import { verifyCca } from './verify.js';

const D = ccaSamplesDir();
const token = D ? new Uint8Array(readFileSync(join(D, 'cca-example-token.cbor'))) : new Uint8Array(0);
const cpak = D ? new Uint8Array(readFileSync(join(D, 'cpak-pub.json'))) : new Uint8Array(0);

function indexOf(hay: Uint8Array, hex: string): number {
  return Buffer.from(hay).indexOf(Buffer.from(hex, 'hex'));
}

const enc = new Encoder({ useRecords: false, mapsAsObjects: false });

function coseSign1(payload: Map<number, unknown>, key: KeyObject): Uint8Array {
  const protectedRaw = new Uint8Array(enc.encode(new Map([[1, -35]])));
  const body = new Uint8Array(enc.encode(payload));
  const sig = sign('sha384', sigStructure({ protectedRaw, alg: -35, payload: body, signature: new Uint8Array(0) }), { key, dsaEncoding: 'ieee-p1363' });
  return new Uint8Array(enc.encode(new Tag([protectedRaw, new Map(), body, new Uint8Array(sig)], 18)));
}

interface SynthOpts {
  lifecycle?: number;
  badBinding?: boolean;
  coseKeyRak?: boolean;
}

function synthetic(o: SynthOpts = {}): { token: Uint8Array; cpak: KeyObject } {
  const rak = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const platformKey = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const jwk = rak.publicKey.export({ format: 'jwk' });
  const x = Buffer.from(jwk.x!, 'base64url');
  const y = Buffer.from(jwk.y!, 'base64url');
  const rakBytes = o.coseKeyRak
    ? new Uint8Array(enc.encode(new Map<number, unknown>([[1, 2], [-1, 2], [-2, new Uint8Array(x)], [-3, new Uint8Array(y)]])))
    : new Uint8Array(Buffer.concat([Buffer.from([4]), x, y]));
  const realm = new Map<number, unknown>([
    [10, new Uint8Array(64).fill(0xaa)],
    [44235, new Uint8Array(64)],
    [44236, 'sha-256'],
    [44237, rakBytes],
    [44238, new Uint8Array(32).fill(1)],
    [44239, [new Uint8Array(32), new Uint8Array(32), new Uint8Array(32), new Uint8Array(32)]],
    [44240, 'sha-256'],
  ]);
  const binding = createHash('sha256').update(rakBytes).digest();
  if (o.badBinding) binding[0] = binding[0]! ^ 1;
  const platform = new Map<number, unknown>([
    [265, 'tag:arm.com,2023:cca_platform#1.0.0'],
    [10, new Uint8Array(binding)],
    [2396, new Uint8Array(32).fill(2)],
    [256, new Uint8Array(33).fill(1)],
    [2395, o.lifecycle ?? 0x3000],
    [2399, [new Map<number, unknown>([[1, 'BL'], [2, new Uint8Array(32)], [5, new Uint8Array(32)]])]],
    [2402, 'sha-256'],
  ]);
  const coll = new Tag(new Map<number, unknown>([[44234, coseSign1(platform, platformKey.privateKey)], [44241, coseSign1(realm, rak.privateKey)]]), 399);
  return { token: new Uint8Array(enc.encode(coll)), cpak: platformKey.publicKey };
}

interface Case {
  name: string;
  code: string | null;
  run: () => ReturnType<typeof verifyCca>;
}

const platformStart = indexOf(token, 'd28444a1013822a059057a');
const platformLen = 1511;

const sampleCases: Case[] = [
  {
    name: 'trustee example token verifies with its CPAK (JWK)',
    code: null,
    run: () => verifyCca({ token, platformKey: cpak }),
  },
  {
    name: 'expected challenge matches',
    code: null,
    run: () => verifyCca({ token, platformKey: cpak }, { reportData: Buffer.from('57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96', 'hex') }),
  },
  { name: 'wrong expected challenge', code: 'cca.challenge', run: () => verifyCca({ token, platformKey: cpak }, { reportData: new Uint8Array([1, 2, 3]) }) },
  { name: 'flipped byte in the RIM (realm payload)', code: 'cca.realm-signature', run: () => verifyCca({ token: flip(token, indexOf(token, 'ae87fbf7f105e71a')), platformKey: cpak }) },
  { name: 'flipped byte in the realm signature', code: 'cca.realm-signature', run: () => verifyCca({ token: flip(token, token.length - 1), platformKey: cpak }) },
  { name: 'flipped byte in the implementation id (platform payload)', code: 'cca.platform-signature', run: () => verifyCca({ token: flip(token, indexOf(token, '7f454c4602010100')), platformKey: cpak }) },
  { name: 'flipped byte in the platform signature', code: 'cca.platform-signature', run: () => verifyCca({ token: flip(token, platformStart + platformLen - 1), platformKey: cpak }) },
  { name: 'another P-384 platform key', code: 'cca.platform-signature', run: () => verifyCca({ token, platformKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey }) },
  { name: 'a P-256 platform key for an ES384 token', code: 'cca.algorithm', run: () => verifyCca({ token, platformKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey }) },
  { name: 'truncated token', code: 'cca.token', run: () => verifyCca({ token: token.subarray(0, 800), platformKey: cpak }) },
];

const cases: Case[] = [
  { name: 'not a tag-399 collection', code: 'cca.token', run: () => verifyCca({ token: new Uint8Array(enc.encode(new Tag(new Map(), 400))), platformKey: cpak }) },
  { name: 'synthetic token verifies', code: null, run: () => { const s = synthetic(); return verifyCca({ token: s.token, platformKey: s.cpak }); } },
  { name: 'synthetic token with a COSE_Key realm public key', code: null, run: () => { const s = synthetic({ coseKeyRak: true }); return verifyCca({ token: s.token, platformKey: s.cpak }); } },
  { name: 'platform challenge is not the hash of the RAK', code: 'cca.realm-key-binding', run: () => { const s = synthetic({ badBinding: true }); return verifyCca({ token: s.token, platformKey: s.cpak }); } },
  { name: 'debug lifecycle refused', code: 'cca.lifecycle', run: () => { const s = synthetic({ lifecycle: 0x5000 }); return verifyCca({ token: s.token, platformKey: s.cpak }); } },
  { name: 'debug lifecycle allowed with allowDebug', code: null, run: () => { const s = synthetic({ lifecycle: 0x5000 }); return verifyCca({ token: s.token, platformKey: s.cpak }, { allowDebug: true }); } },
];

test('Arm CCA: the published example token', { skip: D === null && CCA_SAMPLES_ABSENT }, async (t) => {
  for (const c of sampleCases) {
    await t.test(c.name, () => {
      const r = c.run();
      if (c.code === null) assert.equal(r.verified, true, r.reason);
      else assert.equal(r.reasonCode, c.code, r.reason);
    });
  }
});

test('Arm CCA token verification', async (t) => {
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = c.run();
      if (c.code === null) assert.equal(r.verified, true, r.reason);
      else assert.equal(r.reasonCode, c.code, r.reason);
    });
  }
});

test('Arm CCA claims of the trustee example token', { skip: D === null && CCA_SAMPLES_ABSENT }, () => {
  const r = verifyCca({ token, platformKey: cpak });
  const realm = r.claims.realm as Record<string, unknown>;
  const platform = r.claims.platform as Record<string, unknown>;
  assert.equal((realm.rems as string[]).length, 4);
  assert.equal(realm.personalization_value, '00'.repeat(64));
  assert.match(String(realm.rim), /^ae87fbf7f105e71a/);
  assert.equal(platform.profile, 'http://arm.com/CCA-SSD/1.0.0');
  assert.deepEqual(platform.lifecycle, { raw: '0x3003', state: 'secured' });
  assert.equal((platform.sw_components as unknown[]).length, 13);
});
