/**
 * The topology manager's hint merge, decision for decision the kubelet's (`policy.go`,
 * `policy_single_numa_node.go`; see ../../../../../shared/reference/kubelet.md §7):
 *
 *  1. flatten every provider's answer into one hint list per (provider, resource);
 *  2. (single-numa-node) keep only preferred hints that are "any" or one node;
 *  3. every combination of one hint per list merges to default-mask AND every non-nil affinity,
 *     preferred iff every hint is preferred and all non-nil affinities are equal;
 *  4. the best merged hint by `compareHints` (empty masks never win);
 *  5. nothing valid -> {default mask, not preferred}.
 *
 * The kubelet walks the full cross product (hence its 8-NUMA limit). `mergeHints` gets the same
 * answer without it: `compareHints` orders candidates totally (preferred first; among preferred
 * the narrowest/closest; among non-preferred first those with exactly bestNonPreferredAffinityCount
 * nodes, then fewer nodes (the more the better), then more nodes (the fewer the better); ties by
 * narrowest/closest), so the winner does not depend on the order candidates are seen, and only
 * the distinct (mask, preferred, common affinity) states of partial combinations need keeping.
 * `mergeHintsByCrossProduct` is the literal walk, kept as the reference the tests compare against.
 */
import type { ResourceHints, TopologyHint } from '../types.js';
import { and, count, idsOf, maskOf, type Mask } from './bitmask.js';
import type { NumaInfo } from './numa-info.js';

/** A hint with its NUMA set as a mask; null = any NUMA node. */
export interface MaskHint {
  mask: Mask | null;
  preferred: boolean;
}

/** Where a flattened hint list came from, for messages. */
export type HintListOrigin = 'hints' | 'no-preference' | 'impossible';

/** One flattened hint list: one (provider, resource). */
export interface HintList {
  provider: string;
  /** null when the provider answered nothing at all. */
  resource: string | null;
  origin: HintListOrigin;
  hints: MaskHint[];
}

export function toMaskHint(h: TopologyHint): MaskHint {
  return { mask: h.numaAffinity === null ? null : maskOf(h.numaAffinity), preferred: h.preferred };
}

export function toTopologyHint(h: MaskHint): TopologyHint {
  return { numaAffinity: h.mask === null ? null : idsOf(h.mask), preferred: h.preferred };
}

/**
 * Step 1: a provider that answered null or {} -> [{any, preferred}]; a resource mapped to null ->
 * [{any, preferred}]; a resource mapped to [] -> [{any, not preferred}]; otherwise its hints.
 */
export function flattenProviderHints(providers: readonly { name: string; hints: ResourceHints }[]): HintList[] {
  const out: HintList[] = [];
  for (const p of providers) {
    const entries = p.hints ? Object.entries(p.hints) : [];
    if (entries.length === 0) {
      out.push({ provider: p.name, resource: null, origin: 'no-preference', hints: [{ mask: null, preferred: true }] });
      continue;
    }
    for (const [resource, hints] of entries) {
      if (hints === null) out.push({ provider: p.name, resource, origin: 'no-preference', hints: [{ mask: null, preferred: true }] });
      else if (hints.length === 0) out.push({ provider: p.name, resource, origin: 'impossible', hints: [{ mask: null, preferred: false }] });
      else out.push({ provider: p.name, resource, origin: 'hints', hints: hints.map(toMaskHint) });
    }
  }
  return out;
}

/** Step 2 (single-numa-node): keep preferred hints that are "any" or exactly one node. */
export function filterSingleNumaHints(lists: readonly MaskHint[][]): MaskHint[][] {
  return lists.map((l) => l.filter((h) => h.preferred && (h.mask === null || count(h.mask) === 1)));
}

/** The largest, over lists, of the narrowest non-nil hint's node count (0 if none). */
export function maxOfMinAffinityCounts(lists: readonly MaskHint[][]): number {
  let max = 0;
  for (const l of lists) {
    let min = Infinity;
    for (const h of l) if (h.mask !== null) min = Math.min(min, count(h.mask));
    if (min !== Infinity && min > max) max = min;
  }
  return max;
}

export interface MergeContext {
  numa: NumaInfo;
  /** prefer-closest-numa-nodes, and the policy is not single-numa-node. */
  closest: boolean;
  bestNonPreferredAffinityCount: number;
}

