/**
 * `npm run bench -- cluster`: cocolet as a node of a real control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler v1.34.4 from `scripts/build-cluster`) against the
 * upstream kubelet v1.34.4 of the same release, on the same containerd, one after the other:
 *
 *   1. Pod start through the API server: a busybox pod created through the API (the scheduler
 *      binds it) → phase Running with every container running, observed by a watch; p50/p99 over
 *      `COCOLET_BENCH_PODS` (50) pods created one at a time (`COCOLET_BENCH_CONCURRENCY`, 1).
 *   2. Steady state with `COCOLET_BENCH_STEADY_PODS` (100) pods running: the kubelet process's
 *      CPU seconds (utime+stime of it and its reaped children, /proc/<pid>/stat) over
 *      `COCOLET_BENCH_WINDOW_S` (60) seconds after a `COCOLET_BENCH_SETTLE_S` (10) s settle, and
 *      its RSS (largest VmRSS sampled in the window); plus containerd's and kube-apiserver's CPU in
 *      the same window (what the kubelet makes them do).
 *
 * Each kubelet gets its own node name and the only Node of the cluster (the previous one's pods
 * are deleted through the API, the kubelet stopped, its Node deleted and any sandbox it left
 * removed through the CRI), so the scheduler places every pod on the kubelet under test; pods do
 * not set nodeName. `COCOLET_BENCH_KUBELETS=cocolet,upstream` picks which run and in what order
 * (`cocolet+NAME=VALUE` also runs cocolet with that environment variable, reported in rows of its own).
 * Every process, pod and directory is removed at the end, also on failure or Ctrl-C.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { BenchReport, percentile } from '../report.js';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { clusterBinDir, K8S_VERSION, type ControlPlane } from '../../host/cluster/controlplane.js';
import { clearRuntime, disposeOnSignal, skippedBench, hostIPv4, kindEnv, nodeReady, startCocolet, startTestBed, startUpstream, tail } from './nodes.js';

const env = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`bench cluster: ${name}=${v} is not a non-negative number`);
  return n;
};
const PODS = env('COCOLET_BENCH_PODS', 50);
const STEADY_PODS = Math.max(PODS, env('COCOLET_BENCH_STEADY_PODS', 100));
const CONCURRENCY = Math.max(1, env('COCOLET_BENCH_CONCURRENCY', 1));
const WINDOW_S = env('COCOLET_BENCH_WINDOW_S', 60);
const SETTLE_S = env('COCOLET_BENCH_SETTLE_S', 10);
const KUBELETS = (process.env.COCOLET_BENCH_KUBELETS ?? 'cocolet,upstream').split(',').map((s) => s.trim()).filter(Boolean);
const NS = 'bench';
const CLK_TCK = 100; // USER_HZ on Linux
const UPSTREAM = `upstream kubelet ${K8S_VERSION}`;

interface ApiPod {
  metadata?: { name?: string; resourceVersion?: string };
  status?: { phase?: string; containerStatuses?: { state?: { running?: unknown } }[] };
}

interface Result {
  startMs: number[];
  cpuS: number;
  rssMiB: number;
  containerdCpuS: number;
  apiserverCpuS: number;
  readyS: number;
}

const say = (m: string): void => void process.stderr.write(`[bench cluster ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** utime+stime+cutime+cstime of `pid` in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function podSpec(name: string): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'bench' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }],
    },
  };
}

const isRunning = (p: ApiPod): boolean => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).length > 0 && p.status.containerStatuses!.every((c) => Boolean(c.state?.running));

/** One watch over the bench namespace for a whole kubelet run; re-watches if the server ends it. */
class PodWatch {
  private readonly waiters = new Map<string, () => void>();
  private readonly running = new Set<string>();
  private rv = '';
  private ctl: AbortController | undefined;
  private stopped = false;
  private failure: string | undefined;

  constructor(private readonly kc: k8s.KubeConfig) {}

