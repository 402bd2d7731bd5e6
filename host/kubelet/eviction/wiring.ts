/**
 * The eviction manager inside the kubelet: thresholds from the KubeletConfiguration, signals from
 * this machine (nodefs = the root dir, imagefs = containerd's image filesystem as ImageFsInfo
 * reports it, allocatable memory from the pods cgroup), per-pod usage from CRI stats, node-level
 * reclaim through the container and image GC, and evictions through the pod workers: the pod's
 * status becomes Failed / Evicted with the kubelet's message, a Warning `Evicted` event carries
 * the plain-words explanation, and its containers are stopped with the eviction's grace period.
 */
import type { CriImages, CriRuntime } from '../../cri/api.js';
import { podKey, type Pod } from '../api/types.js';
import type { Clock } from '../clock.js';
import { durationMs, type KubeletConfiguration } from '../config/kubeletconfig.js';
import type { EventRecorder } from '../events.js';
import type { ContainerGc } from '../gc.js';
import type { ImageGc } from '../imagegc.js';
import type { PodCache } from '../pleg/cache.js';
import type { StatusManager } from '../status/manager.js';
import type { PodWorkers } from '../workers.js';
import type { Logger } from '../../../shared/log/logger.js';
import { EvictionManager, type Eviction } from './manager.js';
import { MachineSignals, podUsage, type SignalSource } from './signals.js';
import { parseThresholdConfig } from './thresholds.js';

/** What the wiring needs from the kubelet. */
export interface EvictionHost {
  readonly settings: { config: KubeletConfiguration; rootDir: string };
  readonly pods: Map<string, Pod>;
  readonly status: StatusManager;
  readonly workers: PodWorkers;
  readonly cache: PodCache;
  readonly events: EventRecorder;
  readonly gc: ContainerGc;
  readonly imageGc: ImageGc;
  readonly clock: Clock;
  readonly log: Logger;
}

export interface KubeletEvictionOptions {
  /** Replaces the machine's signals (tests). */
  signals?: SignalSource;
  /** Node allocatable memory for allocatableMemory.available (default: the pods cgroup limit). */
  allocatableBytes?: number;
  periodMs?: number;
}

export interface EvictionWiring {
  manager: EvictionManager;
  signals: SignalSource;
}

/**
 * The cgroup pods run under: the explicit option, else `<cgroupRoot>/kubepods` when the configuration sets
 * `cgroupRoot` and keeps `cgroupsPerQOS` (no per-QoS sub-cgroups yet), else none (the runtime's default).
 */
export function podsCgroupOf(explicit: string | undefined, cfg: Readonly<Record<string, unknown>>): string | undefined {
  if (explicit) return explicit;
  if (typeof cfg.cgroupRoot !== 'string' || !cfg.cgroupRoot || cfg.cgroupsPerQOS === false) return undefined;
  return `${cfg.cgroupRoot.replace(/\/+$/, '')}/kubepods`;
}

/** Builds and starts the eviction manager for a kubelet. */
export async function startEviction(k: EvictionHost, o: KubeletEvictionOptions, cri: CriRuntime, images: CriImages, podsCgroup?: string): Promise<EvictionWiring> {
  const cfg = k.settings.config;
  const thresholds = parseThresholdConfig(cfg);
  let imageFsDir: string | undefined;
  try {
    imageFsDir = (await images.imageFsInfo?.())?.[0]?.mountpoint || undefined;
  } catch (e) {
    k.log.warn({ err: e }, 'eviction: no image filesystem info; imagefs is measured as nodefs');
  }
  const machine = new MachineSignals({
    rootDir: k.settings.rootDir,
    ...(imageFsDir ? { imageFsDir } : {}),
    ...(podsCgroup ? { podsCgroup } : {}),
    ...(o.allocatableBytes !== undefined ? { allocatableBytes: o.allocatableBytes } : {}),
    now: () => k.clock.now(),
  });
  const signals = o.signals ?? machine;
  const terminal = (uid: string): boolean => {
    const phase = k.status.get(uid)?.status.phase;
    return phase === 'Failed' || phase === 'Succeeded';
  };
  const manager = new EvictionManager({
    thresholds,
    signals,
    clock: k.clock,
    logger: k.log,
    pressureTransitionMs: durationMs(cfg.evictionPressureTransitionPeriod),
    maxPodGracePeriodSeconds: cfg.evictionMaxPodGracePeriod ?? 0,
    localStorageCapacityIsolation: cfg.localStorageCapacityIsolation !== false,
    ...(o.periodMs ? { periodMs: o.periodMs } : {}),
    activePods: () => [...k.pods.values()].filter((p) => k.workers.phase(p.metadata.uid!) === 'sync' && !terminal(p.metadata.uid!)),
    podStats: (pods) => podUsage(pods, { cri, podLogsDir: cfg.podLogsDir, rootDir: k.settings.rootDir, machine }),
    reclaim: {
      containers: () => k.gc.collect({ all: true }),
      images: () => k.imageGc.collect({ all: true }),
    },
    onConditionsChange: () => k.status.flush(),
    podCleanedUp: (pod) => k.cache.get(pod.metadata.uid!).status.containers.every((c) => c.state !== 'running'),
    evict: (e: Eviction) => {
      const uid = e.pod.metadata.uid!;
      const prev = k.status.get(uid)?.status;
      k.events.record(podKey(e.pod), 'Warning', e.reason, e.event, uid);
      k.status.set(e.pod, { ...(prev ?? { conditions: [], containerStatuses: [] }), phase: 'Failed', reason: e.reason, message: e.message });
      k.workers.updatePod(uid, { type: 'kill', pod: e.pod, graceSeconds: e.gracePeriodSeconds });
    },
  });
  manager.start();
  k.log.info({ thresholds: thresholds.length, imageFsDir, podsCgroup }, 'eviction manager started');
  return { manager, signals };
}
