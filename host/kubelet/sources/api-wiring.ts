/**
 * Connects a kubelet to an API server (only loaded when `--kubeconfig` is given): the `api` pod
 * source (reflector over this node's pods), pod status
 * (and the final delete of gracefully deleted pods), mirror pods for static pods, events, and the
 * API objects behind configMap / secret / projected volumes. The Node, its Lease and node status
 * are node/wiring.ts's.
 * Returns the parts for the kubelet to start and stop with its other sources.
 */
import type { Logger } from '../../../shared/log/logger.js';
import type { KubeletSettings } from '../config/flags.js';
import { Annotations } from '../api/types.js';
import type { EventRecorder } from '../events.js';
import { ApiEventSink } from '../status/apievents.js';
import { ApiStatusWriter } from '../status/apistatus.js';
import type { StatusManager } from '../status/manager.js';
import type { VolumeManager } from '../volumes/volumes.js';
import { kubeClient } from './apiclient.js';
import { ApiPodSource } from './apipods.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { restClient } from '../client/rest.js';
import { MirrorPods } from './mirror.js';
import { nodeAddresses } from '../node/info.js';
import { ObjectWatcher } from '../volumes/objectwatch.js';
import type { PodConfig } from './podconfig.js';

export const NODE_INFO_REFRESH_MS = 30_000;

export interface ApiWiringOptions {
  kubeconfig: string;
  settings: KubeletSettings;
  podConfig: PodConfig;
  status: StatusManager;
  volumes: VolumeManager;
  events: EventRecorder;
  /** Re-syncs pods now (their watched ConfigMaps / Secrets changed). */
  resync?: (uids: string[]) => void;
  log: Logger;
}

export interface ApiIntegration {
  source: ApiPodSource;
  writer: ApiStatusWriter;
  mirrors: MirrorPods;
  events: ApiEventSink;
  /** The ConfigMap / Secret watches (configMapAndSecretChangeDetectionStrategy Watch). */
  objects: ObjectWatcher | undefined;
  parts: { start(): void; stop(): void }[];
}

export function startApiIntegration(o: ApiWiringOptions): Promise<ApiIntegration> {
  const api = restClient(loadKubeconfig(o.kubeconfig));
  const client = kubeClient(api);
  const nodeName = o.settings.nodeName;
  const log = o.log;
  // configMapAndSecretChangeDetectionStrategy: Watch (the default) watches every ConfigMap / Secret
  // a pod refers to and re-syncs its pods when one changes; Get (and Cache) read them at each sync.
  const strategy = o.settings.config.configMapAndSecretChangeDetectionStrategy ?? 'Watch';
  const objects = strategy === 'Watch' ? new ObjectWatcher({ api, fallback: client, onChange: (uids) => o.resync?.(uids), logger: log }) : undefined;
  o.volumes.setApi(objects ?? client, { hostIPs: () => hostIPs });

  // The addresses this kubelet registers its Node with, as upstream uses its own node IPs: a pod's
  // first status already has its hostIP; the Node as the API server has it (re-read below) wins.
  let hostIPs: string[] = nodeAddresses(o.settings.nodeIp ? { nodeIp: o.settings.nodeIp } : {})
    .filter((a) => a.type === 'InternalIP')
    .map((a) => a.address);
  let nodeSeen = false;
  const refreshNode = (): void =>
    void client.getNode(nodeName).then(
      (n) => {
        nodeSeen = true;
        const internal = n.addresses.filter((a) => a.type === 'InternalIP').map((a) => a.address);
        const ips = internal.length > 0 ? internal : n.addresses.filter((a) => a.type === 'ExternalIP').map((a) => a.address);
        if (ips.join() === hostIPs.join()) return;
        hostIPs = ips;
        writer.rewriteAll();
      },
      () => undefined, // not registered yet: retried below
    );
  const isStatic = (uid: string): boolean => {
    const p = o.podConfig.pods().find((x) => x.metadata.uid === uid);
    return p !== undefined && p.metadata.annotations?.[Annotations.configSource] !== 'api';
  };
  const mirrors: MirrorPods = new MirrorPods({
    api: client,
    nodeName,
    staticPods: () => o.podConfig.pods().filter((p) => p.metadata.annotations?.[Annotations.configSource] !== 'api'),
    onMirror: (uid) => writer.kick(uid),
    logger: log,
  });
  const writer = new ApiStatusWriter({ api: client, hostIPs: () => hostIPs, mirrorOf: (p) => mirrors.mirrorOf(p), logger: log });
  const source = new ApiPodSource({ api, nodeName, onSnapshot: (pods) => o.podConfig.set('api', pods), onMirrors: (ms) => mirrors.setMirrors(ms), logger: log });
  const events = new ApiEventSink({ api: client, nodeName, logger: log });
  o.status.onChange((uid, r) => {
    writer.update(uid, r);
    if (isStatic(uid) || (r && r.pod.metadata.annotations?.[Annotations.configSource] !== 'api')) mirrors.kick();
  });
  o.status.onTerminated((pod) => writer.terminated(pod));
  o.events.onEvent((e) => events.record(e));

  let nodeTimer: NodeJS.Timeout | undefined;
  const nodeInfo = {
    start: () => {
      // The Node as registered (node/lifecycle.ts) is read at start and every 30 s; until it is
      // registered, this kubelet's own addresses stand and the read is retried every 2 s.
      const tick = (): void => {
        refreshNode();
        nodeTimer = setTimeout(tick, nodeSeen ? NODE_INFO_REFRESH_MS : 2000);
        nodeTimer.unref();
      };
      tick();
    },
    stop: () => clearTimeout(nodeTimer),
  };
  const stoppers = { start: () => undefined, stop: () => (writer.stop(), mirrors.stop(), objects?.stop()) };
  return Promise.resolve({ source, writer, mirrors, events, objects, parts: [nodeInfo, source, stoppers] });
}
