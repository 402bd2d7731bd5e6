/**
 * The static policy's options (`cpuManagerPolicyOptions`, upstream `cpumanager/policy_options.go`):
 * names, maturity gates, value parsing, incompatibilities and the error strings operators know.
 */
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import type { CpuTopology } from '../machine/topology.js';

export const FULL_PCPUS_ONLY = 'full-pcpus-only';
export const DISTRIBUTE_CPUS_ACROSS_NUMA = 'distribute-cpus-across-numa';
export const ALIGN_BY_SOCKET = 'align-by-socket';
export const DISTRIBUTE_CPUS_ACROSS_CORES = 'distribute-cpus-across-cores';
export const STRICT_CPU_RESERVATION = 'strict-cpu-reservation';
export const PREFER_ALIGN_BY_UNCORE_CACHE = 'prefer-align-cpus-by-uncorecache';

const ALPHA = new Set([ALIGN_BY_SOCKET, DISTRIBUTE_CPUS_ACROSS_CORES]);
const BETA = new Set([STRICT_CPU_RESERVATION, DISTRIBUTE_CPUS_ACROSS_NUMA, PREFER_ALIGN_BY_UNCORE_CACHE]);
const STABLE = new Set([FULL_PCPUS_ONLY]);
/** Known upstream options cocolet does not implement: refused by name rather than ignored. */
const UNSUPPORTED = new Set([PREFER_ALIGN_BY_UNCORE_CACHE]);

export interface StaticPolicyOptions {
  fullPhysicalCPUsOnly: boolean;
  distributeCPUsAcrossNUMA: boolean;
  alignBySocket: boolean;
  distributeCPUsAcrossCores: boolean;
  strictCPUReservation: boolean;
}

export const NO_OPTIONS: StaticPolicyOptions = {
  fullPhysicalCPUsOnly: false,
  distributeCPUsAcrossNUMA: false,
  alignBySocket: false,
  distributeCPUsAcrossCores: false,
  strictCPUReservation: false,
};

/** The feature gates CPUManagerPolicyAlphaOptions (default off) and CPUManagerPolicyBetaOptions (default on). */
export interface OptionGates {
  alpha: boolean;
  beta: boolean;
}

export const DEFAULT_GATES: OptionGates = { alpha: false, beta: true };

/** The gates from a KubeletConfiguration `featureGates` map. */
export function gatesFrom(featureGates: unknown): OptionGates {
  const g = (typeof featureGates === 'object' && featureGates !== null ? featureGates : {}) as Record<string, unknown>;
  return {
    alpha: g.CPUManagerPolicyAlphaOptions === true,
    beta: g.CPUManagerPolicyBetaOptions !== false,
  };
}

function invalid(message: string): CocoletError {
  return new CocoletError(ErrorCode.ConfigInvalid, message, { context: { field: 'cpuManagerPolicyOptions' } });
}

/** Go's strconv.ParseBool. */
function parseBool(name: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw invalid(`bad value for option ${JSON.stringify(name)}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
}

export function parseStaticPolicyOptions(raw: Record<string, string> | undefined, gates: OptionGates = DEFAULT_GATES): StaticPolicyOptions {
  const o: StaticPolicyOptions = { ...NO_OPTIONS };
  for (const name of Object.keys(raw ?? {}).sort()) {
    const value = String(raw![name]);
    if (!ALPHA.has(name) && !BETA.has(name) && !STABLE.has(name)) throw invalid(`unknown CPU Manager Policy option: ${JSON.stringify(name)}`);
    if (ALPHA.has(name) && !gates.alpha) throw invalid(`CPU Manager Policy Alpha-level Options not enabled, but option ${JSON.stringify(name)} provided`);
    if (BETA.has(name) && !gates.beta) throw invalid(`CPU Manager Policy Beta-level Options not enabled, but option ${JSON.stringify(name)} provided`);
    const on = parseBool(name, value);
    if (UNSUPPORTED.has(name)) {
      if (on) throw invalid(`CPU Manager Policy option ${JSON.stringify(name)} is not supported by cocolet (set it to "false" or remove it)`);
      continue;
    }
    if (name === FULL_PCPUS_ONLY) o.fullPhysicalCPUsOnly = on;
    else if (name === DISTRIBUTE_CPUS_ACROSS_NUMA) o.distributeCPUsAcrossNUMA = on;
    else if (name === ALIGN_BY_SOCKET) o.alignBySocket = on;
    else if (name === DISTRIBUTE_CPUS_ACROSS_CORES) o.distributeCPUsAcrossCores = on;
    else if (name === STRICT_CPU_RESERVATION) o.strictCPUReservation = on;
  }
  const both = (a: string, b: string): CocoletError => invalid(`static policy options ${a} and ${b} can not be used at the same time`);
  if (o.fullPhysicalCPUsOnly && o.distributeCPUsAcrossCores) throw both(FULL_PCPUS_ONLY, DISTRIBUTE_CPUS_ACROSS_CORES);
  if (o.distributeCPUsAcrossNUMA && o.distributeCPUsAcrossCores) throw both(DISTRIBUTE_CPUS_ACROSS_NUMA, DISTRIBUTE_CPUS_ACROSS_CORES);
  return o;
}

/** Options that do not fit the machine or the topology manager's policy. */
export function validateStaticPolicyOptions(o: StaticPolicyOptions, topo: CpuTopology, topologyManagerPolicy = 'none'): void {
  if (!o.alignBySocket) return;
  if (topologyManagerPolicy === 'single-numa-node') {
    throw invalid(`Topolgy manager single-numa-node policy is incompatible with CPUManager ${ALIGN_BY_SOCKET} policy option`);
  }
  if (topo.numSockets > topo.numNUMANodes) {
    throw invalid('Align by socket is not compatible with hardware where number of sockets are more than number of NUMA');
  }
}
