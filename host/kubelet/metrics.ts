/**
 * Every kubelet metric in one place, with the upstream names (kl/metrics/metrics.go) and
 * deliberate buckets, on a per-kubelet registry (no global state, so tests can run several).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Annotations, type Pod } from './api/types.js';
import type { PodCache } from './pleg/cache.js';

/** Upstream pod start buckets (seconds). */
export const POD_START_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
/** prometheus default buckets, as upstream uses for PLEG relist duration. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class KubeletMetrics {
  readonly registry = new Registry();
  readonly podStartDuration = new Histogram({ name: 'kubelet_pod_start_duration_seconds', help: 'Duration from the kubelet seeing a pod to all its containers running.', buckets: POD_START_BUCKETS, registers: [this.registry] });
  readonly plegRelistDuration = new Histogram({ name: 'kubelet_pleg_relist_duration_seconds', help: 'Duration of a PLEG relist.', buckets: DEFAULT_BUCKETS, registers: [this.registry] });
  readonly plegRelistInterval = new Histogram({ name: 'kubelet_pleg_relist_interval_seconds', help: 'Interval between PLEG relists.', buckets: DEFAULT_BUCKETS, registers: [this.registry] });
  readonly plegLastSeen = new Gauge({ name: 'kubelet_pleg_last_seen_seconds', help: 'Unix time of the last successful PLEG relist.', registers: [this.registry] });
  readonly startedContainers = new Counter({ name: 'kubelet_started_containers_total', help: 'Containers started.', labelNames: ['container_type'], registers: [this.registry] });
  readonly startedContainersErrors = new Counter({ name: 'kubelet_started_containers_errors_total', help: 'Errors starting containers.', labelNames: ['container_type', 'code'], registers: [this.registry] });
  readonly runningPods = new Gauge({ name: 'kubelet_running_pods', help: 'Pods with a running sandbox.', registers: [this.registry] });
  readonly runningContainers = new Gauge({ name: 'kubelet_running_containers', help: 'Containers by state.', labelNames: ['container_state'], registers: [this.registry] });
  readonly desiredPods = new Gauge({ name: 'kubelet_desired_pods', help: 'Pods the sources want on this node.', labelNames: ['static'], registers: [this.registry] });
  readonly workingPods = new Gauge({ name: 'kubelet_working_pods', help: 'Pods with a pod worker.', registers: [this.registry] });
  readonly devicePluginRegistrations = new Counter({ name: 'kubelet_device_plugin_registration_total', help: 'Device plugin registrations.', labelNames: ['resource_name'], registers: [this.registry] });
  readonly topologyAdmissionRequests = new Counter({ name: 'kubelet_topology_manager_admission_requests_total', help: 'Pod admissions the topology manager handled.', registers: [this.registry] });
  readonly topologyAdmissionErrors = new Counter({ name: 'kubelet_topology_manager_admission_errors_total', help: 'Pod admissions the topology manager refused.', registers: [this.registry] });
  /** Upstream buckets: exponential from 0.05 ms, factor 2, 15 buckets. */
  readonly topologyAdmissionDuration = new Histogram({ name: 'kubelet_topology_manager_admission_duration_ms', help: 'Duration of the topology manager admission (hints, merge, allocation) in milliseconds.', buckets: Array.from({ length: 15 }, (_, i) => 0.05 * 2 ** i), registers: [this.registry] });
  readonly devicePluginAllocDuration = new Histogram({ name: 'kubelet_device_plugin_alloc_duration_seconds', help: 'Duration of device plugin Allocate calls.', labelNames: ['resource_name'], buckets: DEFAULT_BUCKETS, registers: [this.registry] });
}

/** Refreshes the gauges from the pod cache and the desired pods (every housekeeping tick). */
export function updateGauges(m: KubeletMetrics, cache: PodCache, desired: Iterable<Pod>, workers: number): void {
  let pods = 0;
  const states: Record<string, number> = { running: 0, exited: 0, created: 0, unknown: 0 };
  for (const uid of cache.uids()) {
    const st = cache.get(uid).status;
    if (st.sandboxes.some((s) => s.state === 'ready')) pods++;
    for (const c of st.containers) states[c.state] = (states[c.state] ?? 0) + 1;
  }
  m.runningPods.set(pods);
  for (const [k, v] of Object.entries(states)) m.runningContainers.set({ container_state: k }, v);
  let statics = 0;
  let all = 0;
  for (const p of desired) {
    all++;
    if (p.metadata.annotations?.[Annotations.configSource] !== 'api') statics++;
  }
  m.desiredPods.set({ static: 'true' }, statics);
  m.desiredPods.set({ static: 'false' }, all - statics);
  m.workingPods.set(workers);
}
