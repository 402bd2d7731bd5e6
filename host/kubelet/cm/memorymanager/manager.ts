/**
 * The memory manager (policies `None` and `Static`, capitalised as upstream): a hint provider for
 * the topology manager that, with Static, gives Guaranteed containers memory and hugepages on
 * NUMA nodes and keeps per-NUMA accounting in `<root-dir>/memory_manager_state`.
 *
 * Better than upstream on restart: a state file that is corrupt, from another policy, or whose
 * machine state no longer matches this machine and configuration does not stop the kubelet. The old
 * file is kept aside (`memory_manager_state.bad-<ms>`); the machine state is rebuilt from the
 * configuration and the recorded assignments are replayed onto it when they still fit (otherwise
 * they are dropped, each logged).
 */
import { join } from 'node:path';
import type { Container, Pod } from '../../api/types.js';
import type { Logger } from '../../../../shared/log/logger.js';
import { silentLogger } from '../../../../shared/log/logger.js';
import { readCheckpoint, setAside, writeCheckpoint } from '../checkpoint.js';
import type { HintProvider, MachineTopology, ResourceHints, TopologyHint } from '../types.js';
import { canonicalJson } from '../checkpoint.js';
import { release, reserve, StaticMemoryPolicy, type MemoryState } from './policy-static.js';
import { parseReservedMemory, validateReservedMemory, type SystemReservedMemory } from './reserved.js';
import type { Assignments, Block, MachineState } from './state.js';

export const MEMORY_MANAGER_STATE_FILE = 'memory_manager_state';
export const MEMORY_STATE_HEADER = { kind: 'MemoryManagerState', version: 1 } as const;
export const MEMORY_POLICIES = ['None', 'Static'] as const;
export type MemoryPolicyName = (typeof MEMORY_POLICIES)[number];

export interface MemoryManagerOptions {
  policy: string;
  machine: Pick<MachineTopology, 'numaNodes' | 'memoryPerNuma'>;
  /** NUMA id -> hugepages resource (hugepages-2Mi) -> bytes of pages configured on that node. */
  hugepagesPerNuma?: Record<number, Record<string, number>>;
  /** KubeletConfiguration reservedMemory, as given. */
  reservedMemory?: readonly unknown[] | null;
  /** Bytes Node Allocatable holds back per resource: kubeReserved + systemReserved + hard eviction. */
  nodeAllocatableReservation?: Readonly<Record<string, number>>;
  /** The kubelet root dir; the state file lives there. Without it the state is memory only. */
  rootDir?: string;
  logger?: Logger;
  now?: () => number;
}

/** The machine state the configuration gives, before any assignment. */
export function defaultMachineState(o: Pick<MemoryManagerOptions, 'machine' | 'hugepagesPerNuma'>, reserved: SystemReservedMemory): MachineState {
  const m: MachineState = {};
  for (const id of o.machine.numaNodes) {
    const memory: MachineState[number]['memory'] = {};
    let huge = 0;
    for (const [res, total] of Object.entries(o.hugepagesPerNuma?.[id] ?? {})) {
      const sys = reserved[id]?.[res] ?? 0;
      memory[res] = { total, systemReserved: sys, allocatable: total - sys, reserved: 0, free: total - sys };
      huge += total;
    }
    const total = o.machine.memoryPerNuma?.[id] ?? 0;
    const sys = reserved[id]?.memory ?? 0;
    const allocatable = total - sys - huge;
    memory.memory = { total, systemReserved: sys, allocatable, reserved: 0, free: allocatable };
    m[id] = { memory, assignments: 0, cells: [id] };
  }
  return m;
}

function isBlock(b: unknown): b is Block {
  if (b === null || typeof b !== 'object') return false;
  const o = b as Record<string, unknown>;
  return Array.isArray(o.numaAffinity) && o.numaAffinity.every((x) => Number.isInteger(x)) && typeof o.type === 'string' && typeof o.size === 'number' && o.size >= 0;
}

export class MemoryManager implements HintProvider {
  readonly name = 'memory';
  readonly policyName: MemoryPolicyName;
  private readonly policy: StaticMemoryPolicy | null;
  private readonly log: Logger;
  private readonly path: string | null;
  private readonly initial: MachineState;
  private state: MemoryState;
  private readonly now: () => number;

  constructor(private readonly o: MemoryManagerOptions) {
    this.log = o.logger ?? silentLogger();
    this.now = o.now ?? Date.now;
    if (!(MEMORY_POLICIES as readonly string[]).includes(o.policy)) throw new Error(`memoryManagerPolicy: unknown policy "${o.policy}" (known: ${MEMORY_POLICIES.join(', ')})`);
    this.policyName = o.policy as MemoryPolicyName;
    this.path = o.rootDir ? join(o.rootDir, MEMORY_MANAGER_STATE_FILE) : null;
    if (this.policyName === 'Static') {
      const reserved = parseReservedMemory(o.reservedMemory, o.machine.numaNodes);
      validateReservedMemory(reserved, o.nodeAllocatableReservation ?? {});
      this.initial = defaultMachineState(o, reserved);
      for (const [id, s] of Object.entries(this.initial)) {
        for (const [res, t] of Object.entries(s.memory)) if (t.allocatable < 0) throw new Error(`reservedMemory: NUMA node ${id} reserves more ${res} than it has (${t.total} bytes)`);
      }
      this.policy = new StaticMemoryPolicy();
    } else {
      this.initial = {};
      this.policy = null;
    }
    this.state = { machine: structuredClone(this.initial), assignments: {} };
  }

