/** The short in-suite version of `npm run fuzz -- initdata`: zero non-CocoletError throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTargets, fuzzInitdata } from './fuzz-engine.js';

test('init-data parsing survives 20000 generated and mutated documents with only CocoletErrors', () => {
  const stats = fuzzInitdata(buildTargets(), { iterations: 20_000, seed: 20261203 });
  assert.equal(stats.iterations, 20_000);
  assert.equal(stats.crashCount, 0, stats.crashes.map((c) => `${c.target}: ${c.error}\n${c.inputHex.slice(0, 400)}`).join('\n'));
  assert.ok(stats.accepted > 100, 'some inputs are valid init-data (the generator reaches the accepting path)');
  assert.ok(Object.keys(stats.rejected).length >= 5, `mutations reach many distinct checks: ${Object.keys(stats.rejected).join(' | ')}`);
});
