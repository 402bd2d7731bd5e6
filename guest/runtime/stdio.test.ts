import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { OutputBuffer } from './stdio.js';
import { ErrorCode } from '../../shared/errors/index.js';

test('reads wait for data, return at most len bytes, then EOF once ended and drained', async () => {
  const s = new PassThrough();
  const b = new OutputBuffer();
  b.attach(s);
  const pending = b.read(3);
  s.write('hello');
  assert.equal((await pending).toString(), 'hel');
  assert.equal((await b.read(100)).toString(), 'lo');
  s.end();
  await assert.rejects(b.read(10), (e: { code?: string; message: string }) => e.code === ErrorCode.OutOfRange && e.message === 'EOF');
});

test('a cancelled read rejects without losing later data', async () => {
  const s = new PassThrough();
  const b = new OutputBuffer();
  b.attach(s);
  const ac = new AbortController();
  const r = b.read(10, ac.signal);
  ac.abort();
  await assert.rejects(r, (e: { code?: string }) => e.code === ErrorCode.Cancelled);
  s.write('x');
  assert.equal((await b.read(10)).toString(), 'x');
});

test('output beyond the buffer bound pauses the stream until it is read', async () => {
  const s = new PassThrough({ highWaterMark: 1 });
  const b = new OutputBuffer();
  b.attach(s);
  s.write(Buffer.alloc(2 * 1024 * 1024));
  await new Promise((r) => setImmediate(r));
  assert.equal(s.isPaused(), true);
  let total = 0;
  for (let i = 0; i < 10 && total < 2 * 1024 * 1024; i++) total += (await b.read(1024 * 1024)).length;
  assert.equal(total, 2 * 1024 * 1024);
  assert.equal(s.isPaused(), false);
});

test('output the host may not read is drained and counted, never paused, and cannot be read', async () => {
  const s = new PassThrough({ highWaterMark: 1 });
  const b = new OutputBuffer();
  let counted = 0;
  b.attach(s, { discard: true, onDiscard: (n) => (counted += n) });
  const total = 8 * 1024 * 1024;
  for (let i = 0; i < 8; i++) {
    // every write is taken (drained) even though nobody reads: no back-pressure reaches the writer
    await new Promise<void>((resolve) => (s.write(Buffer.alloc(1024 * 1024)) ? resolve() : s.once('drain', resolve)));
  }
  s.end();
  await new Promise((r) => s.once('end', r));
  assert.equal(b.discarded, total);
  assert.equal(counted, total);
  assert.equal(s.isPaused(), false);
  await assert.rejects(b.read(10), (e: { code?: string }) => e.code === ErrorCode.FailedPrecondition);
});
