/**
 * A local Kubernetes control plane on 127.0.0.1 from the binaries `scripts/build-cluster` makes:
 * etcd, kube-apiserver (Node,RBAC authorization, NodeRestriction, bootstrap tokens, service-account
 * issuer and keys, requestheader / proxy-client, the kubelet client certificate), and, unless
 * `controllers: false`, kube-controller-manager (csrsigning + csrapproving with the cluster CA,
 * service-account tokens, node lifecycle) and kube-scheduler. Ports are free ones picked at start.
 *
 *   const cp = await startControlPlane({ dir });     // resolves when every part is ready
 *   cp.server, cp.adminKubeconfig, await cp.nodeKubeconfig('n1'), await cp.bootstrapKubeconfig()
 *   await cp.restart('kube-apiserver');              // same ports, same data
 *   await cp.stop();                                 // scheduler, controller-manager, apiserver, etcd
 *
 * Readiness is real: etcd `/health`, the API server's `/readyz` with the admin certificate, the
 * controller-manager's and scheduler's `/healthz` over TLS verified against the cluster CA, and the
 * `default` ServiceAccount (the controller-manager's token controller works; pods need it).
 * State (pki, etcd data, logs, kubeconfigs) lives in `dir`; a second start on the same `dir` reuses
 * it. A failed start stops whatever it started and throws with the failing component's log tail.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import { writeKubeconfig } from './kubeconfig.js';
import { DEFAULT_SERVICE_CIDR, ensureClientCert, ensureClusterPki, type CertFiles, type ClusterPki } from './pki.js';
import { freePort } from '../images/registry.js';
import { launchComponent, type Component } from './process.js';
import { ensureBootstrapToken } from './admin.js';

export const K8S_VERSION = 'v1.34.4';
export const DEFAULT_CLUSTER_BIN_DIR = `/opt/cocolet-peers/kubernetes-${K8S_VERSION}/bin`;
export const CONTROL_PLANE_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'] as const;
/** How long each component may take to become ready. */
export const DEFAULT_READY_TIMEOUT_MS = 180_000;

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

/** Where the binaries are: `$COCOLET_CLUSTER_DIR`, else build-cluster's default. */
export function clusterBinDir(): string {
  return process.env.COCOLET_CLUSTER_DIR ?? DEFAULT_CLUSTER_BIN_DIR;
}

/** The control-plane binaries missing from `binDir` (empty when it can run). */
export function missingBinaries(binDir = clusterBinDir()): string[] {
  return CONTROL_PLANE_BINARIES.filter((b) => !existsSync(join(binDir, b)));
}

export interface ControlPlaneOptions {
  dir: string;
  binDir?: string;
  /** Run kube-controller-manager and kube-scheduler (default true). */
  controllers?: boolean;
  /** kube-controller-manager `--node-monitor-grace-period` (upstream 50s); shorten in tests. */
  nodeMonitorGracePeriod?: string;
  /** kube-controller-manager `--node-monitor-period` (upstream 5s). */
  nodeMonitorPeriod?: string;
  readyTimeoutMs?: number;
  serviceCidr?: string;
  /**
   * kube-apiserver verifies kubelets' serving certificates against the cluster CA
   * (`--kubelet-certificate-authority`): every node must then get its serving certificate from the
   * cluster (serverTLSBootstrap, approved by host/cluster/approver.ts). Default false (a node's
   * self-signed certificate is accepted unverified, as kube-apiserver does without the flag).
   */
  verifyKubeletServing?: boolean;
  logger?: Logger;
}

