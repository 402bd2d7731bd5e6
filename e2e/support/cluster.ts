/**
 * Test fixture: a real Kubernetes control plane (etcd, kube-apiserver, controller-manager,
 * scheduler from `scripts/build-cluster`) in a temp dir, always stopped and removed afterwards.
 *
 *   await withCluster(t, {}, async (cp) => { ... kubectl(cp, ['get', 'nodes']) ... });
 *   // or, for a whole file:
 *   const h = new Harness(); after(() => h.dispose());
 *   const cp = await startCluster(h, t, { nodeMonitorGracePeriod: '20s' });  // undefined → skipped
 *
 * Skips with one line when the binaries are absent (no Go to build them: `scripts/build-cluster`).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Harness } from '../../shared/testing/harness.js';
import { clusterBinDir, missingBinaries, startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../host/cluster/controlplane.js';

interface Skippable {
  skip(message?: string): void;
}

/** Why the cluster tests cannot run here, or undefined when they can. */
export function clusterSkipReason(): string | undefined {
  const missing = missingBinaries();
  return missing.length ? `control plane not built (${missing.join(', ')} missing in ${clusterBinDir()}; scripts/build-cluster)` : undefined;
}

/** Starts a control plane owned by `h` (stopped and its dir removed on `h.dispose()`). */
export async function startCluster(h: Harness, t?: Skippable, opts: Partial<ControlPlaneOptions> = {}): Promise<ControlPlane | undefined> {
  const why = clusterSkipReason();
  if (why) {
    t?.skip(why);
    return undefined;
  }
  const dir = opts.dir ?? h.tempDir('cocolet-cp-');
  const cp = await startControlPlane({ ...opts, dir });
  h.defer(`control plane ${dir}`, () => cp.stop());
  return cp;
}

/** Runs `fn` against a fresh control plane; stops it and removes its dir whatever happens. */
export async function withCluster<T>(t: Skippable, opts: Partial<ControlPlaneOptions>, fn: (cp: ControlPlane) => Promise<T>): Promise<T | undefined> {
  const h = new Harness();
  try {
    const cp = await startCluster(h, t, opts);
    return cp ? await fn(cp) : undefined;
  } finally {
    await h.dispose();
  }
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl as the cluster admin (or with `kubeconfig`); never throws. */
export function kubectlRun(cp: ControlPlane, args: string[], o: { kubeconfig?: string; input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = spawn(cp.kubectl, [`--kubeconfig=${o.kubeconfig ?? cp.adminKubeconfig}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: o.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ code: -1, stdout, stderr: `${stderr}${e.message}` }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => undefined); // kubectl may exit before reading its input
    child.stdin.end(o.input ?? '');
  });
}

/** kubectl's stdout; throws with its stderr when it fails. */
export async function kubectl(cp: ControlPlane, args: string[], o: { kubeconfig?: string; input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await kubectlRun(cp, args, o);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** `kubectl get -o json` parsed. */
export async function kubectlJson<T = unknown>(cp: ControlPlane, args: string[], o: { kubeconfig?: string } = {}): Promise<T> {
  return JSON.parse(await kubectl(cp, ['get', ...args, '-o', 'json'], o)) as T;
}

/** The log file of a control-plane component (for failure messages). */
export const componentLog = (cp: ControlPlane, name: string): string => join(cp.dir, 'logs', `${name}.log`);
