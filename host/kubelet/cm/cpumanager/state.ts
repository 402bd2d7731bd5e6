/**
 * The CPU manager's state (upstream `cpumanager/state`): the policy name, the default (shared) CPU
 * set and the exclusive assignments pod UID -> container name -> CPUs. Memory first; every change
 * calls `onChange`, which the manager uses to write the checkpoint through.
 */
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';

export interface Assignment {
  podUid: string;
  container: string;
  cpus: CpuSet;
}

export class CpuState {
  private defaultSet: CpuSet;
  private readonly entries = new Map<string, Map<string, CpuSet>>();
  onChange: (() => void) | undefined;

  constructor(
    readonly policyName: string,
    defaultSet: CpuSet = CpuSet.EMPTY,
    assignments: Iterable<Assignment> = [],
  ) {
    this.defaultSet = defaultSet;
    for (const a of assignments) this.put(a.podUid, a.container, a.cpus);
  }

  private put(podUid: string, container: string, cpus: CpuSet): void {
    let m = this.entries.get(podUid);
    if (!m) this.entries.set(podUid, (m = new Map()));
    m.set(container, cpus);
  }

  private changed(): void {
    this.onChange?.();
  }

  get defaultCpuSet(): CpuSet {
    return this.defaultSet;
  }

  setDefaultCpuSet(cpus: CpuSet): void {
    this.defaultSet = cpus;
    this.changed();
  }

  getCpuSet(podUid: string, container: string): CpuSet | undefined {
    return this.entries.get(podUid)?.get(container);
  }

  getCpuSetOrDefault(podUid: string, container: string): CpuSet {
    return this.getCpuSet(podUid, container) ?? this.defaultSet;
  }

  setCpuSet(podUid: string, container: string, cpus: CpuSet): void {
    this.put(podUid, container, cpus);
    this.changed();
  }

  delete(podUid: string, container: string): void {
    const m = this.entries.get(podUid);
    if (!m?.delete(container)) return;
    if (m.size === 0) this.entries.delete(podUid);
    this.changed();
  }

  /** All exclusive assignments, pods and containers in insertion order. */
  assignments(): Assignment[] {
    const out: Assignment[] = [];
    for (const [podUid, m] of this.entries) for (const [container, cpus] of m) out.push({ podUid, container, cpus });
    return out;
  }

  /** CPUs of the pod's containers other than `except`. */
  cpusOfPod(podUid: string, except?: string): CpuSet {
    const sets = [...(this.entries.get(podUid) ?? new Map<string, CpuSet>())].filter(([c]) => c !== except).map(([, s]) => s);
    return CpuSet.EMPTY.union(...sets);
  }

  /** Replaces everything at once (one onChange). */
  reset(defaultSet: CpuSet, assignments: Iterable<Assignment>): void {
    this.entries.clear();
    this.defaultSet = defaultSet;
    for (const a of assignments) this.put(a.podUid, a.container, a.cpus);
    this.changed();
  }
}
