/**
 * KubeletConfiguration fields of the resource managers, checked with the managers' own rules so a
 * bad value is refused at start with the field named (the kubelet checks some of these only when
 * the manager starts, some in validation.go):
 *   cpuManagerPolicy (none|static), cpuManagerPolicyOptions (known names, "true"/"false"),
 *   memoryManagerPolicy (None|Static), reservedMemory, topologyManagerPolicy, topologyManagerScope,
 *   topologyManagerPolicyOptions, reservedSystemCPUs (Linux list), kubeReserved, systemReserved.
 */
import { CpuSet } from '../../../shared/cpuset/cpuset.js';
import { parseReservedResources } from '../cm/allocatable.js';
import { parseReservedMemory } from '../cm/memorymanager/reserved.js';
import { parseTopologyPolicyOptions, parseGoBool } from '../cm/topologymanager/options.js';
import { POLICY_NAMES } from '../cm/topologymanager/policy.js';

export const CPU_MANAGER_POLICIES = ['none', 'static'] as const;
export const CPU_MANAGER_POLICY_OPTIONS = [
  'full-pcpus-only',
  'distribute-cpus-across-numa',
  'align-by-socket',
  'distribute-cpus-across-cores',
  'strict-cpu-reservation',
  'prefer-align-cpus-by-uncorecache',
] as const;
export const MEMORY_MANAGER_POLICIES = ['None', 'Static'] as const;
export const TOPOLOGY_MANAGER_SCOPES = ['container', 'pod'] as const;

type Fail = (field: string, message: string) => never;

const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function validateResourceManagerConfig(o: Record<string, unknown>, fail: Fail): void {
  const cpuPolicy = o.cpuManagerPolicy;
  if (typeof cpuPolicy === 'string' && !(CPU_MANAGER_POLICIES as readonly string[]).includes(cpuPolicy)) {
    fail('cpuManagerPolicy', `"${cpuPolicy}" must be one of ${CPU_MANAGER_POLICIES.join(', ')}`);
  }
  for (const [name, v] of Object.entries((o.cpuManagerPolicyOptions as Record<string, string> | undefined) ?? {})) {
    if (!(CPU_MANAGER_POLICY_OPTIONS as readonly string[]).includes(name)) fail(`cpuManagerPolicyOptions.${name}`, `unknown CPU Manager Policy option (known: ${CPU_MANAGER_POLICY_OPTIONS.join(', ')})`);
    if (parseGoBool(v) === undefined) fail(`cpuManagerPolicyOptions.${name}`, `"${v}" must be "true" or "false"`);
  }
  if (Object.keys((o.cpuManagerPolicyOptions as object | undefined) ?? {}).length > 0 && (cpuPolicy ?? 'none') !== 'static') {
    fail('cpuManagerPolicyOptions', 'only apply with cpuManagerPolicy: static');
  }
  const memPolicy = o.memoryManagerPolicy;
  if (typeof memPolicy === 'string' && !(MEMORY_MANAGER_POLICIES as readonly string[]).includes(memPolicy)) {
    const hint = (MEMORY_MANAGER_POLICIES as readonly string[]).find((p) => p.toLowerCase() === memPolicy.toLowerCase());
    fail('memoryManagerPolicy', `"${memPolicy}" must be one of ${MEMORY_MANAGER_POLICIES.join(', ')}${hint ? ` (capitalised: "${hint}")` : ''}`);
  }
  if (Array.isArray(o.reservedMemory)) {
    const list = o.reservedMemory as unknown[];
    const nodes = list.map((r) => (r && typeof r === 'object' ? (r as { numaNode?: unknown }).numaNode : undefined)).filter((n): n is number => typeof n === 'number');
    try {
      parseReservedMemory(list, nodes);
    } catch (e) {
      const m = msg(e);
      const field = /^(reservedMemory\[\d+\][^:]*):/.exec(m)?.[1] ?? 'reservedMemory';
      fail(field, m.slice(m.indexOf(':') + 1).trim());
    }
  }
  const tmPolicy = o.topologyManagerPolicy;
  if (typeof tmPolicy === 'string' && !(POLICY_NAMES as readonly string[]).includes(tmPolicy)) {
    fail('topologyManagerPolicy', `"${tmPolicy}" must be one of ${POLICY_NAMES.join(', ')}`);
  }
  const scope = o.topologyManagerScope;
  if (typeof scope === 'string' && !(TOPOLOGY_MANAGER_SCOPES as readonly string[]).includes(scope)) {
    fail('topologyManagerScope', `"${scope}" must be one of ${TOPOLOGY_MANAGER_SCOPES.join(', ')}`);
  }
  const tmOptions = o.topologyManagerPolicyOptions as Record<string, string> | undefined;
  for (const [name, v] of Object.entries(tmOptions ?? {})) {
    try {
      parseTopologyPolicyOptions({ [name]: v });
    } catch (e) {
      fail(`topologyManagerPolicyOptions.${name}`, msg(e));
    }
  }
  if (typeof o.reservedSystemCPUs === 'string' && o.reservedSystemCPUs.trim() !== '') {
    try {
      CpuSet.parse(o.reservedSystemCPUs.trim());
    } catch (e) {
      fail('reservedSystemCPUs', msg(e));
    }
    if (o.systemReservedCgroup || o.kubeReservedCgroup) fail('reservedSystemCPUs', "can't be used with systemReservedCgroup or kubeReservedCgroup");
  }
  for (const field of ['kubeReserved', 'systemReserved']) {
    try {
      parseReservedResources(field, o[field] as Record<string, string> | undefined);
    } catch (e) {
      const m = msg(e);
      fail(m.slice(0, m.indexOf(':')), m.slice(m.indexOf(':') + 1).trim());
    }
  }
}
