/**
 * Connects a kubelet to an API server (only loaded when `--kubeconfig` is given): the `api` pod
 * source, Node registration + Lease + Ready status, and pod status (mirror pods for static pods).
 * Returns the started-on-demand parts for the kubelet to start and stop with its other sources.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { durationMs } from '../config/kubeletconfig.js';
import type { KubeletSettings } from '../config/flags.js';
import type { Pleg } from '../pleg/pleg.js';
import type { StatusManager } from '../status/manager.js';
import { ApiServerSource, ApiStatusWriter, NodeAgent, kubeConfigFrom } from './apiserver.js';
import type { PodConfig } from './podconfig.js';

export interface ApiWiringOptions {
  kubeconfig: string;
  settings: KubeletSettings;
  podConfig: PodConfig;
  status: StatusManager;
  pleg: Pleg;
  log: Logger;
}

export function startApiIntegration(o: ApiWiringOptions): Promise<{ start(): void; stop(): void }[]> {
  const kc = kubeConfigFrom(o.kubeconfig);
  const nodeName = o.settings.nodeName;
  const cfg = o.settings.config;
  const source = new ApiServerSource({ kubeconfig: kc, nodeName, onSnapshot: (pods) => o.podConfig.set('api', pods), logger: o.log });
  const agent = new NodeAgent({
    kubeconfig: kc,
    nodeName,
    leaseDurationSeconds: cfg.nodeLeaseDurationSeconds,
    statusUpdateMs: durationMs(cfg.nodeStatusUpdateFrequency),
    maxPods: cfg.maxPods,
    ready: () => o.pleg.healthy(),
    logger: o.log,
  });
  const writer = new ApiStatusWriter({ kubeconfig: kc, nodeName, logger: o.log });
  o.status.onChange((_uid, r) => {
    if (r) void writer.writeStatus(r.pod, r.status);
  });
  return Promise.resolve([source, agent]);
}
