/**
 * `npm run bench -- kubelet [pods]` (default 50 pods).
 *
 * 1. Pod start latency on real containerd + runc (root only): manifest written → all containers
 *    Running in the kubelet's status, p50/p99 over N pods started one at a time; peer: the bare
 *    CRI call sequence for the same pod spec on the same containerd, interleaved in rounds of 10
 *    so both see the same load (goal ratio ≤ 1.15).
 * 2. PLEG relist CPU time per relist at 100 / 1,000 / 5,000 containers (2 per pod) on the fake
 *    CRI; peer: the bare list calls plus one pass over their items (the linear reference).
 * 3. Steady-state CPU (ms of CPU per second) and RSS with 110 and 1,000 pods on the fake CRI, each
 *    in its own process; peer: a process holding the same pods in the fake CRI and running only a
 *    bare 1 s list loop.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchReport, percentile } from '../report.js';
import { FakeCri } from '../../host/cri/fake.js';
import { CriClient } from '../../host/cri/client.js';
import { PodCache } from '../../host/kubelet/pleg/cache.js';
import { Pleg } from '../../host/kubelet/pleg/pleg.js';
import { realClock } from '../../host/kubelet/clock.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { launchContainerd } from '../../host/containerd/launcher.js';
import { BUSYBOX_IMAGE, ensureStandardImages } from '../../host/images/oci.js';
import { containerdSkipReason, imageCacheDir } from '../../e2e/support/containerd.js';
import { bareRelist, bareRemovePod, bareStartPod, type BarePod } from './peers.js';

const N = Number(process.argv[2] ?? 50);
const report = new BenchReport('kubelet');
const here = dirname(fileURLToPath(import.meta.url));

async function podStartLatency(): Promise<void> {
  const why = containerdSkipReason();
  if (why) {
    report.note(`pod start latency skipped: ${why}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ccb-'));
  const c = await launchContainerd({ dir: join(dir, 'ctrd') });
  const cri = new CriClient({ endpoint: c.address });
  let kubelet: Kubelet | undefined;
  try {
    await ensureStandardImages({ address: c.address, cacheDir: imageCacheDir(), cri });
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    kubelet = new Kubelet({
      settings: {
        config: { ...defaultKubeletConfiguration(), staticPodPath: manifests, podLogsDir: join(dir, 'logs'), containerRuntimeEndpoint: c.address },
        rootDir: join(dir, 'root'),
        nodeName: 'bench',
        runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
      },
      cri,
      images: cri,
    });
    await kubelet.start();
    const k = kubelet;
    const kubeletMs: number[] = [];
    const bareMs: number[] = [];
    const runningWaiters = new Map<string, () => void>();
    k.status.onChange((_uid, r) => {
      if (!r || r.status.phase !== 'Running' || !r.status.containerStatuses.every((s) => s.state.running)) return;
      const name = r.pod.metadata.name;
      runningWaiters.get(name)?.();
      runningWaiters.delete(name);
    });
    const round = 10;
    for (let base = 0; base < N; base += round) {
      const n = Math.min(round, N - base);
      const bare: BarePod[] = [];
      for (let i = base; i < base + n; i++) {
        const name = `p${i}`;
        const running = new Promise<void>((r) => runningWaiters.set(`${name}-bench`, r));
        const t0 = performance.now();
        writeFileSync(
          join(manifests, `${name}.json`),
          JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'bench' }, spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', 'exec sleep 3600'] }] } }),
        );
        await running;
        kubeletMs.push(performance.now() - t0);
        const t1 = performance.now();
        const logDir = join(dir, 'bare', name);
        mkdirSync(join(logDir, 'main'), { recursive: true });
        bare.push(await bareStartPod(cri, `bare-${name}`, `bare-uid-${i}`, BUSYBOX_IMAGE, logDir));
        bareMs.push(performance.now() - t1);
      }
      // Clean up the round (not timed).
      for (let i = base; i < base + n; i++) rmSync(join(manifests, `p${i}.json`));
      await Promise.all(bare.map((p) => bareRemovePod(cri, p)));
      const deadline = Date.now() + 60_000;
      while (k.status.all().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    for (const p of [50, 99]) {
      report.add({ figure: `pod_start_p${p}_n${N}`, unit: 'ms', value: percentile(kubeletMs, p), peer: 'bare CRI sequence (same containerd)', peer_value: percentile(bareMs, p), better: 'lower' });
    }
    report.note(`pod start: manifest file written → status Running with every container running; bare = ImageStatus+RunPodSandbox+CreateContainer+StartContainer+ContainerStatus; ${N} pods, interleaved in rounds of 10`);
  } finally {
    if (kubelet) {
      await kubelet.stopAllPods(0);
      await kubelet.stop();
    }
    cri.close();
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function plegRelist(): Promise<void> {
  for (const containers of [100, 1000, 5000]) {
    const cri = new FakeCri({ images: [], recordCalls: false });
    cri.populate(containers / 2, 2);
    const cache = new PodCache();
    const pleg = new Pleg({ cri, cache, clock: realClock, onEvent: () => undefined });
    await pleg.relist(); // first relist inspects every pod
    const rounds = containers >= 5000 ? 20 : 100;
    let t = cpuMs();
    for (let i = 0; i < rounds; i++) await pleg.relist();
    const plegMs = (cpuMs() - t) / rounds;
    t = cpuMs();
    for (let i = 0; i < rounds; i++) await bareRelist(cri);
    const bareMs = (cpuMs() - t) / rounds;
    report.add({ figure: `pleg_relist_cpu_${containers}_containers`, unit: 'ms/relist', value: plegMs, peer: 'bare list calls + one pass (fake CRI)', peer_value: bareMs, better: 'lower' });
  }
  report.note('PLEG relist: steady state (no changes), fake in-memory CRI; both sides include the fake CRI building the list responses');
}

function steady(): void {
  const script = join(here, 'steady.js');
  for (const pods of [110, 1000]) {
    const run = (mode: string): { cpuMsPerSec: number; rssMiB: number } => {
      const r = spawnSync(process.execPath, ['--expose-gc', script, mode, String(pods), '5000'], { encoding: 'utf8', timeout: 120_000 });
      const line = r.stdout.trim().split('\n').pop() ?? '{}';
      return JSON.parse(line) as { cpuMsPerSec: number; rssMiB: number };
    };
    const k = run('kubelet');
    const b = run('bare');
    report.add({ figure: `steady_cpu_${pods}_pods`, unit: 'ms CPU/s', value: k.cpuMsPerSec, peer: 'bare 1 s list loop, same pods (fake CRI)', peer_value: b.cpuMsPerSec, better: 'lower' });
    report.add({ figure: `steady_rss_${pods}_pods`, unit: 'MiB', value: k.rssMiB, peer: 'same process without the kubelet', peer_value: b.rssMiB, better: 'lower' });
  }
}

async function main(): Promise<void> {
  await podStartLatency();
  await plegRelist();
  steady();
  report.print();
  process.exit(0);
}

void main();
