/** The short in-suite version of `npm run fuzz -- attestation`: zero non-CocoletError throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTargets, fuzz } from './fuzz-engine.js';

test('attestation parsers survive 20000 mutated inputs with only CocoletErrors', () => {
  const stats = fuzz(buildTargets(), { iterations: 20_000, seed: 20261124 });
  assert.equal(stats.iterations, 20_000);
  assert.equal(stats.crashCount, 0, stats.crashes.map((c) => `${c.target}: ${c.error}\n${c.inputHex.slice(0, 200)}`).join('\n'));
  assert.ok(Object.keys(stats.rejected).length > 5, 'mutations reach many distinct checks');
});