  async start(): Promise<void> {
    const list = await this.kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: NS });
    this.rv = list.metadata?.resourceVersion ?? '';
    for (const p of list.items) if (isRunning(p as ApiPod)) this.running.add(p.metadata!.name!);
    await this.watch();
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    this.ctl = await new k8s.Watch(this.kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { resourceVersion: this.rv, allowWatchBookmarks: true },
      (type: string, obj: ApiPod) => {
        if (obj.metadata?.resourceVersion) this.rv = obj.metadata.resourceVersion;
        const name = obj.metadata?.name;
        if (type === 'ERROR') {
          this.failure = `watch error: ${JSON.stringify(obj).slice(0, 300)}`;
          return;
        }
        if (!name || type === 'BOOKMARK') return;
        if (type !== 'DELETED' && isRunning(obj)) {
          if (!this.running.has(name)) {
            this.running.add(name);
            const w = this.waiters.get(name);
            this.waiters.delete(name);
            w?.();
          }
        } else this.running.delete(name);
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (err) say(`pod watch ended (${String(err)}); watching again`);
        setTimeout(() => void this.watch().catch((e: unknown) => (this.failure = String(e))), err ? 500 : 0);
      },
    );
  }

  /** Resolves when the pod is seen Running (or at once when it already was). */
  runningPromise(name: string): Promise<void> {
    if (this.running.has(name)) return Promise.resolve();
    return new Promise((r) => this.waiters.set(name, r));
  }

  get runningCount(): number {
    return this.running.size;
  }

  get error(): string | undefined {
    return this.failure;
  }

  stop(): void {
    this.stopped = true;
    this.ctl?.abort();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`bench cluster: ${what} not within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(t));
}

/** Deletes the bench pods through the API (graceful) and waits until the kubelet confirmed each. */
async function deletePods(core: k8s.CoreV1Api): Promise<void> {
  await core.deleteCollectionNamespacedPod({ namespace: NS });
  try {
    await waitFor(async () => ((await core.listNamespacedPod({ namespace: NS })).items.length === 0 ? true : undefined), { what: 'bench pods deleted', timeoutMs: 240_000, intervalMs: 500 });
  } catch {
    say('pods not gone after 240 s; forcing');
    await core.deleteCollectionNamespacedPod({ namespace: NS, gracePeriodSeconds: 0 });
  }
}


async function runOne(kind: string, env: Record<string, string> | undefined, h: Harness, cp: ControlPlane, kc: k8s.KubeConfig, endpoint: string, containerdPid: number, cri: CriClient, base: string): Promise<Result> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  // (a variant's name is short: the node name is also its kubernetes.io/hostname label, <= 63 characters)
  const tag = env && kind !== 'cocolet' ? `cocolet-${KUBELETS.indexOf(kind)}` : kind;
  const name = `${tag}-bench`;
  const dir = join(base, tag);
  mkdirSync(dir, { recursive: true });
  const n = env ? await startCocolet(h, dir, cp, endpoint, name, env) : await startUpstream(h, dir, cp, endpoint, name, hostIPv4());
  const watch = new PodWatch(kc);
  try {
    const t0 = n.startedAt;
    const readyS = await nodeReady(core, n, t0);
    say(`${kind}: node ${name} Ready in ${readyS.toFixed(1)} s, untainted after ${((performance.now() - t0) / 1000).toFixed(1)} s (pid ${n.proc.pid}); load ${loadavg()[0]!.toFixed(1)}`);
    await watch.start();

    const create = async (i: number): Promise<number> => {
      const pname = `p${i}`;
      const seen = watch.runningPromise(pname);
      const start = performance.now();
      await core.createNamespacedPod({ namespace: NS, body: podSpec(pname) });
      await withTimeout(seen, 180_000, `pod ${pname} Running on ${name}`);
      return performance.now() - start;
    };
    const startMs: number[] = [];
    const perPod: { pod: string; ms: number }[] = [];
    let next = 0;
    const worker = async (upto: number, record: boolean): Promise<void> => {
      while (next < upto) {
        const i = next++;
        const ms = await create(i);
        if (watch.error) throw new Error(watch.error);
        if (!record) continue;
        startMs.push(ms);
        perPod.push({ pod: `p${i}`, ms });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(PODS, true)));
    say(`${kind}: ${PODS} pods started, p50 ${percentile(startMs, 50).toFixed(0)} ms p99 ${percentile(startMs, 99).toFixed(0)} ms; filling to ${STEADY_PODS}`);
    // The tail, with what the kubelet itself reported as wrong meanwhile (its Warning events).
    const slowest = [...perPod].sort((a, b) => b.ms - a.ms).slice(0, 3);
    const warnings = new Map<string, number>();
    for (const e of (await core.listNamespacedEvent({ namespace: NS }).catch(() => ({ items: [] as k8s.CoreV1Event[] }))).items) {
      if (e.type !== 'Warning' || e.source?.host !== name) continue;
      const m = e.message ?? '';
      const key = `${e.reason ?? '?'} on ${e.involvedObject.name ?? '?'}: ${m.length > 200 ? `${m.slice(0, 60)} … ${m.slice(-140)}` : m}`;
      warnings.set(key, (warnings.get(key) ?? 0) + (e.count ?? 1));
    }
    say(`${kind}: slowest ${slowest.map((x) => `${x.pod} ${x.ms.toFixed(0)} ms`).join(', ')}; kubelet warnings: ${warnings.size === 0 ? 'none' : [...warnings].map(([k, n]) => `${n}x ${k}`).join('; ')}`);
    await Promise.all(Array.from({ length: 10 }, () => worker(STEADY_PODS, false)));
    await waitFor(() => (watch.runningCount >= STEADY_PODS ? true : undefined), { what: `${STEADY_PODS} pods Running`, timeoutMs: 300_000, intervalMs: 500 });
    say(`${kind}: ${STEADY_PODS} pods Running; settling ${SETTLE_S} s, then measuring ${WINDOW_S} s`);
    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));

    const apiserver = cp.component('kube-apiserver')!.pid;
    const c0 = [cpuSeconds(n.proc.pid), cpuSeconds(containerdPid), cpuSeconds(apiserver)];
    let rss = rssMiB(n.proc.pid);
    const end = Date.now() + WINDOW_S * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(5000, Math.max(0, end - Date.now()))));
      rss = Math.max(rss, rssMiB(n.proc.pid));
    }
    const c1 = [cpuSeconds(n.proc.pid), cpuSeconds(containerdPid), cpuSeconds(apiserver)];
    if (watch.runningCount < STEADY_PODS) throw new Error(`bench cluster: only ${watch.runningCount} of ${STEADY_PODS} pods still Running after the window on ${name}`);
    const r: Result = { startMs, cpuS: c1[0]! - c0[0]!, rssMiB: rss, containerdCpuS: c1[1]! - c0[1]!, apiserverCpuS: c1[2]! - c0[2]!, readyS };
    say(`${kind}: CPU ${r.cpuS.toFixed(2)} s / ${WINDOW_S} s, RSS ${rss.toFixed(0)} MiB, containerd ${r.containerdCpuS.toFixed(2)} s, apiserver ${r.apiserverCpuS.toFixed(2)} s; load ${loadavg()[0]!.toFixed(1)}`);
    return r;
  } catch (e) {
    say(`${kind}: failed; kubelet log tail:\n${tail(n.logFile)}`);
    throw e;
  } finally {
    watch.stop();
    // Leave the cluster and the runtime empty for the next kubelet, whatever happened.
    await deletePods(core).catch((e: unknown) => say(`deleting pods: ${String(e)}`));
    await n.proc.stop(20_000);
    await core.deleteNode({ name }).catch(() => undefined);
    const left = await clearRuntime(cri).catch(() => 0);
    say(`${kind}: stopped; ${left} sandboxes removed from containerd`);
  }
}

async function main(): Promise<number> {
  const report = new BenchReport('cluster');
  if (skippedBench(report)) return 0;
  const upstreamBin = join(clusterBinDir(), 'kubelet');
  const upstreamWhy = existsSync(upstreamBin) ? undefined : `${upstreamBin} missing (scripts/build-cluster builds it)`;
  const h = new Harness();
  const undoSignals = disposeOnSignal(h, say);
  const results = new Map<string, Result | string>();
  try {
    const { base, containerd: c, cri, cp, kc } = await startTestBed(h, 'ccbc-', say);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await waitFor(async () => ((await core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).catch(() => undefined)) ? true : undefined), { what: `ServiceAccount ${NS}/default`, timeoutMs: 60_000, intervalMs: 250 });
    for (const kind of KUBELETS) {
      const env = kindEnv(kind, 'bench cluster');
      if (kind === 'upstream' && upstreamWhy) {
        results.set(kind, upstreamWhy);
        continue;
      }
      try {
        results.set(kind, await runOne(kind, env, h, cp, kc, c.address, c.pid, cri, base));
      } catch (e) {
        results.set(kind, e instanceof Error ? e.message.split('\n')[0]! : String(e));
      }
    }
  } finally {
    await h.dispose();
    undoSignals();
  }

  const up = results.get('upstream');
  const peer = typeof up === 'object' ? UPSTREAM : `${UPSTREAM} (unavailable: ${up ?? 'not run'})`;
  const pv = (f: (r: Result) => number): number => (typeof up === 'object' ? f(up) : Number.NaN);
  let failed = false;
  let rows = 0;
  for (const [kind, co] of results) {
    if (kind === 'upstream') continue;
    if (typeof co !== 'object') {
      report.note(`${kind}: ${co}`);
      failed = true;
      continue;
    }
    // cocolet's rows keep their names; a variant's carry its variables
    rows++;
    const v = kind === 'cocolet' ? '' : `_${kind.slice('cocolet+'.length).replace(/[^A-Za-z0-9]+/g, '_')}`;
    for (const p of [50, 99]) {
      report.add({ figure: `pod_start_api_p${p}_n${PODS}${v}`, unit: 'ms', value: percentile(co.startMs, p), peer, peer_value: pv((r) => percentile(r.startMs, p)), better: 'lower' });
    }
    report.add({ figure: `steady_cpu_${STEADY_PODS}_pods${v}`, unit: `CPU s/${WINDOW_S} s`, value: co.cpuS, peer, peer_value: pv((r) => r.cpuS), better: 'lower' });
    report.add({ figure: `steady_rss_${STEADY_PODS}_pods${v}`, unit: 'MiB', value: co.rssMiB, peer, peer_value: pv((r) => r.rssMiB), better: 'lower' });
    report.add({ figure: `containerd_cpu_${STEADY_PODS}_pods${v}`, unit: `CPU s/${WINDOW_S} s`, value: co.containerdCpuS, peer, peer_value: pv((r) => r.containerdCpuS), better: 'lower' });
    report.add({ figure: `apiserver_cpu_${STEADY_PODS}_pods${v}`, unit: `CPU s/${WINDOW_S} s`, value: co.apiserverCpuS, peer, peer_value: pv((r) => r.apiserverCpuS), better: 'lower' });
    report.add({ figure: `node_ready${v}`, unit: 's', value: co.readyS, peer, peer_value: pv((r) => r.readyS), better: 'lower' });
  }
  if (!rows) {
    if (!failed) report.note('cocolet: not run');
    report.print();
    return failed ? 1 : 0;
  }
  report.note(`pod start: POST of a busybox pod (no nodeName; the scheduler binds it) → phase Running with its container running, seen on a watch of the namespace; ${PODS} pods, concurrency ${CONCURRENCY}; then filled to ${STEADY_PODS} pods 10 at a time`);
  report.note(`steady: ${STEADY_PODS} pods Running, ${SETTLE_S} s settle, then CPU (utime+stime incl. reaped children, /proc/<pid>/stat) over ${WINDOW_S} s and the largest VmRSS sampled every 5 s; containerd / kube-apiserver CPU in the same window`);
  report.note('node_ready: kubelet process start → the Node\'s Ready condition True (pods are created only once the node controller has also lifted its taints)');
  report.note(`same containerd 1.6 (runc, cgroupfs), same control plane; cocolet = \`${process.env.COCOLET_BENCH_PLAIN_NODE === '1' ? 'node dist/host/cmd/cocolet.js' : `bin/cocolet (launcher: ${process.env.COCOLET_BUNDLE === '0' ? 'the ES modules' : 'the one-file bundle with its V8 code cache'}, --max-semi-space-size=2 --heap-growing-percent=20, MALLOC_ARENA_MAX=2)`} up --kubeconfig\` (--node-ip 127.0.0.1); upstream = the kubelet binary of the control plane release, cgroupfs, cgroupsPerQOS, webhook authn/authz, node IP = the host address (it refuses loopback)`);
  if (typeof up !== 'object') report.note(`upstream: ${up ?? 'not run'}`);
  report.print();
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench cluster: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
