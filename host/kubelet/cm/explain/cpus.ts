/**
 * `cocolet explain cpus`: which CPUs the static CPU manager policy would give a Guaranteed
 * container asking for `count` whole CPUs, on a given machine with a given set of free CPUs.
 *
 * Input:  {"topology": {"cpus": [{"cpu", "core", "socket", "numa"}, ...]}, "available": [ids],
 *          "count": N, "policyOptions": {"full-pcpus-only": "true", ...},
 *          "numaAffinity"?: [ids]   (the topology manager's merged hint: take from these nodes first)}
 * Output: {"cpus": [ascending ids]} or {"error": "<the kubelet's message>"}: both are decisions
 *         (exit status 0). Malformed input throws (exit status 1, message naming the field).
 *
 * All policy options are accepted here (as if CPUManagerPolicyAlphaOptions were on); core ids must
 * be unique across the machine, as the kubelet numbers them.
 */
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import { CpuTopology, machineTopologyFromJson } from '../machine/topology.js';
import { parseStaticPolicyOptions } from '../cpumanager/options.js';
import { StaticPolicy } from '../cpumanager/policy-static.js';
import { CpuState } from '../cpumanager/state.js';

export type ExplainCpusAnswer = { cpus: number[] } | { error: string };

function idList(v: unknown, field: string, topo: CpuTopology): CpuSet {
  if (!Array.isArray(v)) throw new Error(`${field}: must be a list of CPU ids`);
  const seen = new Set<number>();
  for (const [i, id] of v.entries()) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`${field}[${i}]: ${JSON.stringify(id)} is not a CPU id`);
    if (seen.has(id as number)) throw new Error(`${field}: cpu ${String(id)} is listed twice`);
    seen.add(id as number);
  }
  const set = CpuSet.from(seen);
  const unknown = set.difference(topo.all);
  if (!unknown.isEmpty()) throw new Error(`${field}: cpus ${unknown} are not in the topology`);
  return set;
}

export function explainCpus(input: unknown): ExplainCpusAnswer {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('input: must be an object {"topology", "available", "count", "policyOptions"}');
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['topology', 'available', 'count', 'policyOptions', 'numaAffinity'].includes(k)) throw new Error(`input: unknown field ${JSON.stringify(k)}`);
  }
  const topo = new CpuTopology(machineTopologyFromJson(o.topology, 'topology'));
  const available = idList(o.available, 'available', topo);
  if (!Number.isInteger(o.count) || (o.count as number) < 0) throw new Error(`count: must be a non-negative integer, got ${JSON.stringify(o.count)}`);
  const count = o.count as number;
  if (o.policyOptions !== undefined && (typeof o.policyOptions !== 'object' || o.policyOptions === null || Array.isArray(o.policyOptions))) {
    throw new Error('policyOptions: must map option names to "true"/"false"');
  }
  const options = parseStaticPolicyOptions(o.policyOptions as Record<string, string> | undefined, { alpha: true, beta: true });
  let affinity: number[] | null = null;
  if (o.numaAffinity !== undefined && o.numaAffinity !== null) {
    if (!Array.isArray(o.numaAffinity) || !o.numaAffinity.every((n) => topo.numaNodes().includes(n as number))) {
      throw new Error(`numaAffinity: must list NUMA node ids of the topology (${topo.numaNodes().join(', ')})`);
    }
    affinity = [...new Set(o.numaAffinity as number[])].sort((a, b) => a - b);
  }

  const policy = new StaticPolicy({ topology: topo, options, numReservedCpus: 0 });
  const state = new CpuState('static', available);
  if (count === 0) return { cpus: [] };
  const smt = policy.smtAlignmentError(state, count);
  if (smt) return { error: smt.message };
  try {
    return { cpus: policy.allocateCpus(state, count, affinity, CpuSet.EMPTY).toArray() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
