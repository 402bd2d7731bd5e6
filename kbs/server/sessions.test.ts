import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionStore } from './sessions.js';

test('a session has a fresh 32-byte nonce and a 32-hex id; it is ok, then expired, then forgotten', () => {
  let now = 1000;
  const s = new SessionStore({ ttlMs: 100, now: () => now });
  const a = s.create('tpm');
  const b = s.create('tpm');
  assert.match(a.id, /^[0-9a-f]{32}$/);
  assert.equal(Buffer.from(a.nonce, 'base64').length, 32);
  assert.notEqual(a.nonce, b.nonce);
  assert.equal(s.lookup(a.id).kind, 'ok');
  now = 1100;
  assert.deepEqual(s.lookup(a.id), { kind: 'expired', expiredAt: 1100 });
  now = 1200;
  s.sweep();
  assert.equal(s.lookup(a.id).kind, 'unknown');
  assert.equal(s.lookup(undefined).kind, 'unknown');
  assert.equal(s.lookup('nope').kind, 'unknown');
});

test('the store is bounded: when full of live sessions the oldest goes', () => {
  const s = new SessionStore({ maxSessions: 3 });
  const first = s.create('tpm');
  for (let i = 0; i < 5; i++) s.create('tpm');
  assert.equal(s.size, 3);
  assert.equal(s.lookup(first.id).kind, 'unknown');
});
