import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import { Backoff } from './backoff.js';

test('back-off doubles from 10 s to the 5 min cap', () => {
  const clock = new FakeClock(0);
  const b = new Backoff(clock);
  const seen: number[] = [];
  for (let i = 0; i < 8; i++) {
    b.next('k', clock.now());
    seen.push(b.get('k'));
  }
  assert.deepEqual(seen, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
});

const cases: { name: string; gapMs: number; sinceMs: number; inBackoff: boolean }[] = [
  { name: 'just after the exit → backing off', gapMs: 1000, sinceMs: 5_000, inBackoff: true },
  { name: 'once the delay has passed → may restart', gapMs: 1000, sinceMs: 20_001, inBackoff: false },
  { name: 'after running > 10 min (2×max) the entry resets', gapMs: 600_001, sinceMs: 1, inBackoff: false },
];
for (const tc of cases) {
  test(`isInBackOffSince: ${tc.name}`, () => {
    const clock = new FakeClock(0);
    const b = new Backoff(clock);
    b.next('k', 0); // first crash at t=0 (10 s)
    b.next('k', 0); // second crash (20 s)
    const exitAt = tc.gapMs;
    clock.now = () => exitAt + tc.sinceMs;
    assert.equal(b.isInBackOffSince('k', exitAt), tc.inBackoff);
  });
}

test('after a reset the next delay starts at 10 s again', () => {
  const clock = new FakeClock(0);
  const b = new Backoff(clock);
  for (let i = 0; i < 5; i++) b.next('k', 0);
  b.next('k', 700_000);
  assert.equal(b.get('k'), 10_000);
});
