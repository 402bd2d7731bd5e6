/**
 * The memory manager's Static policy, decision for decision the kubelet's (policy_static.go):
 * Guaranteed pods only; hints are every NUMA set with enough allocatable memory, that respects
 * the groups already formed (a node used by a single-node allocation is never part of a
 * multi-node one, and a multi-node group is only reused whole), and has enough free memory; the
 * sets with the fewest nodes that could ever hold the request are preferred. Allocation takes the
 * topology manager's affinity (or the best default when it has none), widens it when it cannot
 * hold the request, and reserves the memory node by node in order.
 */
import type { Container, Pod } from '../../api/types.js';
import { podUid } from '../../api/types.js';
import { qosClass } from '../../runtime/podspec.js';
import type { ResourceHints, TopologyHint } from '../types.js';
import { count, forEachMask, idsOf, isNarrowerThan, maskOf, type Mask } from '../topologymanager/bitmask.js';
import { containerMemoryRequests, isInitContainer, podMemoryRequests } from './resources.js';
import { numaIds, sameGroup, type Assignments, type Block, type MachineState } from './state.js';

export interface MemoryState {
  machine: MachineState;
  assignments: Assignments;
}

interface MaskedHint {
  mask: Mask;
  preferred: boolean;
}

export class MemoryAllocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryAllocationError';
  }
}

export class StaticMemoryPolicy {
  readonly name = 'Static' as const;
  /** podUid -> NUMA mask -> resource -> bytes init containers held and app containers may reuse. */
  private readonly reusable = new Map<string, Map<Mask, Record<string, number>>>();

  getTopologyHints(st: MemoryState, pod: Pod, c: Container): ResourceHints {
    if (qosClass(pod) !== 'Guaranteed') return null;
    const req = containerMemoryRequests(c);
    if (Object.keys(req).length === 0) return null;
    const blocks = st.assignments[podUid(pod)]?.[c.name];
    if (blocks) return regenerateHints(blocks, req);
    return this.calculateHints(st.machine, pod, req);
  }

