/**
 * Starting and stopping the kubelets under test of the cluster benches (bench/cluster and
 * bench/cluster-ready): cocolet through its launcher, the upstream kubelet with its
 * KubeletConfiguration, and the wait for the Node's Ready condition.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { waitFor, type Harness, type RunningProcess } from '../../shared/testing/harness.js';
import { launchContainerd, mountsUnder } from '../../host/containerd/launcher.js';
import { CriClient } from '../../host/cri/client.js';
import { ensureStandardImages } from '../../host/images/oci.js';
import { freePort } from '../../host/images/registry.js';
import { clusterBinDir, startControlPlane, type ControlPlane } from '../../host/cluster/controlplane.js';
import { containerdSkipReason, imageCacheDir } from '../../e2e/support/containerd.js';
import { clusterSkipReason } from '../../e2e/support/cluster.js';
import type { BenchReport } from '../report.js';

const root = process.env.COCOLET_ROOT ?? process.cwd();

/** A kubelet process under test. */
export interface NodeProcess {
  name: string;
  proc: RunningProcess;
  logFile: string;
  /** performance.now() right after the spawn (what first Ready is measured from). */
  startedAt: number;
}

/** The host's first global IPv4 address (the upstream kubelet refuses a loopback node IP). */
export function hostIPv4(): string | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === 'lo' || name.startsWith('cni') || name.startsWith('cclt')) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  return undefined;
}

/**
 * The kubelet kinds of `COCOLET_BENCH_KUBELETS`: `upstream` (undefined), `cocolet`, or
 * `cocolet+NAME=VALUE+...` (cocolet with those environment variables added, e.g.
 * `cocolet+COCOLET_BUNDLE=1`): the variables of a cocolet kind.
 */
export function kindEnv(kind: string, bench: string): Record<string, string> | undefined {
  const [base, ...vars] = kind.split('+');
  if (base === 'upstream' && !vars.length) return undefined;
  if (base !== 'cocolet') throw new Error(`${bench}: unknown kubelet ${kind} in COCOLET_BENCH_KUBELETS (cocolet, cocolet+NAME=VALUE..., upstream)`);
  const env: Record<string, string> = {};
  for (const v of vars) {
    const i = v.indexOf('=');
    if (i < 1) throw new Error(`${bench}: ${v} in ${kind} is not NAME=VALUE`);
    env[v.slice(0, i)] = v.slice(i + 1);
  }
  return env;
}

/** cocolet `up --kubeconfig` as the user runs it; `env` is added to this process's environment. */
export async function startCocolet(h: Harness, dir: string, cp: ControlPlane, endpoint: string, name: string, env: Record<string, string> = {}): Promise<NodeProcess> {
  const kubeconfig = await cp.nodeKubeconfig(name);
  const logFile = join(dir, 'cocolet.log');
  const fd = openSync(logFile, 'a');
  // Through the launcher (bin/cocolet: the bundle with its code cache, node's memory flags,
  // MALLOC_ARENA_MAX=2), as a user runs it; exec keeps the pid the node process's.
  // COCOLET_BENCH_PLAIN_NODE=1: plain node running the ES modules.
  const plain = process.env.COCOLET_BENCH_PLAIN_NODE === '1';
  const proc = h.start(
    plain ? process.execPath : join(root, 'bin', 'cocolet'),
    [...(plain ? [join(root, 'dist', 'host', 'cmd', 'cocolet.js')] : []), 'up', '--kubeconfig', kubeconfig, '--container-runtime-endpoint', endpoint, '--node-name', name, '--node-ip', '127.0.0.1', '--no-confidential', '--state-dir', join(dir, 'state')],
    { stdio: ['ignore', fd, fd], env: { ...process.env, NODE: process.execPath, COCOLET_LOG_LEVEL: process.env.COCOLET_LOG_LEVEL ?? 'warn', ...env } },
  );
  const startedAt = performance.now();
  closeSync(fd);
  return { name, proc, logFile, startedAt };
}

