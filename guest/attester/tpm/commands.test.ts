/**
 * The hand-marshalled TPM commands against hostile answers (in the development TEE the TPM is
 * the host's): every malformed or non-progressing response fails with an error, never a hang or
 * an out-of-bounds read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pcrReadAll, quote, readPublic, TpmCommandError } from './commands.js';
import type { TpmTransport } from './transport.js';

function fake(answer: (cmd: Buffer, n: number) => Buffer): TpmTransport & { calls: number } {
  const t = {
    calls: 0,
    transmit: (cmd: Uint8Array) => Promise.resolve(answer(Buffer.from(cmd), ++t.calls)),
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  return t;
}

function response(rc: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(10);
  h.writeUInt16BE(0x8001, 0);
  h.writeUInt32BE(10 + body.length, 2);
  h.writeUInt32BE(rc, 6);
  return Buffer.concat([h, body]);
}

/** A PCR_Read answer selecting `pcrs` with `size`-byte values. */
function pcrAnswer(pcrs: number[], size = 32): Buffer {
  const bits = Buffer.alloc(3);
  for (const p of pcrs) bits[p >> 3]! |= 1 << (p & 7);
  const parts = [Buffer.from([0, 0, 0, 1]), Buffer.from([0, 0, 0, 1, 0, 0x0b, 3]), bits, Buffer.from([0, 0, 0, pcrs.length])];
  for (const _ of pcrs) parts.push(Buffer.from([0, size]), Buffer.alloc(size, 0xaa));
  return response(0, Buffer.concat(parts));
}

test('PCR_Read: a TPM that keeps answering the same PCRs fails instead of looping', async () => {
  const t = fake(() => pcrAnswer([0, 1, 2, 3, 4, 5, 6, 7]));
  await assert.rejects(pcrReadAll(t), /not asked for/);
  assert.equal(t.calls, 2);
});

test('PCR_Read: eight at a time in three calls, as a real TPM answers', async () => {
  const t = fake((_, n) => pcrAnswer(Array.from({ length: 8 }, (_x, i) => (n - 1) * 8 + i)));
  const v = await pcrReadAll(t);
  assert.equal(v.length, 24);
  assert.equal(t.calls, 3);
});

const hostile: { name: string; answer: Buffer; re: RegExp }[] = [
  { name: 'short PCR values', answer: pcrAnswer([0], 20), re: /20-byte SHA-256 value/ },
  { name: 'no PCRs at all', answer: pcrAnswer([]), re: /0 digests/ },
  { name: 'a truncated answer', answer: pcrAnswer([0]).subarray(0, 20), re: /truncated/ },
  { name: 'a header-only answer', answer: Buffer.alloc(4), re: /shorter than a header/ },
];
for (const c of hostile) {
  test(`PCR_Read refuses ${c.name}`, async () => {
    await assert.rejects(pcrReadAll(fake(() => c.answer)), c.re);
  });
}

test('an error code names the command; busy codes are retried a bounded number of times', async () => {
  await assert.rejects(readPublic(fake(() => response(0x18b)), 0x81010002), (e: TpmCommandError) => e.command === 'ReadPublic' && e.rc === 0x18b);
  const t = fake(() => response(0x922));
  await assert.rejects(quote(t, 0x80000000, Buffer.alloc(32), [0]), (e: TpmCommandError) => e.rc === 0x922);
  assert.equal(t.calls, 6);
});

test('Quote: a signature of an unknown scheme or a truncated one is refused', async () => {
  const attest = Buffer.from([0, 2, 0xaa, 0xbb]);
  const body = (sig: Buffer) => response(0, Buffer.concat([Buffer.from([0, 0, 0, 0]), attest, sig]));
  await assert.rejects(quote(fake(() => body(Buffer.from([0x00, 0x01]))), 1, Buffer.alloc(32), [0]), /not RSASSA, RSAPSS or ECDSA/);
  await assert.rejects(quote(fake(() => body(Buffer.from([0x00, 0x14, 0x00, 0x0b, 0x01, 0x00, 1, 2]))), 1, Buffer.alloc(32), [0]), /truncated/);
});
