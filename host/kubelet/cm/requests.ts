/**
 * A pod's effective resource requests, as the scheduler and the kubelet's admission count them
 * (component-helpers resource.PodRequests): per resource the larger of the long-running
 * containers' sum (app containers plus restartable init containers) and the peak while an init
 * container runs (the sidecars started before it plus itself). Requests default to limits.
 * Then the pod overhead (`spec.overhead`) is added, unless `excludeOverhead` (as upstream's
 * PodResourcesOptions.ExcludeOverhead: the CPU and memory managers size exclusive CPUs and NUMA
 * memory from the containers alone).
 */
import type { Container, Pod } from '../api/types.js';
import { parseQuantity } from '../config/kubeletconfig.js';
import type { ResourceList } from './allocatable.js';

export function containerRequests(c: Container): ResourceList {
  return quantities(c, true);
}

/** A container's limits as numbers. */
export function containerLimits(c: Container): ResourceList {
  return quantities(c, false);
}

function quantities(c: Container, requests: boolean): ResourceList {
  const out: ResourceList = {};
  const req = requests ? (c.resources?.requests ?? {}) : {};
  const lim = c.resources?.limits ?? {};
  for (const r of new Set([...Object.keys(lim), ...Object.keys(req)])) {
    const q = req[r] ?? lim[r];
    const v = q === undefined ? undefined : parseQuantity(q);
    if (v !== undefined && v > 0) out[r] = v;
  }
  return out;
}

/** The pod's `spec.overhead` as numbers (cpu in cores, the rest in units); {} when none. */
export function podOverhead(pod: Pod): ResourceList {
  const out: ResourceList = {};
  for (const [r, q] of Object.entries(pod.spec.overhead ?? {})) {
    const v = parseQuantity(q);
    if (v !== undefined && v > 0) out[r] = v;
  }
  return out;
}

export function podRequests(pod: Pod, o: { excludeOverhead?: boolean } = {}): ResourceList {
  return podSum(pod, containerRequests, o);
}

/** The pod's limits summed the same way (upstream PodLimits); overhead added only to limits that are set. */
export function podLimits(pod: Pod, o: { excludeOverhead?: boolean } = {}): ResourceList {
  const out = podSum(pod, containerLimits, { excludeOverhead: true });
  if (!o.excludeOverhead) for (const [k, v] of Object.entries(podOverhead(pod))) if (out[k] !== undefined) out[k] += v;
  return out;
}

function podSum(pod: Pod, of: (c: Container) => ResourceList, o: { excludeOverhead?: boolean }): ResourceList {
  const sidecars: ResourceList = {};
  const initPeak: ResourceList = {};
  for (const c of pod.spec.initContainers ?? []) {
    const r = of(c);
    if (c.restartPolicy === 'Always') {
      for (const [k, v] of Object.entries(r)) sidecars[k] = (sidecars[k] ?? 0) + v;
      for (const [k, v] of Object.entries(sidecars)) initPeak[k] = Math.max(initPeak[k] ?? 0, v);
    } else {
      for (const k of new Set([...Object.keys(r), ...Object.keys(sidecars)])) initPeak[k] = Math.max(initPeak[k] ?? 0, (sidecars[k] ?? 0) + (r[k] ?? 0));
    }
  }
  const out: ResourceList = { ...sidecars };
  for (const c of pod.spec.containers) for (const [k, v] of Object.entries(of(c))) out[k] = (out[k] ?? 0) + v;
  for (const [k, v] of Object.entries(initPeak)) out[k] = Math.max(out[k] ?? 0, v);
  if (!o.excludeOverhead) for (const [k, v] of Object.entries(podOverhead(pod))) out[k] = (out[k] ?? 0) + v;
  return out;
}
