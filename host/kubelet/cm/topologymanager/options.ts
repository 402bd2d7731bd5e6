/**
 * `topologyManagerPolicyOptions` (values are strings, as in KubeletConfiguration):
 *   prefer-closest-numa-nodes  "true"/"false": among equally narrow preferred hints, pick the one with
 *                              the smallest average NUMA distance (sysfs nodeN/distance).
 *   max-allowable-numa-nodes   integer >= 8: allow machines with more NUMA nodes than the default 8.
 * Unknown options are errors, as upstream. Both are GA upstream, so no feature gate is consulted.
 */
export const PREFER_CLOSEST_NUMA_NODES = 'prefer-closest-numa-nodes';
export const MAX_ALLOWABLE_NUMA_NODES = 'max-allowable-numa-nodes';
/** The kubelet refuses to start on machines with more NUMA nodes than this unless told otherwise. */
export const DEFAULT_MAX_ALLOWABLE_NUMA_NODES = 8;

export interface TopologyPolicyOptions {
  preferClosestNumaNodes: boolean;
  maxAllowableNumaNodes: number;
}

export const DEFAULT_TOPOLOGY_POLICY_OPTIONS: TopologyPolicyOptions = { preferClosestNumaNodes: false, maxAllowableNumaNodes: DEFAULT_MAX_ALLOWABLE_NUMA_NODES };

/** Go's strconv.ParseBool spellings. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Parses the options map; throws an Error naming the option and the bad value. */
export function parseTopologyPolicyOptions(raw: Readonly<Record<string, unknown>> | null | undefined): TopologyPolicyOptions {
  const opts = { ...DEFAULT_TOPOLOGY_POLICY_OPTIONS };
  for (const [name, value] of Object.entries(raw ?? {})) {
    const v = typeof value === 'string' ? value : typeof value === 'boolean' || typeof value === 'number' ? String(value) : undefined;
    switch (name) {
      case PREFER_CLOSEST_NUMA_NODES: {
        const b = v === undefined ? undefined : parseGoBool(v);
        if (b === undefined) throw new Error(`bad value for option "${name}": ${JSON.stringify(value)} is not a boolean`);
        opts.preferClosestNumaNodes = b;
        break;
      }
      case MAX_ALLOWABLE_NUMA_NODES: {
        const n = v !== undefined && /^[+-]?\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
        if (!Number.isSafeInteger(n)) throw new Error(`bad value for option "${name}": ${JSON.stringify(value)} is not an integer`);
        if (n < DEFAULT_MAX_ALLOWABLE_NUMA_NODES) throw new Error(`the minimum value of "${name}" should not be less than ${DEFAULT_MAX_ALLOWABLE_NUMA_NODES}`);
        opts.maxAllowableNumaNodes = n;
        break;
      }
      default:
        throw new Error(`unknown Topology Manager Policy option: "${name}"`);
    }
  }
  return opts;
}
