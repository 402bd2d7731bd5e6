import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extendedResourceNameProblem, isExtendedResourceName } from './resource-name.js';

const cases: { name: string; resource: string; ok: boolean; why?: RegExp }[] = [
  { name: 'vendor domain', resource: 'example.com/widget', ok: true },
  { name: 'nvidia style', resource: 'nvidia.com/gpu', ok: true },
  { name: 'name part with dots and dashes', resource: 'intel.com/sriov_net-A.1', ok: true },
  { name: 'no prefix', resource: 'widget', ok: false, why: /no domain prefix/ },
  { name: 'native cpu', resource: 'cpu', ok: false, why: /no domain prefix/ },
  { name: 'kubernetes.io namespace', resource: 'kubernetes.io/widget', ok: false, why: /reserved/ },
  { name: 'sub kubernetes.io namespace', resource: 'node.kubernetes.io/widget', ok: false, why: /reserved/ },
  { name: 'requests. prefix', resource: 'requests.example.com/widget', ok: false, why: /requests\./ },
  { name: 'upper-case domain', resource: 'Example.com/widget', ok: false, why: /DNS subdomain/ },
  { name: 'empty name part', resource: 'example.com/', ok: false, why: /empty/ },
  { name: 'two slashes', resource: 'example.com/a/b', ok: false, why: /more than one/ },
  { name: 'name part ends with dash', resource: 'example.com/widget-', ok: false, why: /alphanumeric/ },
  { name: 'name part too long', resource: `example.com/${'a'.repeat(64)}`, ok: false, why: /63/ },
  { name: 'empty', resource: '', ok: false, why: /empty/ },
];

for (const tc of cases) {
  test(`extended resource name: ${tc.name}`, () => {
    assert.equal(isExtendedResourceName(tc.resource), tc.ok);
    if (tc.why) assert.match(extendedResourceNameProblem(tc.resource)!, tc.why);
  });
}
