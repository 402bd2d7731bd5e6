/** Picks a policy by name; checks the machine against max-allowable-numa-nodes. */
import type { NumaInfo } from './numa-info.js';
import type { TopologyPolicyOptions } from './options.js';
import { BestEffortPolicy } from './policy-best-effort.js';
import { NonePolicy } from './policy-none.js';
import { RestrictedPolicy } from './policy-restricted.js';
import { SingleNumaNodePolicy } from './policy-single-numa-node.js';
import { isPolicyName, POLICY_NAMES, type Policy } from './policy.js';

export function newPolicy(name: string, numa: NumaInfo, options: TopologyPolicyOptions): Policy {
  if (!isPolicyName(name)) throw new Error(`unknown policy: "${name}" (known: ${POLICY_NAMES.join(', ')})`);
  if (name !== 'none' && numa.nodes.length > options.maxAllowableNumaNodes) {
    throw new Error(
      `unsupported on machines with more than ${options.maxAllowableNumaNodes} NUMA Nodes (this one has ${numa.nodes.length}); set topologyManagerPolicyOptions max-allowable-numa-nodes to allow it`,
    );
  }
  const deps = { numa, options };
  switch (name) {
    case 'none':
      return new NonePolicy();
    case 'best-effort':
      return new BestEffortPolicy(deps);
    case 'restricted':
      return new RestrictedPolicy(deps);
    case 'single-numa-node':
      return new SingleNumaNodePolicy(deps);
  }
}
