/**
 * `reservedMemory` (KubeletConfiguration): per NUMA node, the memory and hugepages kept for the
 * system. With the Static policy the per-resource totals must equal what Node Allocatable holds
 * back (kubeReserved + systemReserved + the hard eviction threshold for memory), as upstream
 * (memory_manager.go validateReservedMemory), and some memory must be reserved.
 */
import { parseQuantity } from '../../config/kubeletconfig.js';
import { isMemoryResource } from './resources.js';

export interface MemoryReservation {
  numaNode: number;
  limits: Record<string, string | number>;
}

/** NUMA id -> resource -> bytes reserved for the system. */
export type SystemReservedMemory = Record<number, Record<string, number>>;

/** Validates and sums the reservations; errors name the entry (reservedMemory[i]...). */
export function parseReservedMemory(list: readonly unknown[] | null | undefined, numaNodes: readonly number[]): SystemReservedMemory {
  const out: SystemReservedMemory = {};
  (list ?? []).forEach((raw, i) => {
    const where = `reservedMemory[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: must be {numaNode, limits}`);
    const r = raw as Record<string, unknown>;
    for (const k of Object.keys(r)) if (k !== 'numaNode' && k !== 'limits') throw new Error(`${where}.${k}: unknown field`);
    if (typeof r.numaNode !== 'number' || !Number.isInteger(r.numaNode) || r.numaNode < 0) throw new Error(`${where}.numaNode: must be a NUMA node id`);
    if (!numaNodes.includes(r.numaNode)) throw new Error(`${where}.numaNode: the reserved memory configuration references a NUMA node ${r.numaNode} that does not exist on this machine`);
    if (r.limits === null || typeof r.limits !== 'object' || Array.isArray(r.limits)) throw new Error(`${where}.limits: must be a map of resource -> quantity`);
    const node = (out[r.numaNode] ??= {});
    for (const [res, q] of Object.entries(r.limits as Record<string, unknown>)) {
      if (!isMemoryResource(res)) throw new Error(`${where}.limits.${res}: only memory and hugepages-<size> can be reserved per NUMA node`);
      const v = typeof q === 'string' || typeof q === 'number' ? parseQuantity(q) : undefined;
      if (v === undefined || v < 0) throw new Error(`${where}.limits.${res}: ${JSON.stringify(q)} is not a non-negative quantity`);
      node[res] = (node[res] ?? 0) + v;
    }
  });
  return out;
}

export function totalReserved(r: SystemReservedMemory): Record<string, number> {
  const t: Record<string, number> = {};
  for (const node of Object.values(r)) for (const [res, v] of Object.entries(node)) t[res] = (t[res] ?? 0) + v;
  return t;
}

/**
 * Static policy check: for every memory resource in either, sum(reservedMemory) must equal the
 * Node Allocatable reservation (bytes), and some memory must be reserved.
 */
export function validateReservedMemory(r: SystemReservedMemory, nodeAllocatableReservation: Readonly<Record<string, number>>): void {
  const total = totalReserved(r);
  const names = new Set([...Object.keys(total), ...Object.keys(nodeAllocatableReservation).filter(isMemoryResource)]);
  for (const res of [...names].sort()) {
    const want = nodeAllocatableReservation[res] ?? 0;
    const have = total[res] ?? 0;
    if (Math.abs(want - have) > 0.5) {
      throw new Error(
        `reservedMemory: the total amount ${have} bytes of type "${res}" is not equal to the value ${want} bytes determined by Node Allocatable (kubeReserved + systemReserved${res === 'memory' ? ' + evictionHard memory.available' : ''})`,
      );
    }
  }
  if ((total.memory ?? 0) <= 0) throw new Error('reservedMemory: the Static memory manager policy needs memory reserved for the system on at least one NUMA node');
}
