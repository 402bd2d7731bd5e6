/**
 * cocolet-agent booted in a QEMU microVM from the guest image (built once, cached), with a swtpm
 * vTPM and init-data on a virtio-blk disk. A host ttrpc client reaches the agent through the
 * virtio-serial socket (its only transport), the agent pulls a busybox image inside the guest
 * from a host docker-registry (via QEMU user networking, 10.0.2.2), runs it under runc, and the
 * host reads its exit code. In the same boot: the configfs-tsm probe line, a container that tries
 * to reach the agent and fails, and a container writing 100 MiB the host may not read that exits
 * 0 (the agent drains and counts it). ONE VM for the whole file; nothing is left running afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Health } from '../../shared/gen/kata/health_pb.js';
import { Harness, have, isRoot, processesMatching, readIfExists, waitFor } from '../../shared/testing/harness.js';
import { createClient } from '../../shared/ttrpc/index.js';
import { ErrorCode } from '../../shared/errors/index.js';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { connectAgent as connectVmAgent } from '../../host/vmm/agent-connect.js';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import type { VmHandle } from '../../host/vmm/hypervisor.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { CONFIDENTIAL_DEFAULT_POLICY } from '../../guest/policy/defaults.js';
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
    // the default confidential policy (no exec, no stdio for the host) plus GetMetrics for the counts
    const policy = { ...CONFIDENTIAL_DEFAULT_POLICY, name: 'vmtest', rules: { ...CONFIDENTIAL_DEFAULT_POLICY.rules, GetMetrics: { allow: true } } };
    toml = initdataToml({ policy, insecureRegistries: [`10.0.2.2:${reg.port}`] });
    vm = await new QemuHypervisor().start({ id: 'vmtest', stateDir, initdata: toml, vcpus: 1, onVcpuThreads: (t) => void (vcpuThreads = t) });
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

  test('the agent found configfs-tsm, said in one line that no provider answers, then measured into the vTPM', () => {
    const lines = readIfExists(vm.consoleLogPath).split('\n');
    const probe = lines.filter((l) => l.includes('"msg":"configfs-tsm'));
    assert.equal(probe.length, 1, 'exactly one configfs-tsm line');
    assert.match(probe[0]!, /"tsm":"\/sys\/kernel\/config\/tsm\/report".*no provider answers.*falling back to the development TEE vTPM/);
    const at = (m: string): number => lines.findIndex((l) => l.includes(`"msg":"${m}`));
    assert.ok(at('configfs-tsm') < at('init-data measured') && at('init-data measured') < at('agent ready'));
    assert.ok(at('development TEE: the host runs this vTPM and can forge PCR 8') > 0, 'the console says what the development TEE does not protect');
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
  }

  test('a container cannot reach the agent (no TCP listener, no virtio port in its /dev); it can reach the network', async () => {
    const image = `10.0.2.2:${reg.port}/${TEST_IMAGE_REPO}:${TEST_IMAGE_TAG}`;
    // exit 10: the control failed (nc or the network does not work here, so the test would prove nothing);
    // 11/12: the agent's TCP port answered; 13: a virtio-serial port is visible
    const script = [
      `nc -w 10 10.0.2.2 ${reg.port} -e true || exit 10`,
      'nc -w 3 127.0.0.1 1024 -e true && exit 11',
      'nc -w 3 10.0.2.15 1024 -e true && exit 12',
      'ls /dev/vport* /dev/virtio-ports 2>/dev/null && exit 13',
      'exit 0',
    ].join('; ');
    await c.agent.createContainer(containerRequest('probe', image, ['/bin/sh', '-c', script], {}), { timeoutMs: 120_000 });
    await c.agent.startContainer({ containerId: 'probe' }, { timeoutMs: 60_000 });
    assert.equal((await c.agent.waitProcess({ containerId: 'probe', execId: '' }, { timeoutMs: 120_000 })).status, 0);
    await c.agent.removeContainer({ containerId: 'probe', timeout: 5 });
  });

  test('100 MiB of output the host may not read is drained and counted: the container exits 0', async () => {
    const image = `10.0.2.2:${reg.port}/${TEST_IMAGE_REPO}:${TEST_IMAGE_TAG}`;
    const MiB = 1024 * 1024;
    const script = `head -c ${100 * MiB} /dev/zero; head -c ${2 * MiB} /dev/zero >&2; exit 0`;
    const discarded = async (): Promise<{ stdout: number; stderr: number }> => {
      const m = (await c.agent.getMetrics({})).metrics;
      const get = (s: string): number => Number(m.match(new RegExp(`^cocolet_agent_output_discarded_bytes_total\\{stream="${s}"\\} (\\d+)$`, 'm'))?.[1] ?? NaN);
      return { stdout: get('stdout'), stderr: get('stderr') };
    };
    // earlier containers' stderr (nc's refusals) is discarded too: compare counts before and after
    const start = await discarded();
    await c.agent.createContainer(containerRequest('loud', image, ['/bin/sh', '-c', script], {}), { timeoutMs: 120_000 });
    await c.agent.startContainer({ containerId: 'loud' }, { timeoutMs: 60_000 });
    assert.equal((await c.agent.waitProcess({ containerId: 'loud', execId: '' }, { timeoutMs: 540_000 })).status, 0);
    await assert.rejects(c.agent.readStdout({ containerId: 'loud', execId: '', len: 10 }), (e: { code?: string }) => e.code === ErrorCode.PermissionDenied);
    // the counts are final once both pipes reached their end (logged then, counts only)
    const line = await waitFor(() => readIfExists(vm.consoleLogPath).split('\n').find((l) => l.includes('"container":"loud"') && l.includes('container output discarded')), { what: 'discard log line', timeoutMs: 60_000, intervalMs: 100 });
    assert.match(line, new RegExp(`"stdoutBytes":${100 * MiB},"stderrBytes":${2 * MiB},`));
    const now = await discarded();
    assert.deepEqual({ stdout: now.stdout - start.stdout, stderr: now.stderr - start.stderr }, { stdout: 100 * MiB, stderr: 2 * MiB });
    await c.agent.removeContainer({ containerId: 'loud', timeout: 5 });
    await c.agent.destroySandbox({});
  });

  test('stopping the VM leaves no QEMU, swtpm or files behind', async () => {
    c.conn.close();
    await vm.stop();
    assert.deepEqual(processesMatching(stateDir), []);
    assert.equal(readIfExists(join(stateDir, 'agent.sock')), '');
  });
});
