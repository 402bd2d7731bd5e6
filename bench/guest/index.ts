/**
 * `npm run bench -- guest`: the guest image and agent.
 *  - boot to agent ready (Health SERVING over virtio-serial) vs the same image whose init only
 *    starts Node and prints a line (goal: ratio <= 1.15), medians of interleaved runs; and boot to
 *    the first CreateSandbox answered (sent right after Health);
 *  - Health.Check round trip and a 1 MiB CopyFile over virtio-serial (the confidential agent's only
 *    transport) vs the same agent bundle as a host process on a unix socket (no VM);
 *  - agent RSS idle and with 10 runc containers, inside the VM (GetMetrics) and as a host process
 *    (the same bundle), vs a bare idle Node process;
 *  - bundle size vs its unbundled inputs; the start path's entry file vs the whole bundle; npm packages inside the bundle vs the project's
 *    installed production packages.
 * Env: BENCH_BOOTS (default 5; medians of interleaved boots).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchReport, percentile } from '../report.js';
import { Harness, have, isRoot, readIfExists, waitFor } from '../../shared/testing/harness.js';
import { createClient } from '../../shared/ttrpc/index.js';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { ProcessHypervisor } from '../../host/vmm/process.js';
import { buildGuestImage, type ImageManifest } from '../../guest/image/build.js';
import { CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { connectAgent, containerRequest, initdataToml } from '../../e2e/guest/agent-client.js';
import { startRegistry, type TestRegistry } from '../../e2e/guest/registry.js';
import { connectAgent as connectVmAgent } from '../../host/vmm/agent-connect.js';

const median = (xs: number[]): number => percentile(xs, 50);

function rssOf(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) / 1024 : 0;
}

const COPY_PATH = `/run/kata-containers/shared/containers/${'b'.repeat(64)}-0123456789abcdef-blob`;
const MIB = Buffer.alloc(1024 * 1024, 7);

/** Milliseconds per 1 MiB CopyFile (median of 5) through an agent client. */
async function copyMiB(agent: { copyFile: (r: object) => Promise<unknown> }): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    await agent.copyFile({ path: COPY_PATH, data: MIB, fileSize: BigInt(MIB.length), fileMode: 0o100644, uid: -1, gid: -1 });
    ts.push(performance.now() - s);
  }
  return median(ts);
}

async function bootAgent(h: Harness, n: number): Promise<{ readyMs: number; sandboxMs: number; rtt: number[]; copy?: number }> {
  const t0 = performance.now();
  const vm = await new QemuHypervisor().start({ id: `bench-${n}`, stateDir: join(h.tempDir('cocolet-bench-vm-'), 'vm') });
  try {
    const c = await connectAgent(vm.agentSocketPath);
    await waitFor(() => c.health.check({ service: '' }, { timeoutMs: 100 }).then(() => true, () => false), { what: 'agent ready', timeoutMs: 120_000, intervalMs: 5 });
    const readyMs = performance.now() - t0;
    // the first real RPC after ready (its codecs and handlers load on first use)
    await c.agent.createSandbox({ hostname: 'bench', sandboxId: `bench-${n}` }, { timeoutMs: 60_000 });
    const sandboxMs = performance.now() - t0;
    const rtt: number[] = [];
    let copy: number | undefined;
    if (n === 0) {
      rtt.push(...(await healthRtts(c.health)));
      copy = await copyMiB(c.agent);
    }
    c.conn.close();
    return { readyMs, sandboxMs, rtt, copy };
  } finally {
    await vm.stop();
  }
}

async function healthRtts(health: { check: (r: { service: string }) => Promise<unknown> }): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    await health.check({ service: '' });
    out.push(performance.now() - s);
  }
  return out;
}

/** The peer of the transport figures: the same bundle as a host process (NOT confidential) on a unix socket. */
async function processAgentTransport(h: Harness, manifest: ImageManifest, imageDir: string): Promise<{ rtt: number[]; copy: number }> {
  const vm = await new ProcessHypervisor({ agentEntry: join(imageDir, manifest.files.bundle) }).start({ id: 'transport', stateDir: join(h.tempDir('cocolet-bench-unix-'), 'agent') });
  try {
    const c = await connectAgent(vm.agentSocketPath);
    await c.health.check({ service: '' });
    const rtt = await healthRtts(c.health);
    const copy = await copyMiB(c.agent);
    c.conn.close();
    return { rtt, copy };
  } finally {
    await vm.stop();
  }
}

