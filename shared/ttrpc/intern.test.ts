import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema } from '../gen/kata/agent_pb.js';
import { MAX_INTERNED_LENGTH, StringInterner, activeStringInterner, installStringInterner, internalize, uninstallStringInterner } from './intern.js';

const WORDS = ['proc', 'nosuid', 'noexec', 'nodev', 'rw', 'ro', 'rbind', '/proc', '/dev/pts', 'CAP_KILL', 'x'.repeat(MAX_INTERNED_LENGTH), 'é', 'y'.repeat(MAX_INTERNED_LENGTH + 1), ''];

/** A request whose strings are vocabulary words, near misses (a prefix, one byte more, other case), non-ASCII and invalid text. */
function request(): Uint8Array {
  return toBinary(CreateContainerRequestSchema, create(CreateContainerRequestSchema, {
    containerId: 'proc',
    OCI: {
      Process: { Args: ['proc', 'pro', 'procs', 'PROC', 'é', 'x'.repeat(MAX_INTERNED_LENGTH), 'x'.repeat(MAX_INTERNED_LENGTH + 1), ''], Env: ['rw', 'r', 'rwx', 'ro\0'] },
      Mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] }, { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['rbind', 'ro', 'Rbind'] }],
      Annotations: { rw: 'ro', proc: 'CAP_KILL' },
    },
  } as never));
}

test('decoding through an interner gives the same message as protobuf-es\'s reader, also for near misses and mutated bytes', (t) => {
  t.after(() => uninstallStringInterner());
  const it = new StringInterner(WORDS);
  assert.ok(it.has('proc') && it.has('x'.repeat(MAX_INTERNED_LENGTH)));
  assert.ok(!it.has('é') && !it.has('y'.repeat(MAX_INTERNED_LENGTH + 1)) && !it.has(''), 'non-ASCII, too long and empty words are left out');
  const wire = request();
  const plain = fromBinary(CreateContainerRequestSchema, wire);
  installStringInterner(it);
  assert.equal(activeStringInterner(), it);
  const interned = fromBinary(CreateContainerRequestSchema, wire);
  assert.ok(equals(CreateContainerRequestSchema, plain, interned));
  assert.deepEqual(interned.OCI!.Mounts[0]!.options, ['nosuid', 'noexec', 'nodev']);
  assert.deepEqual(interned.OCI!.Process!.Args, ['proc', 'pro', 'procs', 'PROC', 'é', 'x'.repeat(MAX_INTERNED_LENGTH), 'x'.repeat(MAX_INTERNED_LENGTH + 1), '']);
  // every single-byte change and every truncation: the same message or the same error either way
  let seed = 7;
  let errors = 0;
  for (let n = 0; n < 3000; n++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const bytes = wire.slice(0, n % 5 === 0 ? seed % wire.length : wire.length);
    if (n % 5 !== 0) bytes[seed % bytes.length] = (seed >>> 8) & 0xff;
    installStringInterner(undefined);
    let want: unknown;
    try { want = fromBinary(CreateContainerRequestSchema, bytes); } catch (e) { want = (e as Error).message; }
    installStringInterner(it);
    let got: unknown;
    try { got = fromBinary(CreateContainerRequestSchema, bytes); } catch (e) { got = (e as Error).message; }
    if (typeof want === 'string') errors++;
    if (typeof want === 'string') assert.equal(got, want, `input ${n}`);
    else assert.ok(typeof got !== 'string' && equals(CreateContainerRequestSchema, want as never, got as never), `input ${n}`);
  }
  assert.ok(errors > 300 && errors < 2700, `undecodable ${errors} of 3000`);
});

test('find looks words up by their bytes only', () => {
  const it = new StringInterner(WORDS);
  const buf = new TextEncoder().encode('..nosuid..rbin');
  assert.equal(it.find(buf, 2, 6), 'nosuid');
  assert.equal(it.find(buf, 2, 5), undefined);
  assert.equal(it.find(buf, 10, 4), undefined);
  assert.equal(internalize('a/b'), 'a/b');
  assert.equal(internalize('5'), '5');
});

test('uninstall puts protobuf-es\'s reader back', () => {
  installStringInterner(new StringInterner(['proc']));
  uninstallStringInterner();
  assert.equal(activeStringInterner(), undefined);
  const m = fromBinary(CreateContainerRequestSchema, request());
  assert.equal(m.containerId, 'proc');
});