  getPodTopologyHints(st: MemoryState, pod: Pod): ResourceHints {
    if (qosClass(pod) !== 'Guaranteed') return null;
    const req = podMemoryRequests(pod);
    if (Object.keys(req).length === 0) return null;
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      const blocks = st.assignments[podUid(pod)]?.[c.name];
      if (blocks) return regenerateHints(blocks, req);
    }
    return this.calculateHints(st.machine, pod, req);
  }

  private reusableFor(pod: Pod, mask: Mask, resource: string): number {
    return this.reusable.get(podUid(pod))?.get(mask)?.[resource] ?? 0;
  }

  /** Every NUMA set that can hold `req`, preferred iff it is as small as the smallest that could. */
  calculateHints(machine: MachineState, pod: Pod, req: Record<string, number>): Record<string, TopologyHint[]> {
    const nodes = numaIds(machine);
    const resources = Object.keys(req);
    const want = resources.map((r) => req[r]!);
    // Per node, per resource: free and allocatable, read once (the walk below visits 2^n - 1 sets).
    const byId = new Map(nodes.map((id) => {
      const s = machine[id]!;
      return [id, { s, free: resources.map((r) => s.memory[r]?.free ?? 0), alloc: resources.map((r) => s.memory[r]?.allocatable ?? 0) }] as const;
    }));
    const reuse = this.reusable.get(podUid(pod));
    let minAffinitySize = nodes.length;
    const found: Mask[] = [];
    const free = new Array<number>(resources.length);
    const allocatable = new Array<number>(resources.length);
    forEachMask(nodes, (mask) => {
      const bits = idsOf(mask);
      const single = bits.length === 1;
      free.fill(0);
      allocatable.fill(0);
      const reusable = reuse?.get(mask);
      for (const id of bits) {
        const n = byId.get(id)!;
        for (let i = 0; i < resources.length; i++) {
          // As upstream, the pod's reusable memory is added once per node of the set.
          free[i]! += n.free[i]! + (reusable?.[resources[i]!] ?? 0);
          allocatable[i]! += n.alloc[i]!;
        }
      }
      for (let i = 0; i < resources.length; i++) if (allocatable[i]! < want[i]!) return;
      if (bits.length < minAffinitySize) minAffinitySize = bits.length;
      if (single && byId.get(bits[0]!)!.s.cells.length > 1) return;
      if (!single) {
        for (const id of bits) {
          const st = byId.get(id)!.s;
          if (st.assignments > 0 && (st.cells.length === 1 || !sameGroup(st.cells, bits))) return;
        }
      }
      for (let i = 0; i < resources.length; i++) if (free[i]! < want[i]!) return;
      found.push(mask);
    });
    const hints: Record<string, TopologyHint[]> = {};
    for (const r of resources) hints[r] = found.map((m) => ({ numaAffinity: idsOf(m), preferred: count(m) === minAffinitySize }));
    return hints;
  }

  allocate(st: MemoryState, pod: Pod, c: Container, affinity: TopologyHint | null): void {
    if (qosClass(pod) !== 'Guaranteed') return;
    const uid = podUid(pod);
    if (st.assignments[uid]?.[c.name]) return;
    const req = containerMemoryRequests(c);
    const resources = Object.keys(req);
    if (resources.length === 0) return;
    const where = `pod ${uid} container ${c.name}`;
    let best: MaskedHint | null = affinity?.numaAffinity ? { mask: maskOf(affinity.numaAffinity), preferred: affinity.preferred } : null;
    if (best === null) {
      const def = this.bestOf(this.calculateHints(st.machine, pod, req), resources);
      if (def === null) throw new MemoryAllocationError(`[memorymanager] ${where}: failed to get the default NUMA affinity, no NUMA nodes with enough memory is available`);
      if (!def.preferred && affinity?.preferred) throw new MemoryAllocationError(`[memorymanager] ${where}: failed to find the default preferred hint`);
      best = def;
    }
    if (!this.satisfies(st.machine, best.mask, req)) {
      const wider = this.bestOf(this.calculateHints(st.machine, pod, req), resources, best.mask);
      if (wider === null) throw new MemoryAllocationError(`[memorymanager] ${where}: failed to find NUMA nodes to extend the current topology hint ${JSON.stringify(idsOf(best.mask))}`);
      if (!wider.preferred && best.preferred) throw new MemoryAllocationError(`[memorymanager] ${where}: failed to find the extended preferred hint`);
      best = wider;
    }
    if (violatesGroups(st.machine, best.mask)) throw new MemoryAllocationError(`[memorymanager] ${where}: preferred hint ${JSON.stringify(idsOf(best.mask))} violates NUMA node allocation`);
    const bits = idsOf(best.mask);
    const blocks: Block[] = [];
    for (const r of resources) {
      blocks.push({ numaAffinity: bits, type: r, size: req[r]! });
      const reuse = this.reusableFor(pod, best.mask, r);
      reserve(st.machine, bits, r, reuse >= req[r]! ? 0 : req[r]! - reuse);
    }
    (st.assignments[uid] ??= {})[c.name] = blocks;
    this.updateReusable(pod, c, blocks);
  }

  private updateReusable(pod: Pod, c: Container, blocks: Block[]): void {
    const uid = podUid(pod);
    for (const other of this.reusable.keys()) if (other !== uid) this.reusable.delete(other);
    if (isInitContainer(pod, c)) {
      let byMask = this.reusable.get(uid);
      if (!byMask) this.reusable.set(uid, (byMask = new Map()));
      for (const b of blocks) {
        const m = maskOf(b.numaAffinity);
        const rec = byMask.get(m) ?? {};
        if (b.size > (rec[b.type] ?? 0)) rec[b.type] = b.size;
        byMask.set(m, rec);
      }
      return;
    }
    for (const b of blocks) {
      const rec = this.reusable.get(uid)?.get(maskOf(b.numaAffinity));
      const have = rec?.[b.type];
      if (!rec || !have) continue;
      rec[b.type] = b.size >= have ? 0 : have - b.size;
    }
  }

  /** The preferred hint with the fewest nodes (lowest on ties), restricted to supersets of `within`. */
  private bestOf(hints: Record<string, TopologyHint[]>, resources: string[], within?: Mask): MaskedHint | null {
    const list = hints.memory ?? hints[resources[0]!] ?? [];
    let best: MaskedHint | null = null;
    for (const h of list) {
      const m = maskOf(h.numaAffinity ?? []);
      if (within !== undefined && (within & ~m) >>> 0 !== 0) continue;
      const cand = { mask: m, preferred: h.preferred };
      if (best === null) best = cand;
      else if (best.preferred && !cand.preferred) continue;
      else if (!best.preferred && cand.preferred) best = cand;
      else if (isNarrowerThan(cand.mask, best.mask)) best = cand;
    }
    return best;
  }

  private satisfies(machine: MachineState, mask: Mask, req: Record<string, number>): boolean {
    const bits = idsOf(mask);
    return Object.entries(req).every(([r, size]) => bits.reduce((n, id) => n + (machine[id]?.memory[r]?.free ?? 0), 0) >= size);
  }

  removeContainer(st: MemoryState, uid: string, name: string): void {
    const blocks = st.assignments[uid]?.[name];
    if (!blocks) return;
    delete st.assignments[uid]![name];
    if (Object.keys(st.assignments[uid]!).length === 0) delete st.assignments[uid];
    for (const b of blocks) release(st.machine, b);
  }

  /** Forgets init-container reuse records of a pod that is gone. */
  forgetPod(uid: string): void {
    this.reusable.delete(uid);
  }
}

