import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appraise, parseReferenceValues, type EvidenceFacts, type ReferenceValues } from './reference-values.js';
import { DEFAULT_POLICY, evaluatePolicy, parseResourcePolicyText } from './resource-policy.js';

const P = (i: number): string => i.toString(16).padStart(2, '0').repeat(32);
const tpm: EvidenceFacts = { tee: 'tpm', pcrs: { '0': P(1), '8': P(8) }, initDataDigest: 'aa' };
const snp: EvidenceFacts = { tee: 'snp', measurement: 'abcd', tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } };

const APPRAISALS: { name: string; rv: ReferenceValues; ev: EvidenceFacts; status: string; failed?: RegExp }[] = [
  { name: 'nothing to compare is a warning, never affirming', rv: { allowDevelopmentTee: true }, ev: tpm, status: 'warning', failed: /no reference values/ },
  { name: 'matching PCRs and init-data affirm', rv: { pcrs: { '0': [P(1)], '8': [P(8), P(9)] }, initDataDigests: ['aa'] }, ev: tpm, status: 'affirming' },
  { name: 'a wrong PCR', rv: { pcrs: { '0': [P(2)] } }, ev: tpm, status: 'contraindicated', failed: /pcr 0 value/ },
  { name: 'a wrong init-data digest', rv: { initDataDigests: ['bb'] }, ev: tpm, status: 'contraindicated', failed: /init-data digest aa is not accepted/ },
  { name: 'no init-data when one is required', rv: { initDataDigests: ['bb'] }, ev: { tee: 'tpm' }, status: 'contraindicated', failed: /carried no init-data/ },
  { name: 'a wrong measurement', rv: { measurements: ['ffff'] }, ev: snp, status: 'contraindicated', failed: /measurement abcd/ },
  { name: 'a TCB below the minimum', rv: { measurements: ['abcd'], minTcb: { snp: 9 } }, ev: snp, status: 'contraindicated', failed: /tcb snp 8 is below the minimum 9/ },
  { name: 'a TEE not in the list', rv: { tees: ['snp'] }, ev: tpm, status: 'contraindicated', failed: /tee tpm is not one of snp/ },
];
for (const c of APPRAISALS) {
  test(`appraisal: ${c.name}`, () => {
    const a = appraise(c.rv, c.ev);
    assert.equal(a.status, c.status);
    if (c.failed) assert.match(a.failed.join('; '), c.failed);
    else assert.deepEqual(a.failed, []);
  });
}

test('reference values: unknown keys and bad values are refused by name', () => {
  assert.throws(() => parseReferenceValues({ allowDevelopmentTe: true }), /unknown reference-value key "allowDevelopmentTe"/);
  assert.throws(() => parseReferenceValues({ pcrs: { '24': [P(1)] } }), /not a PCR index/);
  assert.throws(() => parseReferenceValues({ pcrs: { '0': ['abc'] } }), /hex strings/);
  assert.throws(() => parseReferenceValues({ minTcb: { snp: 300 } }), /0-255/);
  assert.deepEqual(parseReferenceValues({ measurements: ['ABCD'] }), { measurements: ['abcd'] });
});

test('resource policy: first matching rule decides; no rule denies; requirements name the failing set', () => {
  const p = parseResourcePolicyText(JSON.stringify({ rules: [{ resource: 'prod/*/*', require: ['prod'] }, { resource: 'default/test/*', allow: true }, { resource: '*/*/*', allow: false }] }));
  const ok = { status: 'affirming' as const, failed: [] };
  assert.deepEqual(evaluatePolicy(p, 'default/test/x', {}), { allow: true, rule: 1 });
  assert.match((evaluatePolicy(p, 'other/a/b', {}) as { reason: string }).reason, /rule 2 .* denies/);
  assert.match((evaluatePolicy(p, 'prod/a/b', {}) as { reason: string }).reason, /'prod', which are not defined/);
  assert.match((evaluatePolicy(p, 'prod/a/b', { prod: { status: 'contraindicated', failed: ['pcr 0 value x is not accepted'] } }) as { reason: string }).reason, /'prod' \(contraindicated: pcr 0/);
  assert.deepEqual(evaluatePolicy(p, 'prod/a/b', { prod: ok }), { allow: true, rule: 0 });
  assert.match((evaluatePolicy({ rules: [] }, 'a/b/c', {}) as { reason: string }).reason, /no policy rule matches/);
  assert.equal(evaluatePolicy(DEFAULT_POLICY, 'a/b/c', { default: { status: 'warning', failed: ['no reference values'] } }).allow, false);
});

test("resource policy: trustee's allow_all, deny_all and affirming samples are recognised, other Rego is refused", () => {
  const allowAll = Buffer.from('cGFja2FnZSBwb2xpY3kKCmRlZmF1bHQgYWxsb3cgPSBmYWxzZQoKcGx1Z2luID0gZGF0YS5wbHVnaW4KCmFsbG93IGlmIHsKCXBsdWdpbiA9PSAicmVzb3VyY2UiCn0KCg', 'base64url').toString();
  assert.deepEqual(parseResourcePolicyText(allowAll), { rules: [{ resource: '*/*/*', allow: true }] });
  assert.deepEqual(parseResourcePolicyText('package policy\n\ndefault allow = false\n'), { rules: [] });
  // kbs-client set-resource-policy --affirming (v0.21's affirming.rego): every submodule affirming.
  const affirming = 'package policy\nimport rego.v1\n\ndefault allow = false\n\nallow if {\n    not any_not_affirming\n    count(input.submods) > 0\n}\n\nany_not_affirming if {\n    some _, submod in input.submods\n    submod["ear.status"] != "affirming"\n}\n';
  assert.deepEqual(parseResourcePolicyText(affirming), { rules: [{ resource: '*/*/*', require: ['default'] }] });
  assert.throws(() => parseResourcePolicyText('package policy\ndefault allow = true\n'), /evaluates no Rego/);
  assert.throws(() => parseResourcePolicyText('{"rules":[{"resource":"a/b"}]}'), /<repository>\/<type>\/<tag>/);
  assert.throws(() => parseResourcePolicyText('{"rules":[],"x":1}'), /unknown resource-policy key "x"/);
});
