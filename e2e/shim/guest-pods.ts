/**
 * The shared suite for pods whose containers the real cocolet-agent runs (`process`: the agent as
 * a local process; `qemu`: the agent in a QEMU microVM with swtpm): through containerd's CRI, the
 * agent pulls the image itself from a local registry, the pod's init-data is passed through, a
 * permissive policy lets output reach the CRI log, the confidential default keeps it inside while
 * the exit code still comes back, and nothing is left behind.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Harness, have, processesMatching, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, type ContainerdFixture } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import type { PodSandboxConfigInit } from '../../host/cri/api.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { startRegistry, type TestRegistry } from '../guest/registry.js';
import { initdataToml } from '../guest/agent-client.js';
import { assertNoLeftovers, prepareShim, run, type ShimFixture } from './support.js';
import { threadAffinity, vcpuThreads } from '../../host/vmm/pin.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { AGENT_BUNDLE } from '../../host/vmm/process-launch.js';
import { agentBlobPath } from '../../shared/build/agent-snapshot.js';

const AGENT = fileURLToPath(new URL('../../guest/cmd/cocolet-agent.js', import.meta.url));

export function guestPodSuite(kind: 'process' | 'qemu', opts: { skipReason?: () => string | undefined } = {}): void {
const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let cri: CriClient;
let shim: ShimFixture;
let reg: TestRegistry;
let skip: string | undefined;

before(async () => {
  for (const cmd of ['docker-registry', 'skopeo']) if (!have(cmd)) skip = `${cmd} is not installed (needed for the in-guest image pull)`;
  if (!existsSync(AGENT)) skip = 'cocolet-agent is not built';
  skip ??= opts.skipReason?.();
  if (skip) return;
  shim = prepareShim(h, { kind });
  process.env.COCOLET_SHIM_CONFIG = shim.configPath;
  c = await startContainerd(h, { skip: (why) => (skip = why) }, { shimDir: shim.shimDir });
  if (!c) return;
  reg = await startRegistry(h);
  // A QEMU user-net guest reaches the host's loopback registry as 10.0.2.2.
  if (kind === 'qemu') reg = { ...reg, host: `10.0.2.2:${reg.port}`, image: reg.image.replace('127.0.0.1:', '10.0.2.2:') };
  const tag = await run('ctr', ['-a', c.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, reg.image]);
  assert.equal(tag.code, 0, tag.stderr);
  cri = new CriClient({ endpoint: c.address });
  h.defer('cri client', () => cri.close());
});

function initData(policy?: unknown): string {
  return gzipSync(initdataToml({ ...(policy ? { policy } : {}), insecureRegistries: [reg.host] })).toString('base64');
}

async function runPod(name: string, initdata: string, script: string): Promise<{ exitCode: number; log: string; pod: string; ctr: string }> {
  const logDirectory = h.tempDir('ccl-');
  const sandboxConfig = {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory,
    annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': initdata },
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet');
  const ctr = await cri.createContainer(pod, { metadata: { name: 'main' }, image: { image: reg.image }, command: ['/bin/sh', '-c', script], logPath: 'main.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, sandboxConfig);
  await cri.startContainer(ctr);
  const st = await waitFor(async () => {
    const s = await cri.containerStatus(ctr);
    return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
  }, { what: 'the container to exit', timeoutMs: 90_000 });
  return { exitCode: st.exitCode, log: readFileSync(join(logDirectory, 'main.log'), 'utf8'), pod, ctr };
}

function openSandboxConfig(name: string): PodSandboxConfigInit {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: h.tempDir('ccl-'),
    annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': initData(PERMISSIVE_POLICY) },
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
}

async function startSleeper(name: string): Promise<{ pod: string; ctr: string; vmPid: number; daemonPid: number }> {
  const sandboxConfig = openSandboxConfig(name);
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet');
  const ctr = await cri.createContainer(pod, { metadata: { name: 'sleeper' }, image: { image: reg.image }, command: ['/bin/sleep', '300'], logPath: 'sleeper.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, sandboxConfig);
  await cri.startContainer(ctr);
  const rec = JSON.parse(readFileSync(join(c!.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', pod, 'cocolet-shim.json'), 'utf8')) as { vmPid: number; daemonPid: number };
  return { pod, ctr, vmPid: rec.vmPid, daemonPid: rec.daemonPid };
}

async function removePod(pod: string, ctr: string): Promise<void> {
  await cri.removeContainer(ctr);
  await cri.stopPodSandbox(pod);
  await cri.removePodSandbox(pod);
  await assertNoLeftovers(shim, c!.dir);
}

test(`${kind} hypervisor: a pod whose policy lets the host read gets its output and exit code`, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const r = await runPod(`${kind}-open`, initData(PERMISSIVE_POLICY), 'echo from-the-real-agent; exit 4');
  assert.equal(r.exitCode, 4);
  assert.match(r.log, /stdout F from-the-real-agent/);
  if (kind === 'process') {
    // the image build made the agent's startup snapshot, and this pod's agent ran from it
    assert.ok(existsSync(agentBlobPath(join(guestImageDir(), AGENT_BUNDLE))), 'the guest image has the agent snapshot');
    const rec = JSON.parse(readFileSync(join(c.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', r.pod, 'cocolet-shim.json'), 'utf8')) as { vmPid: number };
    assert.ok(readFileSync(`/proc/${rec.vmPid}/cmdline`, 'utf8').split('\0').includes('--snapshot-blob'), 'the agent started from its snapshot');
  }
  await removePod(r.pod, r.ctr);
});

test(`${kind} hypervisor: the confidential default policy keeps output from the host; the exit code still comes back`, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const r = await runPod(`${kind}-closed`, initData(), 'echo secret-output; exit 6');
  assert.equal(r.exitCode, 6);
  assert.doesNotMatch(r.log, /secret-output/);
  await removePod(r.pod, r.ctr);
});

test(`${kind} hypervisor: ContainerStats reads the running container's cgroup in the guest; the VM killed -9 → the container exits (137), containerd sees it, nothing is left`, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const { pod, ctr, vmPid } = await startSleeper(`${kind}-killed`);
  assert.equal((await cri.containerStatus(ctr))?.state, ContainerState.CONTAINER_RUNNING);
  // containerd → shim Stats → agent StatsContainer → the container's cgroup inside the guest
  const stats = await cri.containerStats(ctr);
  assert.equal(stats?.attributes?.id, ctr);
  assert.ok((stats?.cpu?.usageCoreNanoSeconds?.value ?? 0n) > 0n, `CPU usage of the running container: ${String(stats?.cpu?.usageCoreNanoSeconds?.value)}`);
  assert.ok((stats?.memory?.workingSetBytes?.value ?? 0n) > 0n, `memory working set: ${String(stats?.memory?.workingSetBytes?.value)}`);
  process.kill(vmPid, 'SIGKILL');
  const st = await waitFor(async () => {
    const s = await cri.containerStatus(ctr);
    return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
  }, { what: 'containerd to see the exit', timeoutMs: 30_000 });
  assert.equal(st.exitCode, 137);
  await removePod(pod, ctr);
});

test(`${kind} hypervisor: the kubelet's cpuset pins the VM's vCPU threads (CreateContainer, then UpdateContainerResources), its NUMA nodes (io.cocolet.numa-nodes) bind the guest RAM, and the guest never sees host CPU numbers`, async (t) => {
  if (kind !== 'qemu') return t.skip('only a QEMU VM has vCPU threads');
  if (!c) return t.skip(skip ?? 'containerd is not available');
  if (!have('taskset')) return t.skip('taskset (util-linux) is not installed');
  const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const last = Number(online.split(/[,-]/).pop());
  const first = Number(online.split(/[,-]/)[0]);
  const open = openSandboxConfig(`${kind}-pinned`);
  // what the kubelet puts on the sandbox for a pod the Static memory manager gave NUMA node 0
  const sandboxConfig = { ...open, annotations: { ...open.annotations, 'io.cocolet.numa-nodes': '0' } };
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet').catch((e: unknown) => {
    throw new Error(`RunPodSandbox failed: ${(e as Error).message}\ncontainerd log:\n${c!.containerd.logTail(40)}`);
  });
  const ctr = await cri.createContainer(pod, {
    metadata: { name: 'pinned' }, image: { image: reg.image }, command: ['/bin/sleep', '300'], logPath: 'pinned.log',
    // what the kubelet's static CPU manager sets for a Guaranteed container with 1 exclusive CPU
    linux: { resources: { cpusetCpus: String(last) }, securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  }, sandboxConfig);
  await cri.startContainer(ctr).catch((e: unknown) => {
    throw new Error(`StartContainer failed: ${(e as Error).message}\ncontainerd log:\n${c!.containerd.logTail(40)}`);
  });
  assert.equal((await cri.containerStatus(ctr))?.state, ContainerState.CONTAINER_RUNNING, 'the guest ran the container although its cpuset names host CPUs');
  const rec = JSON.parse(readFileSync(join(c.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', pod, 'cocolet-shim.json'), 'utf8')) as { vmPid: number };
  const allowed = (): string[] => vcpuThreads(rec.vmPid).map((th) => threadAffinity(rec.vmPid, th.tid) ?? '?');
  assert.ok(vcpuThreads(rec.vmPid).length >= 1, 'QEMU has vCPU threads');
  const bound = readFileSync(`/proc/${rec.vmPid}/numa_maps`, 'utf8').split('\n').filter((l) => / bind:/.test(l));
  assert.equal(bound.length, 1, 'one bound mapping: the guest RAM');
  assert.match(bound[0]!, /^[0-9a-f]+ bind:0 /);
  await waitFor(() => allowed().every((a) => a === String(last)), { what: `vCPU threads pinned to CPU ${last} (now ${allowed().join(' ')})`, timeoutMs: 30_000 });
  await cri.updateContainerResources(ctr, { cpusetCpus: String(first) });
  await waitFor(() => allowed().every((a) => a === String(first)), { what: `vCPU threads re-pinned to CPU ${first} (now ${allowed().join(' ')})`, timeoutMs: 30_000 });
  await cri.stopContainer(ctr, 0);
  await removePod(pod, ctr);
});

test(`${kind} hypervisor: the host agent's containers get the kubelet's cpuset (cpuset.cpus and cpuset.mems through its runc)`, async (t) => {
  if (kind !== 'process') return t.skip('a VM guest gets no host CPU or NUMA numbers (the VM is pinned and bound instead)');
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const last = Number(online.split(/[,-]/).pop());
  const sandboxConfig = openSandboxConfig(`${kind}-cpuset`);
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet');
  const marker = '3011';
  const ctr = await cri.createContainer(pod, {
    metadata: { name: 'cpuset' }, image: { image: reg.image }, command: ['/bin/sleep', marker], logPath: 'cpuset.log',
    // what the kubelet's static CPU and memory managers set for a Guaranteed container
    linux: { resources: { cpusetCpus: String(last), cpusetMems: '0' }, securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  }, sandboxConfig);
  await cri.startContainer(ctr);
  const pid = await waitFor(() => processesMatching(`sleep ${marker}`)[0], { what: 'the container process on the host', timeoutMs: 60_000 });
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.equal(/^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1], String(last));
  assert.equal(/^Mems_allowed_list:\s*(\S+)/m.exec(status)?.[1], '0');
  await cri.stopContainer(ctr, 0);
  await removePod(pod, ctr);
});

test(`${kind} hypervisor: ctr run (no CRI) with the image named by annotation — output and exit code come back`, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const r = await run('ctr', [
    '-a', c.address, '-n', 'k8s.io', 'run', '--rm', '--fifo-dir', h.tempDir('ccf-'), '--runtime', 'io.containerd.cocolet.v2',
    '--annotation', `io.kubernetes.cri.image-name=${reg.image}`,
    '--annotation', `io.katacontainers.config.hypervisor.cc_init_data=${initData(PERMISSIVE_POLICY)}`,
    reg.image, `${kind}-ctr`, '/bin/sh', '-c', 'echo ctr-through-the-agent; exit 9',
  ], 120_000);
  assert.equal(r.stdout, 'ctr-through-the-agent\n', r.stderr);
  assert.equal(r.code, 9);
  await assertNoLeftovers(shim, c.dir);
});

test(`${kind} hypervisor: the shim killed -9 → containerd's delete stops the VM and its helpers, nothing is left`, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const { pod, ctr, daemonPid } = await startSleeper(`${kind}-shimkill`);
  process.kill(daemonPid, 'SIGKILL');
  await waitFor(async () => (await cri.containerStatus(ctr))?.state === ContainerState.CONTAINER_EXITED, { what: 'containerd to see the task gone', timeoutMs: 30_000 });
  await removePod(pod, ctr);
});
}
