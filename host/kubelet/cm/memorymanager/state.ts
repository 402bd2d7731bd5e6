/**
 * The memory manager's state (the kubelet's memorymanager/state): per NUMA node and memory
 * resource (memory, hugepages-<size>) a table of total / systemReserved / allocatable / reserved /
 * free bytes, the node's assignment count and its group of nodes ("cells"), and per container the
 * blocks it was given.
 */

export interface MemoryTable {
  total: number;
  systemReserved: number;
  allocatable: number;
  reserved: number;
  free: number;
}

export interface NumaNodeState {
  /** resource name (memory, hugepages-2Mi, ...) -> table. */
  memory: Record<string, MemoryTable>;
  /** Containers' blocks using this node, counted once per resource. */
  assignments: number;
  /** The nodes this node is grouped with (itself alone when single-node or unused). */
  cells: number[];
}

/** NUMA id -> state. */
export type MachineState = Record<number, NumaNodeState>;

export interface Block {
  numaAffinity: number[];
  type: string;
  size: number;
}

/** podUid -> container -> blocks. */
export type Assignments = Record<string, Record<string, Block[]>>;

export function cloneMachineState(m: MachineState): MachineState {
  return structuredClone(m);
}

export function numaIds(m: MachineState): number[] {
  return Object.keys(m)
    .map(Number)
    .sort((a, b) => a - b);
}

export function sameGroup(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((v, i) => v === sb[i]);
}
