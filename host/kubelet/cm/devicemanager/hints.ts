/**
 * Device topology hints and device requests (cm/devicemanager/topology_hints.go), as pure
 * functions the manager and the tests call.
 *
 * For every combination of NUMA nodes (by size, then in lexicographic order, as the kubelet's
 * bitmask.IterateBitMasks), a hint exists when the available devices inside it (plus the reusable
 * ones, all of which must be inside) cover the request; it is preferred when its size equals the
 * smallest combination that could hold the request among all the resource's devices. A device
 * belongs to a combination when one of its NUMA nodes is in it; a device that reports no NUMA
 * node belongs to every combination. A resource whose devices report no NUMA node at all has no
 * preference (null).
 */
import type { Container, Pod } from '../../api/types.js';
import type { TopologyHint } from '../types.js';

export interface DeviceInfo {
  id: string;
  healthy: boolean;
  /** NUMA nodes the device is attached to; [] = unknown (belongs to every node). */
  numa: number[];
}

/** Non-empty subsets of `nodes`, smallest first, each size in lexicographic order. */
export function numaCombinations(nodes: number[]): number[][] {
  const sorted = [...nodes].sort((a, b) => a - b);
  const out: number[][] = [];
  const pick = (start: number, k: number, acc: number[]): void => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i < sorted.length; i++) {
      acc.push(sorted[i]!);
      pick(i + 1, k, acc);
      acc.pop();
    }
  };
  for (let k = 1; k <= sorted.length; k++) pick(0, k, []);
  return out;
}

export function inMask(d: DeviceInfo | undefined, mask: number[]): boolean {
  if (!d || d.numa.length === 0) return true;
  return d.numa.some((n) => mask.includes(n));
}

export function hasTopology(devices: Iterable<DeviceInfo>): boolean {
  for (const d of devices) if (d.numa.length > 0) return true;
  return false;
}

export function generateDeviceHints(
  numaNodes: number[],
  all: Map<string, DeviceInfo>,
  available: Iterable<string>,
  reusable: Iterable<string>,
  request: number,
): TopologyHint[] {
  let minAffinitySize = numaNodes.length;
  const hints: TopologyHint[] = [];
  const avail = [...available];
  const reuse = [...reusable];
  for (const mask of numaCombinations(numaNodes)) {
    let inside = 0;
    for (const d of all.values()) if (inMask(d, mask)) inside++;
    if (inside >= request && mask.length < minAffinitySize) minAffinitySize = mask.length;
    let matching = 0;
    let reusableOutside = false;
    for (const id of reuse) {
      if (!inMask(all.get(id), mask)) {
        reusableOutside = true;
        break;
      }
      matching++;
    }
    if (reusableOutside) continue;
    for (const id of avail) if (inMask(all.get(id), mask)) matching++;
    if (matching < request) continue;
    hints.push({ numaAffinity: mask, preferred: false });
  }
  for (const h of hints) h.preferred = h.numaAffinity!.length === minAffinitySize;
  return hints;
}

/** Whole-number count of a quantity (extended resources are integers); NaN when it is not one. */
export function deviceCount(q: string | number): number {
  const n = typeof q === 'number' ? q : Number(q.trim());
  return Number.isInteger(n) && n >= 0 ? n : NaN;
}

/** resource → count for the container's requests of `isDevice` resources (limits win over requests). */
export function containerDeviceRequests(c: Container, isDevice: (r: string) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  const all = { ...(c.resources?.requests ?? {}), ...(c.resources?.limits ?? {}) };
  for (const [r, q] of Object.entries(all)) {
    if (!isDevice(r)) continue;
    const n = deviceCount(q);
    if (n > 0 || Number.isNaN(n)) out.set(r, n);
  }
  return out;
}

/**
 * The pod's effective device request per resource: the larger of the app containers' sum (plus
 * restartable init containers, which keep running) and, for each plain init container, its own
 * request plus the sidecars started before it.
 */
export function podDeviceRequests(pod: Pod, isDevice: (r: string) => boolean): Map<string, number> {
  const out = new Map<string, number>();
  const add = (m: Map<string, number>, r: string, n: number): void => void m.set(r, (m.get(r) ?? 0) + n);
  const sidecars = new Map<string, number>();
  for (const ic of pod.spec.initContainers ?? []) {
    const req = containerDeviceRequests(ic, isDevice);
    if (ic.restartPolicy === 'Always') {
      for (const [r, n] of req) add(sidecars, r, n);
      continue;
    }
    for (const [r, n] of req) out.set(r, Math.max(out.get(r) ?? 0, n + (sidecars.get(r) ?? 0)));
  }
  const apps = new Map(sidecars);
  for (const c of pod.spec.containers) for (const [r, n] of containerDeviceRequests(c, isDevice)) add(apps, r, n);
  for (const [r, n] of apps) out.set(r, Math.max(out.get(r) ?? 0, n));
  return out;
}
