/** `best-effort`: merge the hints and store the best affinity, but admit whatever it is. */
import { mergeContext, mergeHints, type HintList } from './merge.js';
import type { MergeResult, Policy, PolicyDeps } from './policy.js';

/** The merge best-effort and restricted share. */
export function mergeLists(deps: PolicyDeps, lists: readonly HintList[]): MergeResult['hint'] {
  const hints = lists.map((l) => l.hints);
  return mergeHints(hints, mergeContext(deps.numa, hints, deps.options.preferClosestNumaNodes));
}

export class BestEffortPolicy implements Policy {
  readonly name = 'best-effort' as const;
  constructor(private readonly deps: PolicyDeps) {}
  merge(lists: readonly HintList[]): MergeResult {
    return { hint: mergeLists(this.deps, lists), admit: true };
  }
}
