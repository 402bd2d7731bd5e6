/** `none`: no alignment; every pod is admitted and no affinity is stored (the kubelet's default). */
import type { MergeResult, Policy } from './policy.js';

export class NonePolicy implements Policy {
  readonly name = 'none' as const;
  merge(): MergeResult {
    return { hint: { mask: null, preferred: false }, admit: true };
  }
}