export interface ControlPlanePorts {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

export interface ControlPlane extends AsyncDisposable {
  readonly dir: string;
  readonly binDir: string;
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  readonly pki: ClusterPki;
  readonly ports: ControlPlanePorts;
  /** kubeconfig of `kubernetes-admin` (group system:masters). */
  readonly adminKubeconfig: string;
  readonly kubectl: string;
  /** A kubeconfig with a client certificate `system:node:<name>` / `system:nodes`. */
  nodeKubeconfig(nodeName: string): Promise<string>;
  /** A bootstrap kubeconfig (token) plus the RBAC that lets its holder get a node certificate. */
  bootstrapKubeconfig(): Promise<string>;
  /** The running component (undefined when stopped or not run). */
  component(name: ComponentName): Component | undefined;
  stopComponent(name: ComponentName): Promise<void>;
  startComponent(name: ComponentName): Promise<void>;
  restart(name: ComponentName): Promise<void>;
  stop(): Promise<void>;
}

interface Probe {
  url: string;
  ca?: string;
  client?: CertFiles;
}

/** GET `url`; resolves with the status code and body (never rejects: 0 on a connection error). */
function get(p: Probe, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const u = new URL(p.url);
    const opts = {
      method: 'GET',
      timeout: timeoutMs,
      ...(u.protocol === 'https:' ? { ca: p.ca ? readFileSync(p.ca) : undefined, cert: p.client ? readFileSync(p.client.certFile) : undefined, key: p.client ? readFileSync(p.client.keyFile) : undefined } : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
    req.end();
  });
}

async function waitReady(c: Component, probe: Probe, timeoutMs: number, ok: (r: { status: number; body: string }) => boolean = (r) => r.status === 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (c.exited()) throw new CocoletError(ErrorCode.RuntimeFailed, `${c.name} exited during startup:\n${c.logTail()}`, { context: { component: c.name } });
    const r = await get(probe);
    if (ok(r)) return;
    last = `${r.status} ${r.body.slice(0, 300)}`;
    if (Date.now() > deadline) throw new CocoletError(ErrorCode.DeadlineExceeded, `${c.name} not ready after ${timeoutMs} ms (${probe.url}: ${last}):\n${c.logTail()}`, { context: { component: c.name } });
    await delay(100);
  }
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const binDir = o.binDir ?? clusterBinDir();
  const log = (o.logger ?? silentLogger()).child({ component: 'control-plane' });
  const missing = missingBinaries(binDir);
  if (missing.length) throw new CocoletError(ErrorCode.FailedPrecondition, `control-plane binaries missing in ${binDir}: ${missing.join(', ')} (run scripts/build-cluster)`);
  const withControllers = o.controllers !== false;
  const timeoutMs = o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const pki = await ensureClusterPki(join(o.dir, 'pki'));
  const loopbackServing = pki.loopbackServing;
  const ports: ControlPlanePorts = { etcd: await freePort(), etcdPeer: await freePort(), apiserver: await freePort(), controllerManager: await freePort(), scheduler: await freePort() };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const kubeconfigOf = (name: string, user: string, f: CertFiles): string =>
    writeKubeconfig(join(o.dir, `${name}.kubeconfig`), { server, caFile: pki.caFile, user, credentials: { clientCertificate: f.certFile, clientKey: f.keyFile } });
  const adminKubeconfig = kubeconfigOf('admin', 'kubernetes-admin', pki.admin);
  const kcmKubeconfig = kubeconfigOf('controller-manager', 'system:kube-controller-manager', pki.controllerManager);
  const schedKubeconfig = kubeconfigOf('scheduler', 'system:kube-scheduler', pki.scheduler);
  const cidr = o.serviceCidr ?? DEFAULT_SERVICE_CIDR;
  const h = '127.0.0.1';

