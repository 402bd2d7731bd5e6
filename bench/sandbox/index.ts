/**
 * `npm run bench -- sandbox`: time from RunPodSandbox to a started container through containerd's
 * CRI, in one run on one containerd, for
 *   - runc (the peer: containerd's own shim),
 *   - cocolet with the `process` hypervisor (the real agent as a local process on containerd's rootfs;
 *     goal <= 1.5x runc),
 *   - cocolet with the `qemu` hypervisor (microVM + swtpm), when the guest image exists, with a
 *     breakdown from the shim's log: VM start, agent ready, CreateSandbox, and the container part.
 * Then the exec round trip (exec.ts: ExecSync and a streaming exec of `echo hi` in a running pod) for
 * the same three, side by side.
 * Options: --runs N (default 5 for runc/process, 2 for qemu), --exec-runs N (default 20), --no-exec, --no-qemu,
 * --base-shim <shim entry> (a second `process` handler running another build of the shim, pod by pod
 * beside this one). Like run-tests, it first
 * brings the guest image up to date (a quick check when nothing changed; COCOLET_SKIP_GUEST_IMAGE=1
 * skips it): qemu boots it, and the process hypervisor starts its agent bundle while it is current.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BenchReport, percentile } from '../report.js';
import { launchContainerd, type Containerd } from '../../host/containerd/launcher.js';
import { containerdSkipReason, imageCacheDir } from '../../e2e/support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { BUSYBOX_IMAGE, ensureStandardImages } from '../../host/images/oci.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { startRegistry, type TestRegistry } from '../../e2e/guest/registry.js';
import { initdataToml } from '../../e2e/guest/agent-client.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { Harness, have } from '../../shared/testing/harness.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { measureExec, type ExecSamples } from './exec.js';
import { shimBundlePath } from '../../host/shim/pack.js';

const SHIM_ENTRY = shimBundlePath();
const argv = process.argv.slice(2);
const runsArg = argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Math.max(1, Number(argv[runsArg + 1]) || 5) : 5;
const QEMU_RUNS = runsArg >= 0 ? RUNS : 2;
const execRunsArg = argv.indexOf('--exec-runs');
const EXEC_RUNS = argv.includes('--no-exec') ? 0 : execRunsArg >= 0 ? Math.max(1, Number(argv[execRunsArg + 1]) || 20) : 20;

interface Sample {
  totalMs: number;
  runPodMs: number;
  createMs: number;
  startMs: number;
}

function shimWrapper(dir: string, name: string, config: string, entry = SHIM_ENTRY): void {
  const p = join(dir, `containerd-shim-${name}-v2`);
  // (the entry itself, as installed: the shim binary's own header or #! line picks how Node starts)
  writeFileSync(p, `#!/bin/sh\nCOCOLET_SHIM_CONFIG=${JSON.stringify(config)} exec ${JSON.stringify(entry)} "$@"\n`);
  chmodSync(p, 0o755);
}

async function onePod(cri: CriClient, handler: string, image: string, i: number, annotations: Record<string, string>, logDirectory: string): Promise<Sample> {
  const name = `bench-${handler || 'runc'}-${i}`;
  const cfg = { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 }, hostname: name, logDirectory, annotations, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
  const t0 = performance.now();
  const pod = await cri.runPodSandbox(cfg, handler);
  const t1 = performance.now();
  // (pid CONTAINER: what the kubelet sends for a pod without shareProcessNamespace)
  const ctr = await cri.createContainer(pod, { metadata: { name: 'main' }, image: { image }, command: ['/bin/sleep', '300'], logPath: `${name}.log`, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, cfg);
  const t2 = performance.now();
  await cri.startContainer(ctr);
  const t3 = performance.now();
  await cri.stopPodSandbox(pod);
  await cri.removePodSandbox(pod);
  return { totalMs: t3 - t0, runPodMs: t1 - t0, createMs: t2 - t1, startMs: t3 - t2 };
}

/** The shim's "sandbox ready" lines in containerd's log (they arrive through the bundle's log FIFO). */
function sandboxBreakdowns(logPath: string): Array<{ vmStartMs: number; agentReadyMs: number; createSandboxMs: number }> {
  const out = [];
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    const i = line.indexOf('{"level"');
    if (i < 0 || !line.includes('sandbox ready')) continue;
    try {
      const j = JSON.parse(line.slice(i)) as { vmStartMs: number; agentReadyMs: number; createSandboxMs: number; kind?: string };
      out.push(j);
    } catch {
      /* not ours */
    }
  }
  return out;
}

