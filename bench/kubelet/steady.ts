/**
 * Child process of the kubelet benchmark: steady-state CPU and RSS with N pods on the fake CRI.
 *   node steady.js kubelet <pods> <windowMs>  → a Kubelet (real clock, generic PLEG at 1 s) running N pods
 *   node steady.js bare <pods> <windowMs>     → the same pods in the fake CRI and a bare 1 s list loop
 * Prints one JSON line: { cpuMsPerSec, rssMiB }.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeCri } from '../../host/cri/fake.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { testPod, TEST_IMAGE } from '../../host/kubelet/testing.js';
import { bareRelist } from './peers.js';

const [mode, podsArg, windowArg] = process.argv.slice(2);
const pods = Number(podsArg ?? 110);
const windowMs = Number(windowArg ?? 5000);

async function main(): Promise<void> {
  const cri = new FakeCri({ images: [TEST_IMAGE], recordCalls: false });
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-bench-'));
  let stop: () => Promise<void>;
  if (mode === 'kubelet') {
    const k = new Kubelet({
      settings: {
        config: { ...defaultKubeletConfiguration(), maxPods: pods + 10, podLogsDir: join(dir, 'logs') },
        rootDir: dir,
        nodeName: 'bench',
        runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
      },
      cri,
      images: cri,
      statusFile: false,
      makeLogDirs: false,
      noSources: true,
      extraSources: ['bench'],
    });
    await k.start();
    k.podConfig.set('bench', Array.from({ length: pods }, (_, i) => testPod(`p${i}`)));
    const deadline = Date.now() + 60_000;
    while (k.status.all().filter((r) => r.status.phase === 'Running').length < pods && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop = () => k.stop();
  } else {
    cri.populate(pods);
    const t = setInterval(() => void bareRelist(cri), 1000);
    stop = () => Promise.resolve(clearInterval(t));
  }
  // Let start-up work settle (the second sync of every pod after its PLEG events), then measure.
  await new Promise((r) => setTimeout(r, 3000 + pods * 3));
  (globalThis as { gc?: () => void }).gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const c1 = process.cpuUsage(c0);
  if (process.env.COCOLET_BENCH_DEBUG) process.stderr.write(`${JSON.stringify(Object.fromEntries(cri.callCounts))}\n`);
  const secs = (performance.now() - t0) / 1000;
  const rssMiB = process.memoryUsage().rss / (1024 * 1024);
  await stop();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ cpuMsPerSec: (c1.user + c1.system) / 1000 / secs, rssMiB })}\n`);
  process.exit(0);
}

void main();
