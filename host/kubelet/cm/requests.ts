/**
 * A pod's effective resource requests, as the scheduler and the kubelet's admission count them
 * (component-helpers resource.PodRequests): per resource the larger of the long-running
 * containers' sum (app containers plus restartable init containers) and the peak while an init
 * container runs (the sidecars started before it plus itself). Requests default to limits.
 */
import type { Container, Pod } from '../api/types.js';
import { parseQuantity } from '../config/kubeletconfig.js';
import type { ResourceList } from './allocatable.js';

export function containerRequests(c: Container): ResourceList {
  const out: ResourceList = {};
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  for (const r of new Set([...Object.keys(lim), ...Object.keys(req)])) {
    const q = req[r] ?? lim[r];
    const v = q === undefined ? undefined : parseQuantity(q);
    if (v !== undefined && v > 0) out[r] = v;
  }
  return out;
}

export function podRequests(pod: Pod): ResourceList {
  const sidecars: ResourceList = {};
  const initPeak: ResourceList = {};
  for (const c of pod.spec.initContainers ?? []) {
    const r = containerRequests(c);
    if (c.restartPolicy === 'Always') {
      for (const [k, v] of Object.entries(r)) sidecars[k] = (sidecars[k] ?? 0) + v;
      for (const [k, v] of Object.entries(sidecars)) initPeak[k] = Math.max(initPeak[k] ?? 0, v);
    } else {
      for (const k of new Set([...Object.keys(r), ...Object.keys(sidecars)])) initPeak[k] = Math.max(initPeak[k] ?? 0, (sidecars[k] ?? 0) + (r[k] ?? 0));
    }
  }
  const out: ResourceList = { ...sidecars };
  for (const c of pod.spec.containers) for (const [k, v] of Object.entries(containerRequests(c))) out[k] = (out[k] ?? 0) + v;
  for (const [k, v] of Object.entries(initPeak)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}
