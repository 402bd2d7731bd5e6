/**
 * `single-numa-node`: only "any" or one-node preferred hints take part; admitted iff the result is
 * preferred. A result spanning every node is reported as "any" (null), as the kubelet does.
 * prefer-closest-numa-nodes does not apply (one node has no distance to compare).
 */
import { filterSingleNumaHints, mergeContext, mergeHints, type HintList } from './merge.js';
import type { MergeResult, Policy, PolicyDeps } from './policy.js';

export class SingleNumaNodePolicy implements Policy {
  readonly name = 'single-numa-node' as const;
  constructor(private readonly deps: PolicyDeps) {}
  merge(lists: readonly HintList[]): MergeResult {
    const filtered = filterSingleNumaHints(lists.map((l) => l.hints));
    const best = mergeHints(filtered, mergeContext(this.deps.numa, filtered, false));
    const hint = best.mask === this.deps.numa.defaultMask ? { mask: null, preferred: best.preferred } : best;
    return { hint, admit: hint.preferred };
  }
}
