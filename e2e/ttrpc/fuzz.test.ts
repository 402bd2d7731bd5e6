import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from './fuzz-engine.js';

test('fuzz: a few thousand random and mutated frames, no crash or hang', async () => {
  const stats = await runFuzz({ frames: 4000, seed: 12345, oversizeEvery: 2000 });
  assert.equal(stats.failure, undefined, stats.failure);
  assert.equal(stats.crashes, 0);
  assert.equal(stats.hangs, 0);
  assert.ok(stats.frames >= 4000);
  assert.ok(stats.probes > 0);
});