  const argv: Record<ComponentName, () => string[]> = {
    etcd: () => [
      '--name=default',
      `--data-dir=${join(o.dir, 'etcd')}`,
      `--listen-client-urls=http://${h}:${ports.etcd}`,
      `--advertise-client-urls=http://${h}:${ports.etcd}`,
      `--listen-peer-urls=http://${h}:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://${h}:${ports.etcdPeer}`,
      `--initial-cluster=default=http://${h}:${ports.etcdPeer}`,
      '--listen-metrics-urls=',
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    'kube-apiserver': () => [
      `--bind-address=${h}`,
      `--advertise-address=${h}`,
      `--secure-port=${ports.apiserver}`,
      `--etcd-servers=http://${h}:${ports.etcd}`,
      `--client-ca-file=${pki.caFile}`,
      `--tls-cert-file=${pki.apiserver.certFile}`,
      `--tls-private-key-file=${pki.apiserver.keyFile}`,
      `--kubelet-client-certificate=${pki.kubeletClient.certFile}`,
      `--kubelet-client-key=${pki.kubeletClient.keyFile}`,
      '--kubelet-preferred-address-types=InternalIP,Hostname',
      ...(o.verifyKubeletServing ? [`--kubelet-certificate-authority=${pki.caFile}`] : []),
      `--requestheader-client-ca-file=${pki.caFile}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki.frontProxyClient.certFile}`,
      `--proxy-client-key-file=${pki.frontProxyClient.keyFile}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPubFile}`,
      `--service-account-signing-key-file=${pki.saKeyFile}`,
      `--service-cluster-ip-range=${cidr}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--enable-bootstrap-token-auth=true',
      '--allow-privileged=true',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      '--v=1',
    ],
    'kube-controller-manager': () => [
      `--bind-address=${h}`,
      `--secure-port=${ports.controllerManager}`,
      `--tls-cert-file=${loopbackServing.certFile}`,
      `--tls-private-key-file=${loopbackServing.keyFile}`,
      `--kubeconfig=${kcmKubeconfig}`,
      `--authentication-kubeconfig=${kcmKubeconfig}`,
      `--authorization-kubeconfig=${kcmKubeconfig}`,
      `--client-ca-file=${pki.caFile}`,
      `--service-account-private-key-file=${pki.saKeyFile}`,
      `--root-ca-file=${pki.caFile}`,
      `--cluster-signing-cert-file=${pki.caFile}`,
      `--cluster-signing-key-file=${pki.caKeyFile}`,
      '--use-service-account-credentials=true',
      `--service-cluster-ip-range=${cidr}`,
      '--leader-elect=false',
      '--controllers=*,-cloud-node-lifecycle',
      ...(o.nodeMonitorGracePeriod ? [`--node-monitor-grace-period=${o.nodeMonitorGracePeriod}`] : []),
      ...(o.nodeMonitorPeriod ? [`--node-monitor-period=${o.nodeMonitorPeriod}`] : []),
      '--profiling=false',
      '--v=1',
    ],
    'kube-scheduler': () => [
      `--bind-address=${h}`,
      `--secure-port=${ports.scheduler}`,
      `--tls-cert-file=${loopbackServing.certFile}`,
      `--tls-private-key-file=${loopbackServing.keyFile}`,
      `--kubeconfig=${schedKubeconfig}`,
      `--authentication-kubeconfig=${schedKubeconfig}`,
      `--authorization-kubeconfig=${schedKubeconfig}`,
      `--client-ca-file=${pki.caFile}`,
      '--leader-elect=false',
      '--profiling=false',
      '--v=1',
    ],
  };
  const probes: Record<ComponentName, Probe> = {
    etcd: { url: `http://${h}:${ports.etcd}/health` },
    'kube-apiserver': { url: `${server}/readyz`, ca: pki.caFile, client: pki.admin },
    'kube-controller-manager': { url: `https://${h}:${ports.controllerManager}/healthz`, ca: pki.caFile },
    'kube-scheduler': { url: `https://${h}:${ports.scheduler}/healthz`, ca: pki.caFile },
  };
  const order: ComponentName[] = withControllers ? ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] : ['etcd', 'kube-apiserver'];
  const running = new Map<ComponentName, Component>();

  const startComponent = async (name: ComponentName): Promise<void> => {
    if (running.get(name) && !running.get(name)!.exited()) return;
    const t0 = Date.now();
    const c = launchComponent(o.dir, name, join(binDir, name), argv[name]());
    running.set(name, c);
    await waitReady(c, probes[name], timeoutMs, name === 'etcd' ? (r) => r.status === 200 && r.body.includes('true') : undefined);
    log.info({ name, pid: c.pid, ms: Date.now() - t0 }, 'component ready');
  };
  const stopComponent = async (name: ComponentName): Promise<void> => {
    const c = running.get(name);
    if (!c) return;
    await c.stop();
    running.delete(name);
    log.info({ name, pid: c.pid }, 'component stopped');
  };
  const stop = async (): Promise<void> => {
    for (const name of [...order].reverse()) await stopComponent(name);
  };

  const adminProbe = (path: string): Promise<{ status: number; body: string }> => get({ url: `${server}${path}`, ca: pki.caFile, client: pki.admin });
  try {
    for (const name of order) await startComponent(name);
    if (withControllers) {
      // The token controller has run: pods can be admitted (the ServiceAccount admission needs it).
      const deadline = Date.now() + timeoutMs;
      while ((await adminProbe('/api/v1/namespaces/default/serviceaccounts/default')).status !== 200) {
        if (Date.now() > deadline) throw new CocoletError(ErrorCode.DeadlineExceeded, `the default ServiceAccount did not appear after ${timeoutMs} ms:\n${running.get('kube-controller-manager')?.logTail() ?? ''}`);
        await delay(200);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const cp: ControlPlane = {
    dir: o.dir,
    binDir,
    server,
    pki,
    ports,
    adminKubeconfig,
    kubectl: join(binDir, 'kubectl'),
    nodeKubeconfig: async (nodeName) => {
      const f = await ensureClientCert(pki, `node-${nodeName}`, `system:node:${nodeName}`, ['system:nodes']);
      return writeKubeconfig(join(o.dir, `node-${nodeName}.kubeconfig`), { server, caFile: pki.caFile, user: `system:node:${nodeName}`, credentials: { clientCertificate: f.certFile, clientKey: f.keyFile } });
    },
    bootstrapKubeconfig: async () => {
      const token = await ensureBootstrapToken(adminKubeconfig, join(o.dir, 'bootstrap-token'));
      return writeKubeconfig(join(o.dir, 'bootstrap.kubeconfig'), { server, caFile: pki.caFile, user: 'kubelet-bootstrap', credentials: { token } });
    },
    component: (name) => running.get(name),
    startComponent,
    stopComponent,
    restart: async (name) => {
      await stopComponent(name);
      await startComponent(name);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return cp;
}
