/**
 * Fail-closed init-data in a real VM: the guest image booted WITHOUT a vTPM (no swtpm) and with
 * init-data. The agent finds configfs-tsm without a provider (no SEV-SNP/TDX under QEMU here) and
 * no TPM, so init-data cannot be measured: it must serve nothing (the host's CreateSandbox is
 * refused or never answered), print the reason on the console and stop; /init then powers the VM
 * off by itself. ONE VM boot; nothing is left running afterwards.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { Harness, have, isRoot, processesMatching, readIfExists, waitFor } from '../../shared/testing/harness.js';
import { TtrpcClient, createClient } from '../../shared/ttrpc/index.js';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { CONSOLE_MARKERS } from '../../guest/image/init.js';
import { initdataToml } from './agent-client.js';

const need = ['qemu-system-x86_64'].find((c) => !have(c));
const skip = !isRoot() ? 'needs root (image build reads the kernel package)' : need ? `needs ${need} (scripts/setup installs it)` : false;

describe('cocolet-agent in a VM without a TEE register for init-data', { skip, timeout: 600_000 }, () => {
  const h = new Harness();
  after(() => h.dispose());

  test('refuses to serve, says why on the console, and stops (the VM powers off)', async (t) => {
    await buildGuestImage({});
    const stateDir = join(h.tempDir('cocolet-vm-unmeasured-'), 'vm');
    const vm = await new QemuHypervisor({ tpm: false }).start({ id: 'unmeasured', stateDir, initdata: initdataToml({}), vcpus: 1, egress: false });
    h.defer('vm', () => vm.stop());
    // The host's requests are queued on the virtio-serial port from the start: none may be served.
    const conn = await waitFor(() => TtrpcClient.connect(vm.agentSocketPath).catch(() => undefined), { what: 'agent socket', timeoutMs: 60_000 });
    h.defer('client', () => conn.close());
    const agent = createClient(AgentService, conn);
    const created = agent.createSandbox({ sandboxId: 'unmeasured', hostname: 'pod' }, { timeoutMs: 300_000 }).then(() => 'served', (e: Error) => e.message);
    const exit = await Promise.race([vm.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300_000).unref())]);
    const log = readIfExists(vm.consoleLogPath);
    try {
      assert.ok(exit, 'the VM powered off by itself');
      const outcome = await created;
      assert.notEqual(outcome, 'served', 'CreateSandbox was not served');
      assert.match(outcome, /agent stopped: init-data cannot be measured|closed|ECONNRESET|EPIPE/i);
      t.diagnostic(`CreateSandbox: ${outcome}`);
      const lines = log.split('\n');
      assert.equal(lines.filter((l) => l.includes('"msg":"configfs-tsm')).length, 1, 'one configfs-tsm probe line');
      assert.ok(lines.some((l) => l.includes('"msg":"configfs-tsm found, no provider answers')), 'the probe found configfs-tsm without a provider');
      const fatal = lines.find((l) => l.includes('"level":"fatal"'));
      assert.ok(fatal, 'a fatal line on the console');
      assert.match(fatal, /"err":"init-data cannot be measured: no TEE register: configfs-tsm has no provider and no TPM/);
      assert.match(log, new RegExp(`${CONSOLE_MARKERS.agentExit} 1`));
      assert.doesNotMatch(log, /"msg":"agent ready"|"msg":"sandbox created"/);
      for (const l of lines.filter((x) => /configfs-tsm|"fatal"|COCOLET_AGENT_EXIT/.test(x))) t.diagnostic(l);
    } catch (e) {
      console.error(log.slice(-4000));
      throw e;
    }
    conn.close();
    await vm.stop();
    assert.deepEqual(processesMatching(stateDir), []);
  });
});
