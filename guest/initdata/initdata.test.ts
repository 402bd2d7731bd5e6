import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { adjustDigest, decodeInitdataBlock, parseInitdata } from './initdata.js';
import { extendedValue, pcrExtendCommand, pcrReadCommand } from './tpm.js';
import { ErrorCode } from '../../shared/errors/index.js';

const toml = Buffer.from('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"policy.json" = \'\'\'{"version":1}\'\'\'\n');

function block(payload: Buffer): Buffer {
  const gz = gzipSync(payload);
  const b = Buffer.alloc(Math.ceil((16 + gz.length) / 512) * 512);
  b.write('initdata', 0, 'ascii');
  b.writeBigUInt64LE(BigInt(gz.length), 8);
  gz.copy(b, 16);
  return b;
}

test('parses init-data and digests the exact TOML bytes', () => {
  const id = parseInitdata(toml);
  assert.equal(id.algorithm, 'sha384');
  assert.equal(id.digest.toString('hex'), createHash('sha384').update(toml).digest('hex'));
  assert.equal(id.data['policy.json'], '{"version":1}');
});

test('block layout round-trips; no magic means not init-data', () => {
  assert.deepEqual(decodeInitdataBlock(block(toml)), toml);
  assert.equal(decodeInitdataBlock(Buffer.alloc(512)), undefined);
});

const bad: { name: string; text: string }[] = [
  { name: 'wrong version', text: 'version = "0.2.0"\nalgorithm = "sha256"\n' },
  { name: 'unknown algorithm', text: 'version = "0.1.0"\nalgorithm = "md5"\n' },
  { name: 'non-string data', text: 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\nx = 1\n' },
  { name: 'not TOML', text: 'version = = 1' },
];
for (const tc of bad) {
  test(`refuses init-data: ${tc.name}`, () => {
    assert.throws(() => parseInitdata(Buffer.from(tc.text)), (e: { code?: string }) => e.code === ErrorCode.ConfigInvalid);
  });
}

test('a block whose length points past its end is refused', () => {
  const b = block(toml);
  b.writeBigUInt64LE(1n << 40n, 8);
  assert.throws(() => decodeInitdataBlock(b));
});

test('TEE field adjustment truncates or zero-pads', () => {
  const d = Buffer.alloc(48, 1);
  assert.equal(adjustDigest(d, 32).length, 32);
  assert.deepEqual(adjustDigest(Buffer.alloc(32, 1), 48).subarray(32), Buffer.alloc(16));
});

test('TPM2_PCR_Extend and PCR_Read command bytes', () => {
  const cmd = pcrExtendCommand(8, Buffer.alloc(32, 0xab));
  assert.equal(cmd.toString('hex', 0, 31), '80020000004100000182' + '00000008' + '00000009' + '40000009' + '0000' + '01' + '0000' + '00000001');
  assert.equal(cmd.length, 65);
  assert.equal(pcrReadCommand(8).toString('hex'), '80010000001400000' + '17e' + '00000001000b03000100');
  const v = extendedValue(Buffer.alloc(32), Buffer.alloc(32, 1));
  assert.equal(v.toString('hex'), createHash('sha256').update(Buffer.concat([Buffer.alloc(32), Buffer.alloc(32, 1)])).digest('hex'));
});

test('a [data] key named __proto__ is an ordinary entry', () => {
  const id = parseInitdata(Buffer.from('version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"__proto__" = "x"\n"policy.json" = "{}"\n'));
  assert.equal(Object.keys(id.data).length, 2);
  assert.equal(id.data.__proto__, 'x');
  assert.equal(Object.getPrototypeOf(id.data), null);
});
