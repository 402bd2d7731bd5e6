/** What a container or pod asks of the memory manager: memory and hugepages limits, in bytes. */
import type { Container, Pod } from '../../api/types.js';
import { parseQuantity } from '../../config/kubeletconfig.js';

export const isHugePages = (name: string): boolean => name.startsWith('hugepages-');
export const isMemoryResource = (name: string): boolean => name === 'memory' || isHugePages(name);

/** Memory resources of a container (its limits, which equal its requests in a Guaranteed pod). */
export function containerMemoryRequests(c: Container): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, q] of Object.entries(c.resources?.limits ?? {})) {
    if (!isMemoryResource(name)) continue;
    const v = parseQuantity(q);
    if (v === undefined || v < 0) throw new Error(`container ${c.name}: limit ${name}=${String(q)} is not a quantity`);
    out[name] = Math.ceil(v);
  }
  return out;
}

/**
 * What the pod needs at once (pod scope): per resource, the larger of the init containers' peak
 * (restartable init containers keep running, so they add up) and the long-running containers' sum.
 */
export function podMemoryRequests(pod: Pod): Record<string, number> {
  const initPeak: Record<string, number> = {};
  const sidecars: Record<string, number> = {};
  for (const c of pod.spec.initContainers ?? []) {
    for (const [r, q] of Object.entries(containerMemoryRequests(c))) {
      initPeak[r] ??= 0;
      if (c.restartPolicy === 'Always') sidecars[r] = (sidecars[r] ?? 0) + q;
      else if ((sidecars[r] ?? 0) + q > initPeak[r]) initPeak[r] = (sidecars[r] ?? 0) + q;
    }
  }
  const apps: Record<string, number> = {};
  for (const c of pod.spec.containers) for (const [r, q] of Object.entries(containerMemoryRequests(c))) apps[r] = (apps[r] ?? 0) + q;
  const out: Record<string, number> = {};
  for (const r of Object.keys(apps)) out[r] = Math.max(apps[r]! + (sidecars[r] ?? 0), initPeak[r] ?? 0);
  return out;
}

export function isInitContainer(pod: Pod, c: Container): boolean {
  return (pod.spec.initContainers ?? []).some((i) => i.name === c.name && i.restartPolicy !== 'Always');
}
