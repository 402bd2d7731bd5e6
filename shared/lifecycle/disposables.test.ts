import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DisposableStore, delay } from './disposables.js';

test('teardowns run in reverse order and failures are collected', async () => {
  const s = new DisposableStore();
  const order: string[] = [];
  s.add('a', () => void order.push('a'));
  s.add('b', () => {
    throw new Error('b broke');
  });
  s.add('c', async () => void order.push('c'));
  await assert.rejects(s.dispose(), (e: AggregateError) => e.errors.length === 1 && /teardown of b/.test(e.errors[0].message));
  assert.deepEqual(order, ['c', 'a']);
  await s.dispose(); // idempotent
});

test('delay rejects with the abort reason', async () => {
  const ac = new AbortController();
  const p = delay(10_000, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
});
