import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CONFIDENTIAL_DEFAULT_POLICY } from '../policy/defaults.js';
import { builtinPolicyDigest, parseAgentSettings, teeFeatures, type AgentSettings } from './agent.js';
import { MeasurementLock } from './lock.js';

const opened = (): MeasurementLock => {
  const l = new MeasurementLock();
  l.open();
  return l;
};
const failed = (): MeasurementLock => {
  const l = new MeasurementLock();
  l.fail('init-data cannot be measured: no TEE register');
  return l;
};

const cases: { name: string; processMode: boolean; lock: () => MeasurementLock; m?: Parameters<typeof teeFeatures>[2]; want: string[] }[] = [
  { name: 'process agent: labelled not confidential, nothing measured', processMode: true, lock: opened, want: ['tee:none (host process, not confidential)', 'initdata:unmeasured'] },
  { name: 'VM agent while measuring', processMode: false, lock: () => new MeasurementLock(), want: ['initdata:pending'] },
  { name: 'VM agent whose measurement failed', processMode: false, lock: failed, want: ['initdata:failed'] },
  { name: 'development TEE: says it is not confidential', processMode: false, lock: opened, m: { tee: 'dev', register: 'PCR8', initdata: true, digest: 'ab' }, want: ['tee:dev (not confidential)', 'initdata:PCR8'] },
  { name: 'SEV-SNP', processMode: false, lock: opened, m: { tee: 'snp', register: 'HOSTDATA', initdata: false, digest: '' }, want: ['tee:snp', 'initdata:HOSTDATA'] },
];

for (const tc of cases) {
  test(`GetGuestDetails labels: ${tc.name}`, () => {
    assert.deepEqual(teeFeatures(tc.processMode, tc.lock(), tc.m), tc.want);
  });
}

test('without init-data the built-in default policy document is what PCR 8 takes', () => {
  assert.equal(builtinPolicyDigest().toString('hex'), createHash('sha256').update(JSON.stringify(CONFIDENTIAL_DEFAULT_POLICY)).digest('hex'));
});

const settingsCases: { name: string; text: string; want?: AgentSettings; error?: RegExp }[] = [
  { name: 'both fields', text: '{"insecureRegistries":["10.0.2.2:5000"],"registryMirrors":{"registry.k8s.io":"10.0.2.2:5000"}}', want: { insecureRegistries: ['10.0.2.2:5000'], registryMirrors: { 'registry.k8s.io': '10.0.2.2:5000' } } },
  { name: 'empty object', text: '{}', want: {} },
  { name: 'not JSON', text: '{', error: /is not JSON/ },
  { name: 'not an object', text: '[]', error: /not a JSON object/ },
  { name: 'a mirror that is no host[:port]', text: '{"registryMirrors":{"gcr.io":"http://x/y"}}', error: /registryMirrors must be/ },
  { name: 'insecure registries not a list', text: '{"insecureRegistries":"a"}', error: /insecureRegistries must be/ },
];
for (const tc of settingsCases) {
  test(`agent settings: ${tc.name}`, () => {
    if (tc.error) assert.throws(() => parseAgentSettings(tc.text), tc.error);
    else assert.deepEqual(parseAgentSettings(tc.text), tc.want);
  });
}
