/** The short in-suite versions of `npm run fuzz -- policy` and `npm run fuzz -- policy-document`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzDocuments, fuzzRequests } from './policy-fuzz.js';

test('agent requests through the policy gate: 20000 hostile inputs, only denials, nothing unsafe allowed', () => {
  const s = fuzzRequests({ iterations: 20_000, seed: 20261203 });
  const findings = s.findings.map((f) => `${f.kind} at ${f.iteration}: ${f.detail}`).join('\n');
  assert.equal(s.iterations, 20_000);
  assert.equal(s.crashes, 0, findings);
  assert.equal(s.unsafe, 0, findings);
  assert.ok((s.outcomes['CreateContainer:allowed'] ?? 0) > 100, `some containers are allowed: ${JSON.stringify(s.outcomes)}`);
  assert.ok(Object.keys(s.rules).length > 15, `denials reach many rules: ${Object.keys(s.rules).join(' ')}`);
});

test('policy documents: 20000 mutated documents, only PolicyInvalid errors naming many fields, accepted ones read back', () => {
  const s = fuzzDocuments({ iterations: 20_000, seed: 20261203 });
  assert.equal(s.crashes, 0, s.findings.map((f) => `${f.iteration}: ${f.detail}`).join('\n'));
  assert.ok(s.accepted > 100, `some documents are accepted (${s.accepted})`);
  assert.ok(Object.keys(s.rejected).length > 20, `rejections name many fields: ${Object.keys(s.rejected).join(' ')}`);
});
