/**
 * The NUMA nodes the topology manager aligns to, and their distances (for
 * `prefer-closest-numa-nodes`). Facts from the kubelet's `numa_info.go`.
 */
import { count, idsOf, isNarrowerThan, maskOf, type Mask } from './bitmask.js';

export class NumaInfo {
  readonly nodes: readonly number[];
  readonly defaultMask: Mask;
  /** distances[node][i]: distance from `node` to nodes[i] (sysfs nodeN/distance order). */
  private readonly distances: Readonly<Record<number, readonly number[]>>;
  private readonly index = new Map<number, number>();
  private readonly avgCache = new Map<Mask, number>();

  constructor(nodes: readonly number[], distances: Readonly<Record<number, readonly number[]>> = {}) {
    const sorted = [...nodes].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) throw new RangeError(`NUMA node ${sorted[i]} listed twice`);
    this.nodes = sorted;
    this.defaultMask = maskOf(sorted);
    sorted.forEach((n, i) => this.index.set(n, i));
    this.distances = distances;
  }

  /** True when every node has a full distance row (what prefer-closest-numa-nodes needs). */
  hasDistances(): boolean {
    return this.nodes.every((n) => {
      const row = this.distances[n];
      return Array.isArray(row) && row.length >= this.nodes.length && row.every((d) => Number.isFinite(d) && d >= 0);
    });
  }

  /** Distance between two nodes of this machine (0 when unknown). */
  distance(from: number, to: number): number {
    const i = this.index.get(to);
    return i === undefined ? 0 : (this.distances[from]?.[i] ?? 0);
  }

  /** Average distance over all ordered pairs of nodes in `m`, including each node to itself. */
  averageDistance(m: Mask): number {
    const hit = this.avgCache.get(m);
    if (hit !== undefined) return hit;
    const ids = idsOf(m);
    let sum = 0;
    for (const a of ids) for (const b of ids) sum += this.distance(a, b);
    const avg = ids.length === 0 ? 0 : sum / (ids.length * ids.length);
    this.avgCache.set(m, avg);
    return avg;
  }

  /** The narrower of two masks (the kubelet's Narrowest: a wins only if strictly narrower). */
  narrowest(a: Mask, b: Mask): Mask {
    return isNarrowerThan(a, b) ? a : b;
  }

  /**
   * The kubelet's Closest: different sizes -> the narrower; same size -> the smaller average
   * distance; same distance -> the lower mask value.
   */
  closest(a: Mask, b: Mask): Mask {
    if (count(a) !== count(b)) return this.narrowest(a, b);
    const da = this.averageDistance(a);
    const db = this.averageDistance(b);
    if (da === db) return a < b ? a : b;
    return da < db ? a : b;
  }
}
