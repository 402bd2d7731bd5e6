/**
 * cocolet-agent booted in a QEMU microVM from the guest image (built once, cached), with a swtpm
 * vTPM and init-data on a virtio-blk disk. A host ttrpc client reaches the agent through the
 * virtio-serial socket (and the TCP hostfwd), the agent pulls a busybox image inside the guest
 * from a host docker-registry (via QEMU user networking, 10.0.2.2), runs it under runc, and the
 * host reads its exit code. ONE VM for the whole file; nothing is left running afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { HealthCheckResponse_ServingStatus, Health } from '../../shared/gen/kata/health_pb.js';
import { Harness, have, isRoot, processesMatching, readIfExists, waitFor } from '../../shared/testing/harness.js';
import { TtrpcClient, createClient } from '../../shared/ttrpc/index.js';
import { ErrorCode } from '../../shared/errors/index.js';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { connectAgent as connectVmAgent } from '../../host/vmm/agent-connect.js';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import type { VmHandle } from '../../host/vmm/hypervisor.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { connectAgent, containerRequest, initdataToml, type AgentClient } from './agent-client.js';
import { startRegistry, TEST_IMAGE_REPO, TEST_IMAGE_TAG, type TestRegistry } from './registry.js';

const need = ['qemu-system-x86_64', 'swtpm', 'docker-registry', 'skopeo', 'runc'].find((c) => !have(c));
const skip = !isRoot() ? 'needs root (image build reads the kernel package, guest runc)' : need ? `needs ${need} (scripts/setup installs it)` : false;

describe('cocolet-agent in a QEMU microVM', { skip, timeout: 600_000 }, () => {
  const h = new Harness();
  let reg: TestRegistry;
  let vm: VmHandle;
  let c: AgentClient;
  let stateDir: string;
  let toml: Buffer;
  let vcpuThreads: { index: number; tid: number }[] = [];

  before(async () => {
    await buildGuestImage({});
    reg = await startRegistry(h);
    stateDir = join(h.tempDir('cocolet-vm-'), 'vm');
    toml = initdataToml({ insecureRegistries: [`10.0.2.2:${reg.port}`] });
    vm = await new QemuHypervisor().start({ id: 'vmtest', stateDir, initdata: toml, agentTcp: true, vcpus: 1, onVcpuThreads: (t) => void (vcpuThreads = t) });
    h.defer('vm', () => vm.stop());
    // The VM boots for a few seconds; host/vmm's connectAgent probes Health until SERVING.
    const conn = await connectVmAgent(vm, { timeoutMs: 180_000 });
    c = { conn, agent: createClient(AgentService, conn), health: createClient(Health, conn) };
    h.defer('client', () => c.conn.close());
  });
  after(() => h.dispose());

  test('init-data was measured into PCR 8 before serving', async () => {
    const digest = createHash('sha256').update(toml).digest();
    const pcr8 = createHash('sha256').update(Buffer.concat([Buffer.alloc(32), digest])).digest('hex');
    const log = readIfExists(vm.consoleLogPath);
    assert.match(log, new RegExp(`"pcrValue":"${pcr8}"`), 'console shows PCR 8 = extend(0, sha256(init-data))');
    assert.ok(log.indexOf('init-data measured') < log.indexOf('agent ready'));
  });

  // One vCPU, as the shim's default: a CI run once saw a 2-vCPU guest under TCG on a loaded
  // 2-core host lock up (soft lockup in runc on both vCPUs) and miss its deadline.
  test('the vCPU pinning hook sees one host thread per vCPU', () => {
    assert.deepEqual(vcpuThreads.map((t) => t.index), [0]);
    assert.ok(vcpuThreads.every((t) => t.tid > 0));
  });

  test('a host that disconnects and reconnects gets a fresh ttrpc session on the virtio-serial port', async () => {
    c.conn.close();
    c = await connectAgent(vm.agentSocketPath);
    const ok = await waitFor(() => c.health.check({ service: '' }, { timeoutMs: 1000 }).then(() => true, () => false), { what: 'health after reconnect', timeoutMs: 30_000, intervalMs: 50 });
    assert.ok(ok);
  });

  test('the TCP transport (user-net hostfwd) answers too', async () => {
    const addr = vm.agentTcpAddress!;
    const ok = await waitFor(async () => {
      const sock = connect(addr.port, addr.host);
      const conn = new TtrpcClient(sock);
      try {
        const r = await createClient(Health, conn).check({ service: '' }, { timeoutMs: 500 });
        return r.status === HealthCheckResponse_ServingStatus.SERVING;
      } catch {
        return false;
      } finally {
        conn.close();
      }
    }, { what: 'agent over TCP', timeoutMs: 30_000, intervalMs: 50 });
    assert.ok(ok);
  });

  test('a container pulled inside the guest runs under runc and its exit code reaches the host', async () => {
    const image = `10.0.2.2:${reg.port}/${TEST_IMAGE_REPO}:${TEST_IMAGE_TAG}`;
    try {
      await runContainer(image);
    } catch (e) {
      console.error(readIfExists(vm.consoleLogPath).slice(-4000));
      throw e;
    }
  });

  async function runContainer(image: string): Promise<void> {
    await c.agent.createSandbox({ sandboxId: 'vmtest', hostname: 'pod' });
    await c.agent.createContainer(containerRequest('app', image, ['/bin/sh', '-c', 'test "$(hostname)" = pod && exit 42'], {}), { timeoutMs: 120_000 });
    await c.agent.startContainer({ containerId: 'app' }, { timeoutMs: 60_000 });
    assert.equal((await c.agent.waitProcess({ containerId: 'app', execId: '' })).status, 42);
    await assert.rejects(c.agent.readStdout({ containerId: 'app', execId: '', len: 10 }), (e: { code?: string }) => e.code === ErrorCode.PermissionDenied);
    await c.agent.removeContainer({ containerId: 'app', timeout: 5 });
    await c.agent.destroySandbox({});
  }

  test('stopping the VM leaves no QEMU, swtpm or files behind', async () => {
    c.conn.close();
    await vm.stop();
    assert.deepEqual(processesMatching(stateDir), []);
    assert.equal(readIfExists(join(stateDir, 'agent.sock')), '');
  });
});
