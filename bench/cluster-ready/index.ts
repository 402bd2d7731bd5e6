/**
 * `npm run bench -- cluster-ready`: first Node Ready, cocolet against the upstream kubelet v1.34.4,
 * started again and again on one containerd and one control plane (bench/cluster's test bed): a
 * single start says little on a shared machine, so each kubelet starts `COCOLET_BENCH_TRIALS` (7)
 * times, alternating, and the figure is the median (and the worst) of process start → the Node's
 * Ready condition True.
 *
 * Each start is a new node as in bench/cluster: a fresh root dir, no Node object yet (it is deleted
 * after each start), no pods.
 *
 * `COCOLET_BENCH_KUBELETS` (cocolet,upstream) picks the kubelets; a kind `cocolet+NAME=VALUE...`
 * runs cocolet with those environment variables added (e.g. `cocolet+COCOLET_NODE_FLAGS=` for no
 * launcher V8 flags), reported as its own row against the upstream kubelet.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { BenchReport, percentile } from '../report.js';
import { Harness } from '../../shared/testing/harness.js';
import { K8S_VERSION, clusterBinDir } from '../../host/cluster/controlplane.js';
import { clearRuntime, disposeOnSignal, skippedBench, hostIPv4, kindEnv, nodeReady, startCocolet, startTestBed, startUpstream, type NodeProcess } from '../cluster/nodes.js';

const TRIALS = Number(process.env.COCOLET_BENCH_TRIALS ?? 7);
if (!Number.isInteger(TRIALS) || TRIALS < 1) throw new Error(`bench cluster-ready: COCOLET_BENCH_TRIALS=${process.env.COCOLET_BENCH_TRIALS} is not a positive integer`);
const KINDS = (process.env.COCOLET_BENCH_KUBELETS ?? 'cocolet,upstream').split(',').map((s) => s.trim()).filter(Boolean);

const say = (m: string): void => void process.stderr.write(`[bench cluster-ready ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function main(): Promise<number> {
  const report = new BenchReport('cluster-ready');
  if (skippedBench(report)) return 0;
  const envs = new Map(KINDS.map((k) => [k, kindEnv(k, 'bench cluster-ready')]));
  const upstreamBin = join(clusterBinDir(), 'kubelet');
  const kinds = KINDS.filter((k) => envs.get(k) !== undefined || existsSync(upstreamBin));
  const h = new Harness();
  const undoSignals = disposeOnSignal(h, say);
  const times = new Map<string, number[]>(kinds.map((k) => [k, []]));
  const loads: number[] = [];
  try {
    const { base, containerd, cri, cp, kc } = await startTestBed(h, 'ccbr-', say);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const nodeIp = hostIPv4();
    for (let t = 0; t < TRIALS; t++) {
      for (const [i, kind] of kinds.entries()) {
        const env = envs.get(kind);
        const name = `ready-${i}`;
        const dir = join(base, `${name}-${t}`);
        mkdirSync(dir, { recursive: true });
        const n: NodeProcess = env ? await startCocolet(h, dir, cp, containerd.address, name, env) : await startUpstream(h, dir, cp, containerd.address, name, nodeIp);
        try {
          const s = await nodeReady(core, n, n.startedAt);
          times.get(kind)!.push(s);
          loads.push(loadavg()[0]!);
          say(`${kind} #${t + 1}: Ready in ${s.toFixed(2)} s; load ${loadavg()[0]!.toFixed(1)}`);
        } finally {
          await n.proc.stop(20_000);
          await core.deleteNode({ name }).catch(() => undefined);
          await clearRuntime(cri).catch(() => 0);
        }
      }
    }
  } finally {
    await h.dispose();
    undoSignals();
  }
  const peer = `upstream kubelet ${K8S_VERSION}`;
  const up = times.get('upstream');
  for (const [kind, ts] of times) {
    if (kind === 'upstream') continue;
    const tag = kind === 'cocolet' ? '' : `_${kind.slice('cocolet+'.length).replace(/[^A-Za-z0-9]+/g, '_')}`;
    for (const p of [50, 100]) {
      report.add({ figure: `node_ready${tag}_${p === 50 ? 'p50' : 'max'}_n${TRIALS}`, unit: 's', value: percentile(ts, p), peer: up ? peer : `${peer} (not run)`, peer_value: up ? percentile(up, p) : Number.NaN, better: 'lower' });
    }
  }
  for (const [kind, ts] of times) report.note(`${kind}: ${ts.map((x) => x.toFixed(2)).join(' ')} s`);
  report.note(`kubelet process start → Node Ready condition True (polled every 100 ms), ${TRIALS} starts each, alternating; load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`);
  report.note(`cocolet = bin/cocolet up --kubeconfig (${process.env.COCOLET_BENCH_PLAIN_NODE === '1' ? 'plain node' : 'the launcher'}); upstream = the kubelet binary of the control plane release (bench/cluster's configuration)`);
  report.print();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench cluster-ready: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
