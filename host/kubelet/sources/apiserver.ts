/**
 * The Kubernetes API as a pod source and status sink (@kubernetes/client-node), for nodes that
 * have an API server (`--kubeconfig`):
 *   - `ApiServerSource`: lists pods bound to this node (`spec.nodeName=<node>`), then watches
 *     from the list's resourceVersion; every change is reported as a full snapshot to PodConfig
 *     (source `api`); a dropped watch re-lists (back-off 1 s doubling to 30 s).
 *   - `NodeAgent`: registers the Node if it does not exist, renews its Lease in
 *     `kube-node-lease` every leaseDuration × 0.25 (10 s for 40 s), and reports the Ready
 *     condition (from the PLEG health) every nodeStatusUpdateFrequency.
 *   - `ApiStatusWriter`: merge-patches pod status; static pods get a mirror pod (annotation
 *     `kubernetes.io/config.mirror` = config hash, owner = the Node) that carries their status.
 * Unit-tested against an in-process fake API server (no kube-apiserver on the dev box).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { Annotations, type Pod, type PodStatus } from '../api/types.js';
import { validatePod } from '../config/manifest.js';

export function kubeConfigFrom(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

const toPlain = <T>(o: unknown): T => JSON.parse(JSON.stringify(o)) as T;
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface ApiSourceOptions {
  kubeconfig: k8s.KubeConfig;
  nodeName: string;
  onSnapshot: (pods: Pod[]) => void;
  logger?: Logger;
}

export class ApiServerSource {
  private readonly pods = new Map<string, Pod>();
  private abort: AbortController | undefined;
  private stopped = false;
  private retryMs = 1000;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly core: k8s.CoreV1Api;

  constructor(private readonly o: ApiSourceOptions) {
    this.log = o.logger ?? silentLogger();
    this.core = o.kubeconfig.makeApiClient(k8s.CoreV1Api);
  }

  start(): void {
    void this.listAndWatch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.timer) clearTimeout(this.timer);
  }

  private accept(raw: unknown): Pod | undefined {
    try {
      validatePod(raw, 'api');
      const p = raw;
      p.metadata.annotations = { ...p.metadata.annotations, [Annotations.configSource]: 'api' };
      return p;
    } catch (e) {
      this.log.warn({ err: e }, 'api pod skipped');
      return undefined;
    }
  }

  async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    const fieldSelector = `spec.nodeName=${this.o.nodeName}`;
    try {
      const list = await this.core.listPodForAllNamespaces({ fieldSelector });
      this.pods.clear();
      for (const item of list.items) {
        const p = this.accept(toPlain(item));
        if (p) this.pods.set(p.metadata.uid!, p);
      }
      this.emit();
      this.retryMs = 1000;
      const watch = new k8s.Watch(this.o.kubeconfig);
      this.abort = await watch.watch(
        '/api/v1/pods',
        { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (type, obj: unknown) => {
          if (type === 'BOOKMARK') return;
          const p = this.accept(obj);
          if (!p) return;
          if (type === 'DELETED') this.pods.delete(p.metadata.uid!);
          else this.pods.set(p.metadata.uid!, p);
          this.emit();
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (err) this.log.warn({ err }, 'pod watch ended');
          this.retry();
        },
      );
    } catch (e) {
      this.log.warn({ err: e }, 'pod list failed');
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.listAndWatch(), this.retryMs);
    this.timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  private emit(): void {
    this.o.onSnapshot([...this.pods.values()]);
  }
}

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

export interface StatusWriterOptions {
  kubeconfig: k8s.KubeConfig;
  nodeName: string;
  logger?: Logger;
}

export class ApiStatusWriter {
  private readonly core: k8s.CoreV1Api;
  private readonly mirrors = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly o: StatusWriterOptions) {
    this.core = o.kubeconfig.makeApiClient(k8s.CoreV1Api);
    this.log = o.logger ?? silentLogger();
  }

  /** Creates the mirror pod of a static pod (once). */
  async ensureMirror(pod: Pod): Promise<void> {
    const src = pod.metadata.annotations?.[Annotations.configSource];
    if (src === 'api' || this.mirrors.has(pod.metadata.uid!)) return;
    const ns = pod.metadata.namespace ?? 'default';
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: pod.metadata.name,
        namespace: ns,
        labels: pod.metadata.labels ?? {},
        annotations: { ...pod.metadata.annotations, [Annotations.configMirror]: pod.metadata.annotations?.[Annotations.configHash] ?? pod.metadata.uid! },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid: '', controller: true }],
      },
      spec: pod.spec,
    };
    try {
      await this.core.createNamespacedPod({ namespace: ns, body: body as unknown as k8s.V1Pod });
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
    this.mirrors.add(pod.metadata.uid!);
  }

  async writeStatus(pod: Pod, status: PodStatus): Promise<void> {
    try {
      await this.ensureMirror(pod);
      await this.core.patchNamespacedPodStatus({ name: pod.metadata.name, namespace: pod.metadata.namespace ?? 'default', body: { status } }, mergePatch);
    } catch (e) {
      this.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: e }, 'pod status update failed');
    }
  }
}
