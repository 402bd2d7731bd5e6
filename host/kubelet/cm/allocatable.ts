/**
 * Node capacity and allocatable, as the kubelet computes them (cm/node_container_manager_linux.go,
 * nodestatus/setters.go):
 *   reservation[r] = systemReserved[r] + kubeReserved[r] + hard eviction threshold for r
 *                    (memory.available -> memory, nodefs.available -> ephemeral-storage; a
 *                    percentage is of that resource's capacity)
 *   allocatable[r] = max(0, capacity[r] - reservation[r]), then memory -= every hugepages capacity.
 * Quantities are numbers: cpu in cores, memory/storage/hugepages in bytes, pods and devices in units.
 */
import { parseQuantity } from '../config/kubeletconfig.js';
import { isHard, parseThresholdConfig, thresholdQuantity, type EvictionSettings } from '../eviction/thresholds.js';

export type ResourceList = Record<string, number>;

/** Resources kubeReserved / systemReserved may name (upstream parseResourceList). */
export const RESERVABLE = ['cpu', 'memory', 'ephemeral-storage', 'pid'] as const;

/** Parses a kubeReserved/systemReserved map; errors name `<field>.<resource>`. */
export function parseReservedResources(field: string, m: Readonly<Record<string, string>> | null | undefined): ResourceList {
  const out: ResourceList = {};
  for (const [r, q] of Object.entries(m ?? {})) {
    if (!(RESERVABLE as readonly string[]).includes(r) && !r.startsWith('hugepages-')) throw new Error(`${field}.${r}: cannot reserve "${r}" (only ${RESERVABLE.join(', ')})`);
    const v = parseQuantity(q);
    if (v === undefined) throw new Error(`${field}.${r}: "${q}" is not a quantity`);
    if (v < 0) throw new Error(`${field}.${r}: resource quantity for "${r}" cannot be negative: ${q}`);
    out[r] = v;
  }
  return out;
}

/** What hard eviction thresholds hold back of memory and ephemeral storage. */
export function hardEvictionReservation(settings: EvictionSettings, capacity: ResourceList): ResourceList {
  const out: ResourceList = {};
  for (const t of parseThresholdConfig(settings)) {
    if (!isHard(t)) continue;
    if (t.signal === 'memory.available') out.memory = thresholdQuantity(t.value, capacity.memory ?? 0);
    else if (t.signal === 'nodefs.available') out['ephemeral-storage'] = thresholdQuantity(t.value, capacity['ephemeral-storage'] ?? 0);
  }
  return out;
}

export interface AllocatableInputs {
  capacity: ResourceList;
  kubeReserved?: ResourceList;
  systemReserved?: ResourceList;
  eviction?: EvictionSettings;
}

/** GetNodeAllocatableReservation: per capacity resource, the non-zero sum of what is held back. */
export function nodeAllocatableReservation(i: AllocatableInputs): ResourceList {
  const ev = hardEvictionReservation(i.eviction ?? {}, i.capacity);
  const out: ResourceList = {};
  for (const r of Object.keys(i.capacity)) {
    const v = (i.systemReserved?.[r] ?? 0) + (i.kubeReserved?.[r] ?? 0) + (ev[r] ?? 0);
    if (v !== 0) out[r] = v;
  }
  return out;
}

export function nodeAllocatable(i: AllocatableInputs): ResourceList {
  const reservation = nodeAllocatableReservation(i);
  const out: ResourceList = {};
  for (const [r, v] of Object.entries(i.capacity)) out[r] = Math.max(0, v - (reservation[r] ?? 0));
  for (const [r, v] of Object.entries(i.capacity)) {
    if (r.startsWith('hugepages-') && out.memory !== undefined) out.memory = Math.max(0, out.memory - v);
  }
  return out;
}