async function bootHello(h: Harness, n: number): Promise<number> {
  const t0 = performance.now();
  const vm = await new QemuHypervisor({ extraCmdline: ['cocolet_mode=hello'] }).start({ id: `hello-${n}`, stateDir: join(h.tempDir('cocolet-bench-vm-'), 'vm') });
  try {
    await waitFor(() => readIfExists(vm.consoleLogPath).includes('COCOLET_NODE_HELLO'), { what: 'hello line', timeoutMs: 120_000, intervalMs: 10 });
    return performance.now() - t0;
  } finally {
    await vm.stop();
  }
}

/** Agent RSS inside the VM (GetMetrics, allowed by the bench's policy): idle, then with 10 running containers. */
async function agentRssInVm(h: Harness, registryPort: number): Promise<{ idle: number; busy: number }> {
  const policy = { ...CONFIDENTIAL_DEFAULT_POLICY, name: 'bench', rules: { ...CONFIDENTIAL_DEFAULT_POLICY.rules, GetMetrics: { allow: true } } };
  const vm = await new QemuHypervisor().start({ id: 'bench-rss', stateDir: join(h.tempDir('cocolet-bench-vm-'), 'vm'), initdata: initdataToml({ policy, insecureRegistries: [`10.0.2.2:${registryPort}`] }) });
  try {
    const conn = await connectVmAgent(vm, { timeoutMs: 180_000 });
    const agent = createClient(AgentService, conn);
    const rss = async (): Promise<number> => {
      const m = (await agent.getMetrics({})).metrics.match(/cocolet_agent_resident_memory_bytes (\d+)/);
      return m ? Number(m[1]) / 1048576 : 0;
    };
    await new Promise((r) => setTimeout(r, 500));
    const idle = await rss();
    const image = `10.0.2.2:${registryPort}/cocolet/busybox:1`;
    for (let i = 0; i < 10; i++) {
      await agent.createContainer(containerRequest(`v${i}`, image, ['/bin/sleep', '1000']), { timeoutMs: 120_000 });
      await agent.startContainer({ containerId: `v${i}` }, { timeoutMs: 120_000 });
    }
    const busy = await rss();
    await agent.destroySandbox({}, { timeoutMs: 120_000 });
    conn.close();
    return { idle, busy };
  } finally {
    await vm.stop();
  }
}

async function agentRss(h: Harness, manifest: ImageManifest, imageDir: string, reg: TestRegistry): Promise<{ idle: number; busy: number; node: number }> {
  const hv = new ProcessHypervisor({ agentEntry: join(imageDir, manifest.files.bundle) });
  const vm = await hv.start({ id: 'rss', stateDir: join(h.tempDir('cocolet-bench-rss-'), 'agent'), initdata: initdataToml({ policy: PERMISSIVE_POLICY, insecureRegistries: [reg.host] }) });
  h.defer('rss agent', () => vm.stop());
  const c = await connectAgent(vm.agentSocketPath);
  await c.health.check({ service: '' });
  await new Promise((r) => setTimeout(r, 500));
  const idle = rssOf(vm.pid);
  for (let i = 0; i < 10; i++) {
    await c.agent.createContainer(containerRequest(`b${i}`, reg.image, ['/bin/sleep', '1000']));
    await c.agent.startContainer({ containerId: `b${i}` });
  }
  const busy = rssOf(vm.pid);
  await c.agent.destroySandbox({});
  c.conn.close();
  await vm.stop();
  const bare = h.start(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)']);
  await bare.waitForOutput(/up/);
  await new Promise((r) => setTimeout(r, 500));
  const node = rssOf(bare.pid);
  await bare.stop();
  return { idle, busy, node };
}

