/**
 * The process hypervisor with the real agent: an agent that must refuse to start (bad init-data,
 * a Rego policy it cannot enforce) fails start() with VM_FAILED, and nothing is left behind.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '../../shared/errors/index.js';
import { Harness, processesMatching } from '../../shared/testing/harness.js';
import { ProcessHypervisor } from '../../host/vmm/process.js';

const cases: { name: string; toml: string }[] = [
  { name: 'init-data with an unknown version', toml: 'version = "9.9.9"\nalgorithm = "sha256"\n' },
  { name: 'init-data carrying a Rego policy', toml: 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"policy.rego" = "package agent_policy"\n' },
  { name: 'init-data with an invalid policy document', toml: 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"policy.json" = \'{"version":1,"default":"perhaps"}\'\n' },
];

describe('process hypervisor: agents that must not start', { timeout: 60_000 }, () => {
  const h = new Harness();
  after(() => h.dispose());
  for (const tc of cases) {
    test(tc.name, async () => {
      const stateDir = join(h.tempDir('cocolet-proc-hv-'), 'vm');
      await assert.rejects(new ProcessHypervisor().start({ id: 'bad', stateDir, initdata: Buffer.from(tc.toml) }), (e: { code?: string }) => e.code === ErrorCode.VmFailed);
      assert.equal(existsSync(stateDir), false);
      assert.deepEqual(processesMatching(stateDir), []);
    });
  }
});
