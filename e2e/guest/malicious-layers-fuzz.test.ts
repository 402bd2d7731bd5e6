/** The short in-suite version of `npm run fuzz -- tar`: no crash, no escape out of the root. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../shared/errors/index.js';
import { fuzzTar } from './malicious-layers-fuzz.js';

test('layer unpacking survives 5000 hostile and mutated layer sets: only CocoletErrors, nothing outside the root touched', () => {
  const stats = fuzzTar({ iterations: 5000, seed: 20261203 });
  const findings = stats.findings.map((f) => `${f.kind} at ${f.iteration}: ${f.detail}`).join('\n');
  assert.equal(stats.iterations, 5000);
  assert.equal(stats.crashes, 0, findings);
  assert.equal(stats.escapes, 0, findings);
  assert.ok(stats.accepted > 100, `some inputs unpack (${stats.accepted})`);
  for (const code of [ErrorCode.InvalidArgument, ErrorCode.ResourceExhausted]) assert.ok((stats.rejected[code] ?? 0) > 100, `inputs rejected as ${code}: ${JSON.stringify(stats.rejected)}`);
});
