/** `restricted`: like best-effort, but a pod is admitted only if the merged hint is preferred. */
import type { HintList } from './merge.js';
import { mergeLists } from './policy-best-effort.js';
import type { MergeResult, Policy, PolicyDeps } from './policy.js';

export class RestrictedPolicy implements Policy {
  readonly name = 'restricted' as const;
  constructor(private readonly deps: PolicyDeps) {}
  merge(lists: readonly HintList[]): MergeResult {
    const hint = mergeLists(this.deps, lists);
    return { hint, admit: hint.preferred };
  }
}