function regenerateHints(blocks: Block[], req: Record<string, number>): ResourceHints {
  if (blocks.length !== Object.keys(req).length) return null;
  const hints: Record<string, TopologyHint[]> = {};
  for (const r of Object.keys(req)) hints[r] = [];
  for (const b of blocks) {
    if (req[b.type] !== b.size) return null;
    hints[b.type]!.push({ numaAffinity: [...b.numaAffinity].sort((x, y) => x - y), preferred: true });
  }
  return hints;
}

function violatesGroups(machine: MachineState, mask: Mask): boolean {
  const bits = idsOf(mask);
  if (bits.length === 1) return false;
  for (const id of bits) {
    const s = machine[id];
    if (!s || s.assignments === 0) continue;
    if (s.cells.length === 1) return true;
    if (!sameGroup(s.cells, bits)) return true;
  }
  return false;
}

/** Reserves `size` bytes of `resource` over `bits`, node by node; every node joins the group. */
export function reserve(machine: MachineState, bits: number[], resource: string, size: number): void {
  let left = size;
  for (const id of bits) {
    const s = machine[id]!;
    s.assignments++;
    s.cells = [...bits];
    if (left === 0) continue;
    const t = s.memory[resource];
    if (!t || t.free <= 0) continue;
    if (t.free >= left) {
      t.reserved += left;
      t.free -= left;
      left = 0;
      continue;
    }
    left -= t.free;
    t.reserved += t.free;
    t.free = 0;
  }
}

/** Gives a block's bytes back, node by node; a node left unused becomes its own group again. */
export function release(machine: MachineState, b: Block): void {
  let left = b.size;
  for (const id of b.numaAffinity) {
    const s = machine[id];
    if (!s) continue;
    s.assignments = Math.max(0, s.assignments - 1);
    if (s.assignments === 0) s.cells = [id];
    if (left === 0) continue;
    const t = s.memory[b.type];
    if (!t || t.reserved === 0) continue;
    if (t.reserved >= left) {
      t.reserved -= left;
      t.free += left;
      left = 0;
      continue;
    }
    left -= t.reserved;
    t.free += t.reserved;
    t.reserved = 0;
  }
}