  /** Loads the state file, recovering from anything wrong with it; then writes the current state. */
  start(): void {
    if (!this.path) return;
    const r = readCheckpoint(this.path, MEMORY_STATE_HEADER);
    if (r.status === 'invalid') {
      this.recover(`state file unusable: ${r.problem}`);
    } else if (r.status === 'ok') {
      const d = r.data;
      if (d.policyName !== this.policyName) {
        this.recover(`state file is for policy ${JSON.stringify(d.policyName)}, configured ${this.policyName}`);
      } else if (this.policy) {
        this.restore(d);
      }
    }
    this.save();
  }

  private recover(why: string, keep: Assignments = {}): void {
    const keptAs = this.path ? setAside(this.path, this.now()) : null;
    this.log.warn({ file: this.path, keptAs, why }, 'memory manager state not usable, starting from the configuration');
    this.state = { machine: structuredClone(this.initial), assignments: keep };
  }

  private restore(d: Record<string, unknown>): void {
    const entries = (d.entries ?? {}) as Record<string, Record<string, unknown[]>>;
    const machine = structuredClone(this.initial);
    const assignments: Assignments = {};
    const dropped: string[] = [];
    for (const [uid, containers] of Object.entries(entries)) {
      for (const [name, blocks] of Object.entries(containers ?? {})) {
        const ok = Array.isArray(blocks) && blocks.every(isBlock) && blocks.every((b) => this.fits(machine, b));
        if (!ok) {
          dropped.push(`${uid}/${name}`);
          continue;
        }
        for (const b of blocks) reserve(machine, b.numaAffinity, b.type, b.size);
        (assignments[uid] ??= {})[name] = blocks;
      }
    }
    const same = dropped.length === 0 && canonicalJson(machine) === canonicalJson(d.machineState);
    if (!same) {
      for (const c of dropped) this.log.warn({ container: c }, 'memory manager assignment no longer fits this machine; dropped');
      const keptAs = setAside(this.path!, this.now());
      this.log.warn({ file: this.path, keptAs, dropped: dropped.length }, 'memory manager state did not match the machine and configuration; rebuilt from its assignments');
    }
    this.state = { machine, assignments };
  }

  private fits(machine: MachineState, b: Block): boolean {
    if (b.numaAffinity.length === 0 || !b.numaAffinity.every((id) => machine[id]?.memory[b.type])) return false;
    return b.numaAffinity.reduce((n, id) => n + machine[id]!.memory[b.type]!.free, 0) >= b.size;
  }

  private save(): void {
    if (!this.path) return;
    writeCheckpoint(this.path, MEMORY_STATE_HEADER, { policyName: this.policyName, machineState: this.state.machine, entries: this.state.assignments });
  }

  getTopologyHints(pod: Pod, c: Container): ResourceHints {
    return this.policy ? this.policy.getTopologyHints(this.state, pod, c) : null;
  }

  getPodTopologyHints(pod: Pod): ResourceHints {
    return this.policy ? this.policy.getPodTopologyHints(this.state, pod) : null;
  }

  allocate(pod: Pod, c: Container, affinity: TopologyHint | null): void {
    if (!this.policy) return;
    this.policy.allocate(this.state, pod, c, affinity);
    this.save();
  }

  removeContainer(podUid: string, name: string): void {
    if (!this.policy || !this.state.assignments[podUid]?.[name]) return;
    this.policy.removeContainer(this.state, podUid, name);
    this.save();
  }

  /** The NUMA nodes a container's memory is on (its cpuset.mems), or null when not pinned. */
  getMemoryNumaNodes(podUid: string, name: string): number[] | null {
    const blocks = this.state.assignments[podUid]?.[name];
    if (!blocks?.length) return null;
    return [...new Set(blocks.flatMap((b) => b.numaAffinity))].sort((a, b) => a - b);
  }

  /** Drops assignments of containers that are no longer active (keys "podUid/containerName"). */
  removeStaleState(active: ReadonlySet<string>): void {
    let changed = false;
    for (const [uid, containers] of Object.entries(this.state.assignments)) {
      for (const name of Object.keys(containers)) {
        if (active.has(`${uid}/${name}`)) continue;
        for (const b of containers[name]!) release(this.state.machine, b);
        delete containers[name];
        changed = true;
        this.log.info({ pod: uid, container: name }, 'memory manager released a stale assignment');
      }
      if (Object.keys(containers).length === 0) {
        delete this.state.assignments[uid];
        this.policy?.forgetPod(uid);
      }
    }
    if (changed) this.save();
  }

  /** A copy of the per-NUMA accounting (for status, explain and tests). */
  machineState(): MachineState {
    return structuredClone(this.state.machine);
  }

  assignments(): Assignments {
    return structuredClone(this.state.assignments);
  }
}