/** The agent entries the process hypervisor started (its "agent process started" lines). */
function agentEntries(logPath: string): string[] {
  const seen = new Set<string>();
  for (const m of readFileSync(logPath, 'utf8').matchAll(/"entry":"([^"]+)"(,"snapshot":(true|false))?[^\n]*"msg":"agent process started"/g)) seen.add(m[1]!.endsWith('.js') ? 'compiled' : m[3] === 'true' ? 'bundle from its startup snapshot' : 'bundle');
  return [...seen];
}

const median = (xs: number[]): number => percentile(xs, 50);

/** Another shim entry (e.g. main's build before a change) run as handler cocolet-base beside this one: --base-shim <path>. */
const baseArg = argv.indexOf('--base-shim');
const baseShim = baseArg >= 0 ? argv[baseArg + 1] : undefined;

/** The daemon's start-up phases (host/shim/phases.ts), in ms after `start` was exec'd, one per sandbox. */
function startupPhases(logPath: string): Array<Record<string, number>> {
  const out = [];
  for (const m of readFileSync(logPath, 'utf8').matchAll(/"phases":(\{[^}]*\})/g)) out.push(JSON.parse(m[1]!) as Record<string, number>);
  return out;
}

async function main(): Promise<void> {
  const why = containerdSkipReason() ?? (have('docker-registry') && have('skopeo') ? undefined : 'docker-registry and skopeo are needed');
  if (why) {
    console.log(`bench sandbox: skipped: ${why}`);
    return;
  }
  let imageNote = '';
  if (process.env.COCOLET_SKIP_GUEST_IMAGE !== '1') {
    try {
      const img = await buildGuestImage();
      imageNote = `guest image ${img.rebuilt ? 'rebuilt' : 'up to date'}`;
    } catch (e) {
      imageNote = `guest image not built: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  const h = new Harness();
  const work = mkdtempSync(join(tmpdir(), 'ccb-'));
  h.defer('bench dir', () => rmSync(work, { recursive: true, force: true }));
  let c: Containerd | undefined;
  try {
    const shimDir = join(work, 'bin');
    mkdirSync(shimDir);
    const conf = (kind: string): string => {
      const p = join(work, `${kind}.toml`);
      // A TCG guest on this loaded machine can need over a minute to measure its init-data and answer CreateSandbox.
      const agent = kind === 'qemu' ? '[agent]\ndial_timeout = 300\ncreate_container_timeout = 300\n' : '';
      writeFileSync(p, `[hypervisor]\nkind = "${kind}"\n${agent}[runtime]\nsocket_dir = "${join(work, 's')}"\nstate_dir = "${join(work, 'state')}"\n`);
      return p;
    };
    shimWrapper(shimDir, 'cocolet', conf('process'));
    shimWrapper(shimDir, 'cocoletqemu', conf('qemu'));
    if (baseShim) shimWrapper(shimDir, 'cocoletbase', conf('process'), baseShim);
    const withQemu = !argv.includes('--no-qemu') && have('qemu-system-x86_64') && have('swtpm') && existsSync(join(guestImageDir(), 'manifest.json'));
    c = await launchContainerd({ dir: join(work, 'c'), shimDir, extraRuntimes: { 'cocolet-qemu': { runtimeType: 'io.containerd.cocoletqemu.v2', podAnnotations: ['io.katacontainers.*'] }, ...(baseShim ? { 'cocolet-base': { runtimeType: 'io.containerd.cocoletbase.v2', podAnnotations: ['io.katacontainers.*'] } } : {}) } });
    const cri = new CriClient({ endpoint: c.address });
    h.defer('cri', () => cri.close());
    await ensureStandardImages({ address: c.address, cacheDir: imageCacheDir(), cri });
    const reg: TestRegistry = await startRegistry(h);
    const tag = (ref: string): void => void spawnSync('ctr', ['-a', c!.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, ref]);
    const qemuImage = reg.image.replace('127.0.0.1:', '10.0.2.2:');
    // One registry name at a time: CRI puts one of an image's names into io.kubernetes.cri.image-name.
    tag(reg.image);
    const init = (host: string): Record<string, string> => ({ 'io.katacontainers.config.hypervisor.cc_init_data': gzipSync(initdataToml({ policy: PERMISSIVE_POLICY, insecureRegistries: [host] })).toString('base64') });
    const logs = h.tempDir('ccb-logs-');

    /**
     * Pod by pod in turn (runc, process[, base]), so a burst of other load hits both sides alike; the
     * order rotates each round, so no side always follows the same one (a pod's teardown still runs
     * while the next starts: measured, the side after runc started its Node ~35 ms later).
     */
    const interleaved = async (sides: Array<{ handler: string; image: string; ann: Record<string, string> }>, n: number): Promise<Sample[][]> => {
      for (const s of sides) await onePod(cri, s.handler, s.image, -1, s.ann, logs); // warm-up (snapshot, image and page caches)
      const out: Sample[][] = sides.map(() => []);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < sides.length; j++) {
          const k = (i + j) % sides.length;
          const s = sides[k]!;
          out[k]!.push(await onePod(cri, s.handler, s.image, i, s.ann, logs));
        }
      }
      return out;
    };
    const measure = async (handler: string, image: string, n: number, ann: Record<string, string>): Promise<Sample[]> => {
      await onePod(cri, handler, image, -1, ann, logs); // warm-up (snapshot, image and page caches)
      const xs: Sample[] = [];
      for (let i = 0; i < n; i++) xs.push(await onePod(cri, handler, image, i, ann, logs));
      return xs;
    };
    const sides = [{ handler: '', image: BUSYBOX_IMAGE, ann: {} }, { handler: 'cocolet', image: reg.image, ann: init(reg.host) }];
    if (baseShim) sides.push({ handler: 'cocolet-base', image: reg.image, ann: init(reg.host) });
    const [runc, proc, base] = (await interleaved(sides, RUNS)) as [Sample[], Sample[], Sample[] | undefined];
    const phases = startupPhases(c.layout.logPath).slice(1); // skip the warm-up
    const report = new BenchReport('sandbox');
    const rm = median(runc.map((s) => s.totalMs));
    report.add({ figure: 'pod_to_started_container_process_p50', unit: 'ms', value: median(proc.map((s) => s.totalMs)), peer: 'runc', peer_value: rm, better: 'lower' });
    report.add({ figure: 'run_pod_sandbox_process_p50', unit: 'ms', value: median(proc.map((s) => s.runPodMs)), peer: 'runc', peer_value: median(runc.map((s) => s.runPodMs)), better: 'lower' });
    const phase = (k: string): number[] => phases.map((p) => p[k]).filter((v): v is number => v !== undefined);
    if (phase('listening').length) {
      report.add({ figure: 'process_shim_listening_p50', unit: 'ms', value: median(phase('listening')), peer: 'runc_run_pod_sandbox', peer_value: median(runc.map((s) => s.runPodMs)), better: 'lower' });
      report.add({ figure: 'process_agent_up_p50', unit: 'ms', value: median(phase('agentUp')), peer: 'runc_run_pod_sandbox', peer_value: median(runc.map((s) => s.runPodMs)), better: 'lower' });
    }
    if (base) {
      report.add({ figure: 'pod_to_started_container_process_p50', unit: 'ms', value: median(proc.map((s) => s.totalMs)), peer: 'base_shim', peer_value: median(base.map((s) => s.totalMs)), better: 'lower' });
      report.add({ figure: 'run_pod_sandbox_process_p50', unit: 'ms', value: median(proc.map((s) => s.runPodMs)), peer: 'base_shim', peer_value: median(base.map((s) => s.runPodMs)), better: 'lower' });
      report.add({ figure: 'create_plus_start_container_process_p50', unit: 'ms', value: median(proc.map((s) => s.createMs + s.startMs)), peer: 'base_shim', peer_value: median(base.map((s) => s.createMs + s.startMs)), better: 'lower' });
    }
    report.add({ figure: 'create_plus_start_container_process_p50', unit: 'ms', value: median(proc.map((s) => s.createMs + s.startMs)), peer: 'runc', peer_value: median(runc.map((s) => s.createMs + s.startMs)), better: 'lower' });
    let runcExec: ExecSamples | undefined;
    const addExec = (kind: string, x: ExecSamples): void => {
      if (!runcExec) return;
      report.add({ figure: `exec_sync_echo_${kind}_p50`, unit: 'ms', value: median(x.execSyncMs), peer: 'runc', peer_value: median(runcExec.execSyncMs), better: 'lower' });
      report.add({ figure: `exec_stream_echo_${kind}_p50`, unit: 'ms', value: median(x.streamMs), peer: 'runc', peer_value: median(runcExec.streamMs), better: 'lower' });
    };
    if (EXEC_RUNS > 0) {
      runcExec = await measureExec({ cri, handler: '', image: BUSYBOX_IMAGE, annotations: {}, logDirectory: logs, runs: EXEC_RUNS });
      addExec('process', await measureExec({ cri, handler: 'cocolet', image: reg.image, annotations: init(reg.host), logDirectory: logs, runs: EXEC_RUNS }));
    }
    if (withQemu) {
      spawnSync('ctr', ['-a', c.address, '-n', 'k8s.io', 'images', 'rm', reg.image]);
      tag(qemuImage);
      const before = sandboxBreakdowns(c.layout.logPath).length;
      const q = await measure('cocolet-qemu', qemuImage, QEMU_RUNS, init(`10.0.2.2:${reg.port}`));
      const bd = sandboxBreakdowns(c.layout.logPath).slice(before + 1); // skip the warm-up VM
      report.add({ figure: 'pod_to_started_container_qemu_p50', unit: 'ms', value: median(q.map((s) => s.totalMs)), peer: 'runc', peer_value: rm, better: 'lower' });
      if (bd.length) {
        report.add({ figure: 'qemu_vm_start_p50', unit: 'ms', value: median(bd.map((b) => b.vmStartMs)), peer: 'runc_run_pod_sandbox', peer_value: median(runc.map((s) => s.runPodMs)), better: 'lower' });
        report.add({ figure: 'qemu_agent_ready_p50', unit: 'ms', value: median(bd.map((b) => b.agentReadyMs + b.createSandboxMs)), peer: 'runc_run_pod_sandbox', peer_value: median(runc.map((s) => s.runPodMs)), better: 'lower' });
      }
      report.add({ figure: 'qemu_container_create_start_p50', unit: 'ms', value: median(q.map((s) => s.createMs + s.startMs)), peer: 'runc', peer_value: median(runc.map((s) => s.createMs + s.startMs)), better: 'lower' });
      if (runcExec) addExec('qemu', await measureExec({ cri, handler: 'cocolet-qemu', image: qemuImage, annotations: init(`10.0.2.2:${reg.port}`), logDirectory: logs, runs: EXEC_RUNS }));
      report.note(`qemu: ${QEMU_RUNS} run(s) after one warm-up; VM start = hypervisor start until QEMU runs, agent ready = agent answered + CreateSandbox; container part includes the in-guest image pull`);
    } else {
      report.note('qemu: skipped (needs qemu-system-x86_64, swtpm and the guest image: npm run guest-image)');
    }
    report.note(`runc and process: ${RUNS} runs each after one warm-up; the process hypervisor is NOT confidential (the agent runs on the host) and runs containers on containerd's rootfs (no pull; qemu pulls in the guest)`);
    if (runcExec) report.note(`exec: ${EXEC_RUNS} ExecSync and ${EXEC_RUNS} streaming execs of echo hi per runtime (alternating, after 2 warm-ups of each) in one running pod; streaming = CRI Exec + WebSocket upgrade at containerd's streaming server + output + exit status`);
    if (imageNote) report.note(imageNote);
    report.note(`runc and process (and base) measured pod by pod in turn; shim listening / agent up = ms after containerd exec'd the shim's start (its 'shim start-up' log line); agent entry: ${agentEntries(c.layout.logPath).join(', ') || 'unknown'} (the guest image's bundle when current, else the compiled tree)`);
    report.print();
    if (process.env.COCOLET_BENCH_SHIM_LOG) writeFileSync(process.env.COCOLET_BENCH_SHIM_LOG, readFileSync(c.layout.logPath)); // for profiling the shim
  } catch (e) {
    if (c) console.error(c.logTail(40));
    throw e;
  } finally {
    await c?.stop().catch(() => {});
    await h.dispose().catch(() => {});
  }
}

await main();