async function main(): Promise<void> {
  if (!isRoot() || !have('qemu-system-x86_64') || !have('swtpm')) {
    console.log('bench guest: skipped: needs root, qemu-system-x86_64 and swtpm (scripts/setup)');
    return;
  }
  const h = new Harness();
  const rep = new BenchReport('guest');
  try {
    const built = await buildGuestImage({});
    const m = built.manifest;
    const boots = Number(process.env.BENCH_BOOTS ?? 5);
    const agentMs: number[] = [];
    const sandboxMs: number[] = [];
    const helloMs: number[] = [];
    let rtt: number[] = [];
    let copy: number | undefined;
    for (let i = 0; i < boots; i++) {
      helloMs.push(await bootHello(h, i));
      const a = await bootAgent(h, i);
      agentMs.push(a.readyMs);
      sandboxMs.push(a.sandboxMs);
      if (i === 0) {
        rtt = a.rtt;
        copy = a.copy;
      }
    }
    rep.add({ figure: 'boot_to_agent_ready_ms', unit: 'ms', value: median(agentMs), peer: 'same image, init starts node and prints', peer_value: median(helloMs), better: 'lower' });
    rep.add({ figure: 'boot_to_first_create_sandbox_ms', unit: 'ms', value: median(sandboxMs), peer: 'same image, init starts node and prints', peer_value: median(helloMs), better: 'lower' });
    const unix = await processAgentTransport(h, m, built.dir);
    const peer = 'same agent as a host process, unix socket (no VM)';
    rep.add({ figure: 'health_rtt_p50_virtio_serial', unit: 'ms', value: median(rtt), peer, peer_value: median(unix.rtt), better: 'lower' });
    rep.add({ figure: 'health_rtt_p99_virtio_serial', unit: 'ms', value: percentile(rtt, 99), peer, peer_value: percentile(unix.rtt, 99), better: 'lower' });
    if (copy !== undefined) rep.add({ figure: 'copyfile_1MiB_virtio_serial', unit: 'ms', value: copy, peer, peer_value: unix.copy, better: 'lower' });
    if (have('runc') && have('docker-registry') && have('skopeo')) {
      const reg = await startRegistry(h);
      const r = await agentRss(h, m, built.dir, reg);
      const v = await agentRssInVm(h, reg.port);
      rep.add({ figure: 'agent_rss_idle_in_vm', unit: 'MiB', value: v.idle, peer: 'bare idle node (host)', peer_value: r.node, better: 'lower' });
      rep.add({ figure: 'agent_rss_10_containers_in_vm', unit: 'MiB', value: v.busy, peer: 'same agent idle in vm', peer_value: v.idle, better: 'lower' });
      rep.add({ figure: 'agent_rss_idle_host_process', unit: 'MiB', value: r.idle, peer: 'bare idle node (host)', peer_value: r.node, better: 'lower' });
      rep.add({ figure: 'agent_rss_10_containers_host_process', unit: 'MiB', value: r.busy, peer: 'bare idle node (host)', peer_value: r.node, better: 'lower' });
    } else {
      rep.note('agent RSS skipped: needs runc, docker-registry and skopeo');
    }
    rep.add({ figure: 'agent_bundle_size', unit: 'KiB', value: m.sizes.bundle / 1024, peer: 'unbundled inputs', peer_value: m.bundleInputBytes / 1024, better: 'lower' });
    rep.add({ figure: 'agent_bundle_start_path_size', unit: 'KiB', value: m.sizes.bundleEntry / 1024, peer: 'whole bundle (ESM entry + CommonJS file)', peer_value: m.sizes.bundle / 1024, better: 'lower' });
    let prodPackages = 0;
    try {
      prodPackages = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').length - 1;
    } catch (e) {
      prodPackages = ((e as { stdout?: string }).stdout ?? '').trim().split('\n').length - 1;
    }
    rep.add({ figure: 'agent_bundle_npm_packages', unit: 'count', value: m.bundlePackages.length, peer: 'project production packages', peer_value: prodPackages, better: 'lower' });
    rep.note(`boots agent ms [${agentMs.map(Math.round).join(' ')}], first CreateSandbox ms [${sandboxMs.map(Math.round).join(' ')}], hello ms [${helloMs.map(Math.round).join(' ')}]; accel per host probe`);
    rep.note(`bundle packages: ${m.bundlePackages.join(', ')}`);
    rep.print();
  } finally {
    await h.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
