/**
 * NUMA node sets as bit masks (bit i = NUMA node i), the representation the kubelet's topology
 * manager uses (`bitmask.BitMask`, a uint64). Ours is an unsigned 32-bit number so that the merge
 * can use JavaScript's integer bit operations: NUMA node ids must be 0..31 (the kubelet allows
 * 0..63; no machine we know of has a NUMA id above 31, and the topology manager refuses more than
 * 8 nodes by default anyway).
 */

export const MAX_NUMA_ID = 31;

/** A NUMA node set; 0 is the empty set. Always a non-negative integer below 2^32. */
export type Mask = number;

/** The mask of `ids`; throws on an id outside 0..31 (naming it). */
export function maskOf(ids: Iterable<number>): Mask {
  let m = 0;
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_NUMA_ID) throw new RangeError(`NUMA node id ${String(id)} is outside 0..${MAX_NUMA_ID}`);
    m = (m | (1 << id)) >>> 0;
  }
  return m;
}

/** The ids in `m`, ascending. */
export function idsOf(m: Mask): number[] {
  const out: number[] = [];
  for (let i = 0; m !== 0 && i <= MAX_NUMA_ID; i++) {
    if (m & (1 << i)) out.push(i);
  }
  return out;
}

export function and(a: Mask, b: Mask): Mask {
  return (a & b) >>> 0;
}

export function or(a: Mask, b: Mask): Mask {
  return (a | b) >>> 0;
}

/** Number of NUMA nodes in `m`. */
export function count(m: Mask): number {
  let v = m >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function isSet(m: Mask, id: number): boolean {
  return id >= 0 && id <= MAX_NUMA_ID && (m & (1 << id)) !== 0;
}

/** True if every node of `sub` is in `sup`. */
export function isSubset(sub: Mask, sup: Mask): boolean {
  return ((sub & ~sup) >>> 0) === 0;
}

/**
 * The kubelet's "narrower": fewer nodes, or as many nodes and a lower numeric value (which favours
 * lower-numbered nodes).
 */
export function isNarrowerThan(a: Mask, b: Mask): boolean {
  const ca = count(a);
  const cb = count(b);
  return ca < cb || (ca === cb && a < b);
}

/** "{0,1}" — how masks appear in messages. */
export function formatMask(m: Mask | null): string {
  return m === null ? 'any' : `{${idsOf(m).join(',')}}`;
}

/**
 * Calls `fn` for every non-empty subset of `ids`: all 1-node sets, then all 2-node sets, and so on,
 * each size in lexicographic order of the (given) id order — the kubelet's `IterateBitMasks` order,
 * which the hint providers use to generate hints.
 */
export function forEachMask(ids: readonly number[], fn: (m: Mask) => void): void {
  const masks = ids.map((id) => maskOf([id]));
  const walk = (start: number, acc: Mask, left: number): void => {
    if (left === 0) {
      fn(acc);
      return;
    }
    for (let i = start; i <= masks.length - left; i++) walk(i + 1, (acc | masks[i]!) >>> 0, left - 1);
  };
  for (let size = 1; size <= masks.length; size++) walk(0, 0, size);
}
