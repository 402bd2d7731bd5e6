/**
 * `cocolet explain topology`: what the topology manager would decide for given hints.
 *   in:  {"policy": "best-effort", "policyOptions": {...}, "numa": {"nodes": [0, 1], "distances": {"0": [10, 11], ...}},
 *         "providers": [{"hints": {"cpu": [{"numaAffinity": [0], "preferred": true}], "memory": null} or null}, ...]}
 *   out: {"bestHint": {"numaAffinity": [0] or null, "preferred": true}, "admit": true}
 */
import type { ResourceHints, TopologyHint } from '../types.js';
import { flattenProviderHints, toTopologyHint } from './merge.js';
import { NumaInfo } from './numa-info.js';
import { parseTopologyPolicyOptions } from './options.js';
import { newPolicy } from './policies.js';

export interface ExplainTopologyAnswer {
  bestHint: TopologyHint;
  admit: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function intList(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) throw new Error(`${where}: must be a list of integers`);
  return v as number[];
}

function parseHint(v: unknown, where: string): TopologyHint {
  if (!isObject(v)) throw new Error(`${where}: must be an object {"numaAffinity": [ids] or null, "preferred": bool}`);
  const preferred = v.preferred;
  if (typeof preferred !== 'boolean') throw new Error(`${where}.preferred: must be true or false`);
  const aff = v.numaAffinity;
  const numaAffinity = aff === null || aff === undefined ? null : [...new Set(intList(aff, `${where}.numaAffinity`))].sort((a, b) => a - b);
  return { numaAffinity, preferred };
}

function parseProviderHints(v: unknown, where: string): ResourceHints {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) throw new Error(`${where}: must be an object resource -> hints, or null`);
  const out: Record<string, TopologyHint[] | null> = {};
  for (const [res, hints] of Object.entries(v)) {
    if (hints === null) out[res] = null;
    else if (Array.isArray(hints)) out[res] = hints.map((h, i) => parseHint(h, `${where}.${res}[${i}]`));
    else throw new Error(`${where}.${res}: must be a list of hints or null`);
  }
  return out;
}

export function explainTopology(input: unknown): ExplainTopologyAnswer {
  if (!isObject(input)) throw new Error('input: must be a JSON object with policy, numa and providers');
  const policyName = input.policy;
  if (typeof policyName !== 'string') throw new Error('policy: must be one of none, best-effort, restricted, single-numa-node');
  const numaIn = input.numa;
  if (!isObject(numaIn)) throw new Error('numa: must be an object {"nodes": [ids], "distances": {...}}');
  const nodes = intList(numaIn.nodes, 'numa.nodes');
  if (nodes.length === 0) throw new Error('numa.nodes: must list at least one NUMA node');
  const distances: Record<number, number[]> = {};
  if (numaIn.distances !== undefined && numaIn.distances !== null) {
    if (!isObject(numaIn.distances)) throw new Error('numa.distances: must be an object node -> list of distances');
    for (const [k, row] of Object.entries(numaIn.distances)) {
      if (!/^\d+$/.test(k)) throw new Error(`numa.distances: key ${JSON.stringify(k)} is not a NUMA node id`);
      const list = intList(row, `numa.distances.${k}`);
      if (list.length !== nodes.length) throw new Error(`numa.distances.${k}: has ${list.length} entries, expected one per node (${nodes.length})`);
      distances[Number(k)] = list;
    }
  }
  if (input.policyOptions !== undefined && input.policyOptions !== null && !isObject(input.policyOptions)) throw new Error('policyOptions: must be an object of option -> string value');
  let numa: NumaInfo;
  try {
    numa = new NumaInfo(nodes, distances);
  } catch (e) {
    throw new Error(`numa.nodes: ${e instanceof Error ? e.message : String(e)}`);
  }
  const options = policyName === 'none' ? parseTopologyPolicyOptions({}) : parseTopologyPolicyOptions(input.policyOptions as Record<string, unknown> | undefined);
  if (options.preferClosestNumaNodes && !numa.hasDistances()) throw new Error('numa.distances: prefer-closest-numa-nodes needs a distance row for every node');
  const policy = newPolicy(policyName, numa, options);
  const providersIn = input.providers ?? [];
  if (!Array.isArray(providersIn)) throw new Error('providers: must be a list of {"hints": {...} or null}');
  const providers = providersIn.map((pv, i) => {
    if (pv !== null && !isObject(pv)) throw new Error(`providers[${i}]: must be an object {"hints": ...}`);
    return { name: `provider ${i}`, hints: parseProviderHints(pv?.hints, `providers[${i}].hints`) };
  });
  const r = policy.merge(flattenProviderHints(providers));
  return { bestHint: toTopologyHint(r.hint), admit: r.admit };
}