export function mergeContext(numa: NumaInfo, lists: readonly MaskHint[][], closest: boolean): MergeContext {
  return { numa, closest, bestNonPreferredAffinityCount: maxOfMinAffinityCounts(lists) };
}

function fitter(ctx: MergeContext, current: MaskHint & { mask: Mask }, candidate: MaskHint & { mask: Mask }): MaskHint {
  if (candidate.mask === current.mask) return current;
  const best = ctx.closest ? ctx.numa.closest(current.mask, candidate.mask) : ctx.numa.narrowest(current.mask, candidate.mask);
  return best === current.mask ? current : candidate;
}

/** The kubelet's `compare`: returns `current` or `candidate`, whichever is the better merged hint. */
export function compareHints(ctx: MergeContext, current: (MaskHint & { mask: Mask }) | null, candidate: MaskHint & { mask: Mask }): MaskHint | null {
  if (count(candidate.mask) === 0) return current;
  if (current === null) return candidate;
  if (!current.preferred && candidate.preferred) return candidate;
  if (current.preferred && !candidate.preferred) return current;
  if (current.preferred && candidate.preferred) return fitter(ctx, current, candidate);
  const best = ctx.bestNonPreferredAffinityCount;
  const cur = count(current.mask);
  const cand = count(candidate.mask);
  if (cur > best) return fitter(ctx, current, candidate);
  if (cur === best) return cand === best ? fitter(ctx, current, candidate) : current;
  if (cand > best) return current;
  if (cand === best) return candidate;
  if (cand > cur) return candidate;
  if (cand < cur) return current;
  return fitter(ctx, current, candidate);
}

type Merged = MaskHint & { mask: Mask };

/** Step 3 for one combination. */
export function mergePermutation(defaultMask: Mask, permutation: readonly MaskHint[]): Merged {
  let preferred = true;
  let first: Mask | null = null;
  let acc = defaultMask;
  for (const h of permutation) {
    if (h.mask !== null) {
      if (first === null) first = h.mask;
      else if (h.mask !== first) preferred = false;
      acc = and(acc, h.mask);
    }
    if (!h.preferred) preferred = false;
  }
  return { mask: acc, preferred };
}

/** The literal cross-product walk (the kubelet's iterateAllProviderTopologyHints). */
export function mergeHintsByCrossProduct(lists: readonly MaskHint[][], ctx: MergeContext): Merged {
  const def = ctx.numa.defaultMask;
  let best: MaskHint | null = null;
  const perm: MaskHint[] = [];
  const walk = (i: number): void => {
    if (i === lists.length) {
      best = compareHints(ctx, best as Merged | null, mergePermutation(def, perm));
      return;
    }
    for (const h of lists[i]!) {
      perm.push(h);
      walk(i + 1);
      perm.pop();
    }
  };
  walk(0);
  return (best as Merged | null) ?? { mask: def, preferred: false };
}

interface State {
  acc: Mask;
  preferred: boolean;
  /** While preferred: the first non-nil affinity seen (-1: none yet). */
  common: number;
}

/** Steps 3-5 without enumerating the cross product; same answer as mergeHintsByCrossProduct. */
export function mergeHints(lists: readonly MaskHint[][], ctx: MergeContext): Merged {
  const def = ctx.numa.defaultMask;
  let states = new Map<number, State>([[0, { acc: def, preferred: true, common: -1 }]]);
  for (const list of lists) {
    const next = new Map<number, State>();
    for (const s of states.values()) {
      for (const h of list) {
        const acc = h.mask === null ? s.acc : and(s.acc, h.mask);
        if (acc === 0) continue; // can only stay empty, and empty merges never win
        let preferred = s.preferred && h.preferred;
        let common = s.common;
        if (preferred && h.mask !== null) {
          if (common === -1) common = h.mask;
          else if (common !== h.mask) preferred = false;
        }
        // A preferred state is determined by its common affinity; a non-preferred one by its mask.
        const key = preferred ? common + 1 : -(acc + 1);
        if (!next.has(key)) next.set(key, { acc, preferred, common: preferred ? common : -1 });
      }
    }
    states = next;
    if (states.size === 0) break;
  }
  let best: MaskHint | null = null;
  for (const s of states.values()) best = compareHints(ctx, best as Merged | null, { mask: s.acc, preferred: s.preferred });
  return (best as Merged | null) ?? { mask: def, preferred: false };
}
