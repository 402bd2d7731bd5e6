/**
 * Connects the kubelet to its Node object (loaded only with `--kubeconfig`): readiness from the
 * CRI (RuntimeReady, NetworkReady) and the PLEG, nodeInfo from CRI Version, labels with the TEE,
 * the HTTPS API's port, and the configuration's frequencies and reservations; with
 * `rotateCertificates: true`, the rotation of the client certificate in `<root-dir>/pki`.
 */
import type { Logger } from '../../../shared/log/logger.js';
import type { CriRuntime } from '../../cri/api.js';
import { durationMs } from '../config/kubeletconfig.js';
import type { KubeletSettings } from '../config/flags.js';
import type { Pleg } from '../pleg/pleg.js';
import { nodeAddresses, nodeLabels, nodeSystemInfo, type NodeTee } from './info.js';
import { NodeLifecycle, type NodeTaint } from './lifecycle.js';
import { chainResourceSources, containerManagerSource, type ContainerManagerFigures, type NodeConditionSource, type NodeResourceSource } from './resources.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { restClient } from '../client/rest.js';
import { CertRotator, CURRENT_CLIENT_PEM } from './bootstrap.js';
import { join, resolve } from 'node:path';

/** What a library user (or `cocolet up`) may add to the Node. */
export interface NodeExtras {
  /** Extended resources and allocatable (container / device manager). */
  resources?: NodeResourceSource;
  /** MemoryPressure / DiskPressure / PIDPressure (eviction manager). */
  conditions?: NodeConditionSource;
  /** The TEE of the node's confidential pods (host/node reads it from the shim's configuration); default `dev`. */
  tee?: NodeTee;
}

export interface NodeWiringOptions {
  kubeconfig: string;
  settings: KubeletSettings;
  cri: CriRuntime;
  pleg: Pleg;
  kubeletPort: () => number;
  /**
   * The container manager: the Node's capacity and allocatable are its `capacity()` / `allocatable()`
   * (device plugin resources included), the same figures admission checks against.
   */
  containerManager: ContainerManagerFigures;
  /** The device manager: a change of its devices is reported at once. */
  devices?: { resources(): Record<string, { capacity: number; allocatable: number }>; onChange(fn: () => void): () => void };
  extras?: NodeExtras;
  log: Logger;
}

/** Runtime + network + PLEG readiness, with upstream's messages. */
export async function runtimeReadiness(cri: CriRuntime, pleg: Pleg): Promise<{ ok: boolean; message: string }> {
  const problems: string[] = [];
  try {
    const st = await cri.status({ timeoutMs: 5000 });
    for (const c of st.status?.conditions ?? []) {
      if (c.status) continue;
      if (c.type === 'RuntimeReady') problems.push(`container runtime status check may not have completed yet: RuntimeReady=false reason:${c.reason} message:${c.message}`);
      else if (c.type === 'NetworkReady') problems.push(`container runtime network not ready: NetworkReady=false reason:${c.reason} message:${c.message}`);
    }
  } catch (e) {
    problems.push(`container runtime is down: ${e instanceof Error ? e.message : String(e)}`);
  }
  const p = pleg.healthy();
  if (!p.ok) problems.push(`PLEG is not healthy: ${p.message}`);
  return { ok: problems.length === 0, message: problems.join(', ') };
}


export function startNodeLifecycle(o: NodeWiringOptions): NodeLifecycle {
  const kc = loadKubeconfig(o.kubeconfig);
  const api = restClient(kc);
  const cfg = o.settings.config;
  const tee = o.extras?.tee ?? 'dev';
  const resources = [containerManagerSource(o.containerManager), ...(o.extras?.resources ? [o.extras.resources] : [])];
  const report = typeof cfg.nodeStatusReportFrequency === 'string' ? durationMs(cfg.nodeStatusReportFrequency) : undefined;
  const node = new NodeLifecycle({
    api,
    nodeName: o.settings.nodeName,
    rootDir: o.settings.rootDir,
    labels: nodeLabels({ nodeName: o.settings.nodeName, tee, ...(o.settings.nodeLabels ? { extra: o.settings.nodeLabels } : {}) }),
    addresses: nodeAddresses(o.settings.nodeIp ? { nodeIp: o.settings.nodeIp } : {}),
    kubeletPort: o.kubeletPort,
    runtimeVersion: async () => {
      const v = await o.cri.version({ timeoutMs: 5000 });
      return { runtimeName: v.runtimeName, runtimeVersion: v.runtimeVersion };
    },
    ready: () => runtimeReadiness(o.cri, o.pleg),
    nodeInfo: nodeSystemInfo,
    statusUpdateMs: durationMs(cfg.nodeStatusUpdateFrequency),
    ...(report ? { statusReportMs: report } : {}),
    leaseDurationSeconds: cfg.nodeLeaseDurationSeconds,
    ...(Array.isArray(cfg.registerWithTaints) ? { registerWithTaints: cfg.registerWithTaints as NodeTaint[] } : {}),
    ...(cfg.registerNode === false ? { registerNode: false } : {}),
    resources: chainResourceSources(resources),
    ...(o.extras?.conditions ? { conditions: o.extras.conditions } : {}),
    logger: o.log,
  });
  node.start();
  // rotateCertificates: renew the client certificate TLS bootstrapping (or a previous rotation) wrote.
  const certFile = kc.user.certFile;
  const pkiDir = join(o.settings.rootDir, 'pki');
  if (cfg.rotateCertificates === true && certFile && resolve(certFile) === join(pkiDir, CURRENT_CLIENT_PEM)) {
    const rotator = new CertRotator({ nodeName: o.settings.nodeName, pkiDir, api, logger: o.log });
    rotator.start();
    node.onStop.push(() => rotator.stop());
  }
  const unsubscribe = o.devices?.onChange(() => void (node.registered ? node.syncStatus(false) : undefined));
  if (unsubscribe) node.onStop.push(unsubscribe);
  return node;
}
