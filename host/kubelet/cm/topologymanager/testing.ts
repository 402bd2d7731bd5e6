/** Builders shared by the topology manager's tests (and the container manager's). */
import type { ResourceHints, TopologyHint } from '../types.js';

/** A preferred hint on these NUMA nodes. */
export const p = (...ids: number[]): TopologyHint => ({ numaAffinity: ids, preferred: true });
/** A non-preferred hint on these NUMA nodes. */
export const n = (...ids: number[]): TopologyHint => ({ numaAffinity: ids, preferred: false });
/** "Any NUMA node", preferred or not. */
export const pAny: TopologyHint = { numaAffinity: null, preferred: true };
export const nAny: TopologyHint = { numaAffinity: null, preferred: false };

/** The kubelet tests' machines. */
export const TWO_NODES = { numaNodes: [0, 1], distances: { 0: [10, 11], 1: [11, 10] } };
export const FOUR_NODES = {
  numaNodes: [0, 1, 2, 3],
  distances: { 0: [10, 11, 12, 12], 1: [11, 10, 12, 12], 2: [12, 12, 10, 11], 3: [12, 12, 11, 10] },
};
export const EIGHT_NODES = {
  numaNodes: [0, 1, 2, 3, 4, 5, 6, 7],
  distances: {
    0: [10, 11, 12, 12, 30, 30, 30, 30],
    1: [11, 10, 12, 12, 30, 30, 30, 30],
    2: [12, 12, 10, 11, 30, 30, 30, 30],
    3: [12, 12, 11, 10, 30, 30, 30, 30],
    4: [30, 30, 30, 30, 10, 11, 12, 12],
    5: [30, 30, 30, 30, 11, 10, 12, 12],
    6: [30, 30, 30, 30, 12, 12, 10, 11],
    7: [30, 30, 30, 30, 12, 12, 13, 10],
  },
};

export interface MergeCase {
  name: string;
  providers: ResourceHints[];
  expected: TopologyHint;
}
