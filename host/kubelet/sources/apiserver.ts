/**
 * The Node's side of the Kubernetes API (@kubernetes/client-node), for nodes that have an API
 * server (`--kubeconfig`). The pod source is apipods.ts (a reflector), pod status apistatus.ts,
 * mirror pods mirror.ts, events apievents.ts.
 *   - `NodeAgent`: registers the Node if it does not exist, renews its Lease in
 *     `kube-node-lease` every leaseDuration × 0.25 (10 s for 40 s), and reports the Ready
 *     condition (from the PLEG health) every nodeStatusUpdateFrequency.
 * Unit-tested against an in-process fake API server (no kube-apiserver on the dev box).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';

export function kubeConfigFrom(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface NodeAgentOptions {
  kubeconfig: k8s.KubeConfig;
  nodeName: string;
  leaseDurationSeconds?: number;
  statusUpdateMs?: number;
  /** Node readiness (e.g. PLEG health). */
  ready: () => { ok: boolean; message: string };
  maxPods?: number;
  logger?: Logger;
}

export class NodeAgent {
  private readonly core: k8s.CoreV1Api;
  private readonly coord: k8s.CoordinationV1Api;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;

  constructor(private readonly o: NodeAgentOptions) {
    this.core = o.kubeconfig.makeApiClient(k8s.CoreV1Api);
    this.coord = o.kubeconfig.makeApiClient(k8s.CoordinationV1Api);
    this.log = o.logger ?? silentLogger();
  }

  async register(): Promise<void> {
    try {
      await this.core.readNode({ name: this.o.nodeName });
      return;
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
    }
    await this.core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: this.o.nodeName, labels: { 'kubernetes.io/hostname': this.o.nodeName, 'kubernetes.io/os': 'linux' } },
        status: { capacity: { pods: String(this.o.maxPods ?? 110) }, allocatable: { pods: String(this.o.maxPods ?? 110) } },
      },
    });
  }

  async renewLease(): Promise<void> {
    const ns = 'kube-node-lease';
    const now = new Date();
    const spec = { holderIdentity: this.o.nodeName, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: now as unknown as k8s.V1MicroTime };
    try {
      const lease = await this.coord.readNamespacedLease({ name: this.o.nodeName, namespace: ns });
      lease.spec = { ...lease.spec, ...spec };
      await this.coord.replaceNamespacedLease({ name: this.o.nodeName, namespace: ns, body: lease });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
      await this.coord.createNamespacedLease({ namespace: ns, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.nodeName, namespace: ns }, spec } });
    }
  }

  async updateStatus(): Promise<void> {
    const r = this.o.ready();
    const now = new Date().toISOString();
    await this.core.patchNodeStatus(
      {
        name: this.o.nodeName,
        body: {
          status: {
            conditions: [
              { type: 'Ready', status: r.ok ? 'True' : 'False', reason: r.ok ? 'KubeletReady' : 'KubeletNotReady', message: r.ok ? 'kubelet is posting ready status' : r.message, lastHeartbeatTime: now },
            ],
          },
        },
      },
      mergePatch,
    );
  }

  start(): void {
    const lease = (this.o.leaseDurationSeconds ?? 40) * 250;
    const run = (what: string, fn: () => Promise<void>): void => void fn().catch((e: unknown) => this.log.warn({ err: e }, `${what} failed`));
    run('node registration', async () => {
      await this.register();
      await this.renewLease();
      await this.updateStatus();
    });
    const a = setInterval(() => run('lease renewal', () => this.renewLease()), lease);
    const b = setInterval(() => run('node status', () => this.updateStatus()), this.o.statusUpdateMs ?? 10_000);
    a.unref();
    b.unref();
    this.timers.push(a, b);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
  }
}
