import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { CONFIDENTIAL_DEFAULT_POLICY } from '../policy/defaults.js';
import { builtinPolicyDigest, teeFeatures } from './agent.js';
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
