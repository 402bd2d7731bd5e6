/**
 * A topology manager policy: merges the providers' hints into one affinity and says whether the
 * pod may be admitted with it. One policy per file (policy-*.ts); `newPolicy` picks by name.
 */
import type { MaskHint, HintList } from './merge.js';
import type { NumaInfo } from './numa-info.js';
import type { TopologyPolicyOptions } from './options.js';

export const PolicyName = {
  None: 'none',
  BestEffort: 'best-effort',
  Restricted: 'restricted',
  SingleNumaNode: 'single-numa-node',
} as const;
export type PolicyName = (typeof PolicyName)[keyof typeof PolicyName];
export const POLICY_NAMES: readonly PolicyName[] = Object.values(PolicyName);

export interface MergeResult {
  hint: MaskHint;
  admit: boolean;
}

export interface Policy {
  readonly name: PolicyName;
  merge(lists: readonly HintList[]): MergeResult;
}

export interface PolicyDeps {
  numa: NumaInfo;
  options: TopologyPolicyOptions;
}

export function isPolicyName(s: string): s is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(s);
}