export async function startUpstream(h: Harness, dir: string, cp: ControlPlane, endpoint: string, name: string, nodeIp: string | undefined): Promise<NodeProcess> {
  const rootDir = join(dir, 'root');
  const certDir = join(dir, 'certs');
  for (const d of [rootDir, certDir, join(dir, 'logs')]) mkdirSync(d, { recursive: true });
  // KubeletConfiguration v1beta1 (JSON is YAML). cgroupfs: the test containerd's runc does not use
  // the systemd cgroup driver (and there is no systemd here); no swap check; no static pods.
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: true,
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${endpoint}`,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: cp.pki.caFile } },
    authorization: { mode: 'Webhook' },
    address: '127.0.0.1',
    port: await freePort(),
    healthzBindAddress: '127.0.0.1',
    healthzPort: await freePort(),
    readOnlyPort: 0,
    maxPods: 110,
    podLogsDir: join(dir, 'logs'),
  };
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const logFile = join(dir, 'kubelet.log');
  const fd = openSync(logFile, 'a');
  const args = ['--config', configFile, '--kubeconfig', await cp.nodeKubeconfig(name), '--root-dir', rootDir, '--cert-dir', certDir, '--hostname-override', name, ...(nodeIp ? ['--node-ip', nodeIp] : [])];
  const proc = h.start(join(clusterBinDir(), 'kubelet'), args, { stdio: ['ignore', fd, fd], cwd: dir });
  const startedAt = performance.now();
  closeSync(fd);
  return { name, proc, logFile, startedAt };
}

export const tail = (file: string, n = 25): string => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
};

/** Waits for the node's Ready condition, then for the node controller to lift its taints. */
export async function nodeReady(core: k8s.CoreV1Api, n: NodeProcess, t0: number): Promise<number> {
  let exited = false;
  void n.proc.exited.then(() => (exited = true));
  let readyAt = 0;
  await waitFor(
    async () => {
      if (exited) throw new Error(`bench cluster: kubelet ${n.name} exited before its node was Ready:\n${tail(n.logFile)}`);
      const node = await core.readNode({ name: n.name }).catch(() => undefined);
      const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (ready && !readyAt) readyAt = performance.now();
      return ready && !(node?.spec?.taints ?? []).length ? true : undefined;
    },
    { what: `node ${n.name} Ready and untainted`, timeoutMs: 180_000, intervalMs: 100 },
  );
  return (readyAt - t0) / 1000;
}

/** Stops and removes every pod sandbox in containerd (what a stopped kubelet left behind). */
export async function clearRuntime(cri: CriClient): Promise<number> {
  const sandboxes = await cri.listPodSandbox();
  for (const s of sandboxes) {
    await cri.stopPodSandbox(s.id).catch(() => undefined);
    await cri.removePodSandbox(s.id).catch(() => undefined);
  }
  return sandboxes.length;
}

const CGROUP_V1 = '/sys/fs/cgroup';
/** The cgroup v1 controllers that have no `kubepods` cgroup yet (the upstream kubelet makes one). */
function cgroupsWithoutKubepods(): string[] {
  if (!existsSync(CGROUP_V1)) return [];
  return readdirSync(CGROUP_V1).filter((c) => existsSync(join(CGROUP_V1, c, 'cgroup.procs')) && !existsSync(join(CGROUP_V1, c, 'kubepods')));
}

/** Removes the (empty by now) `kubepods` cgroup trees the run created, deepest first. */
function removeKubepods(controllers: string[]): void {
  const rm = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      /* busy or gone: left as it is */
    }
  };
  for (const c of controllers) {
    const d = join(CGROUP_V1, c, 'kubepods');
    if (existsSync(d)) rm(d);
  }
}

/** What both kubelets run against: containerd with the standard images and a control plane. */
export interface TestBed {
  base: string;
  containerd: { address: string; pid: number };
  cri: CriClient;
  cp: ControlPlane;
  /** The admin's kubeconfig. */
  kc: k8s.KubeConfig;
}

/**
 * Starts containerd (standard images imported) and the control plane in a temp dir of `h`; all of
 * it, mounts under the dir and the kubepods cgroups the upstream kubelet makes, go with `h.dispose()`.
 */
export async function startTestBed(h: Harness, prefix: string, say: (m: string) => void): Promise<TestBed> {
  const base = h.tempDir(prefix);
  h.defer('mounts under the bench dir', () => {
    for (const m of mountsUnder(base)) spawnSync('umount', ['-l', m]);
  });
  const fresh = cgroupsWithoutKubepods();
  h.defer('kubepods cgroups of the upstream kubelet', () => removeKubepods(fresh));
  const containerd = await launchContainerd({ dir: join(base, 'ctrd') });
  h.defer('containerd', () => containerd.stop());
  const cri = new CriClient({ endpoint: containerd.address });
  h.defer('cri client', () => cri.close());
  await ensureStandardImages({ address: containerd.address, cacheDir: imageCacheDir(), cri });
  say('starting the control plane');
  const cp = await startControlPlane({ dir: join(base, 'cp') });
  h.defer('control plane', () => cp.stop());
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.adminKubeconfig);
  return { base, containerd, cri, cp, kc };
}

/** Whether the cluster benches cannot run here (then the report says why and is printed). */
export function skippedBench(report: BenchReport): boolean {
  const why = containerdSkipReason() ?? clusterSkipReason();
  if (!why) return false;
  report.note(`skipped: ${why}`);
  report.print();
  return true;
}

/** Ctrl-C / SIGTERM dispose of `h` (every process and directory) and exit 130; returns the undo. */
export function disposeOnSignal(h: Harness, say: (m: string) => void): () => void {
  const onSignal = (): void => {
    say('interrupted; cleaning up');
    void h.dispose().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
