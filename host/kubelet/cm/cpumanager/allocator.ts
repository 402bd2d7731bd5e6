/**
 * The static policy's CPU allocator: the kubelet's topology-aware best fit
 * (upstream `cpumanager/cpu_assignment.go`, takeByTopologyNUMAPacked and
 * takeByTopologyNUMADistributed), reimplemented with the same ordering, tie-breaks and error
 * strings so that the same machine state gives the same CPUs.
 *
 * Ordering. Units (NUMA nodes, sockets, cores) are sorted by how many of their CPUs are still free,
 * ascending, ties by id: the fullest-used unit is filled first. If sockets >= NUMA nodes, NUMA
 * nodes are the higher level ("NUMA first": NUMA nodes, sockets within each, cores within each
 * socket); otherwise sockets are (sockets, NUMA nodes within each, cores within each node).
 * Packed CPU order walks that core order listing each core's free CPUs ascending (siblings stay
 * together); spread order (distribute-cpus-across-cores) walks the socket order listing each
 * socket's free CPUs ascending.
 */
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import type { CpuTopology } from '../machine/topology.js';

export type CpuSortingStrategy = 'packed' | 'spread';

/** An allocation the machine cannot give; the message is the kubelet's. */
export class AllocationError extends CocoletError {
  constructor(message: string) {
    super(ErrorCode.ResourceExhausted, message);
    this.name = 'AllocationError';
  }
}

function byFreeThenId(ids: number[], free: (id: number) => number): number[] {
  const counts = new Map(ids.map((id) => [id, free(id)]));
  return ids.sort((a, b) => counts.get(a)! - counts.get(b)! || a - b);
}

function uniq(xs: Iterable<number>): number[] {
  return [...new Set(xs)];
}

/** State of one allocation: what is still free, what was taken, how many CPUs are still needed. */
export class CpuAccumulator {
  readonly free: Set<number>;
  readonly result: number[] = [];
  needed: number;
  private readonly numaFirst: boolean;

  constructor(
    readonly topo: CpuTopology,
    available: CpuSet,
    needed: number,
    readonly strategy: CpuSortingStrategy = 'packed',
  ) {
    this.free = new Set([...available].filter((c) => topo.info(c) !== undefined));
    this.needed = needed;
    this.numaFirst = topo.numSockets >= topo.numNUMANodes;
  }

  private count(cpus: readonly number[]): number {
    let n = 0;
    for (const c of cpus) if (this.free.has(c)) n++;
    return n;
  }

  freeInNuma = (n: number): number => this.count(this.topo.cpusInNuma(n));
  freeInSocket = (s: number): number => this.count(this.topo.cpusInSocket(s));
  freeInCore = (c: number): number => this.count(this.topo.cpusInCore(c));

  private freeInfos(): { numa: number; socket: number; core: number }[] {
    return [...this.free].map((c) => this.topo.info(c)!);
  }

  /** NUMA nodes with at least one free CPU, in allocation order. */
  sortAvailableNUMANodes(): number[] {
    const infos = this.freeInfos();
    if (this.numaFirst) return byFreeThenId(uniq(infos.map((i) => i.numa)), this.freeInNuma);
    return this.sortAvailableSockets().flatMap((s) => byFreeThenId(uniq(infos.filter((i) => i.socket === s).map((i) => i.numa)), this.freeInNuma));
  }

  sortAvailableSockets(): number[] {
    const infos = this.freeInfos();
    if (!this.numaFirst) return byFreeThenId(uniq(infos.map((i) => i.socket)), this.freeInSocket);
    return this.sortAvailableNUMANodes().flatMap((n) => byFreeThenId(uniq(infos.filter((i) => i.numa === n).map((i) => i.socket)), this.freeInSocket));
  }

  sortAvailableCores(): number[] {
    const infos = this.freeInfos();
    if (this.numaFirst) {
      return this.sortAvailableSockets().flatMap((s) => byFreeThenId(uniq(infos.filter((i) => i.socket === s).map((i) => i.core)), this.freeInCore));
    }
    return this.sortAvailableNUMANodes().flatMap((n) => byFreeThenId(uniq(infos.filter((i) => i.numa === n).map((i) => i.core)), this.freeInCore));
  }

  /** Free CPUs in the order single CPUs are taken. */
  sortAvailableCPUs(): number[] {
    const asc = (cpus: readonly number[]): number[] => cpus.filter((c) => this.free.has(c)).sort((a, b) => a - b);
    if (this.strategy === 'spread') return this.sortAvailableSockets().flatMap((s) => asc(this.topo.cpusInSocket(s)));
    return this.sortAvailableCores().flatMap((c) => asc(this.topo.cpusInCore(c)));
  }

  isNUMANodeFree(n: number): boolean {
    return this.freeInNuma(n) === this.topo.cpusInNuma(n).length;
  }

  isSocketFree(s: number): boolean {
    return this.freeInSocket(s) === this.topo.cpusPerSocket;
  }

  isCoreFree(c: number): boolean {
    return this.freeInCore(c) === this.topo.cpusPerCore;
  }

  freeNUMANodes(): number[] {
    return this.sortAvailableNUMANodes().filter((n) => this.isNUMANodeFree(n));
  }

  freeSockets(): number[] {
    return this.sortAvailableSockets().filter((s) => this.isSocketFree(s));
  }

  freeCores(): number[] {
    return this.sortAvailableCores().filter((c) => this.isCoreFree(c));
  }

  take(cpus: Iterable<number>): void {
    for (const c of cpus) {
      this.result.push(c);
      this.free.delete(c);
      this.needed--;
    }
  }

  needsAtLeast(n: number): boolean {
    return this.needed >= n;
  }

  isSatisfied(): boolean {
    return this.needed < 1;
  }

  isFailed(): boolean {
    return this.needed > this.free.size;
  }

  /** Whole free units of one kind, in order, while the need is at least a unit (list fixed up front). */
  private takeWhole(units: number[], cpusOf: (u: number) => readonly number[]): void {
    for (const u of units) {
      const cpus = cpusOf(u);
      if (!this.needsAtLeast(cpus.length)) continue;
      this.take(cpus);
    }
  }

  takeFullNUMANodes(): void {
    this.takeWhole(this.freeNUMANodes(), (n) => this.topo.cpusInNuma(n));
  }

  takeFullSockets(): void {
    this.takeWhole(this.freeSockets(), (s) => this.topo.cpusInSocket(s));
  }

  takeFullCores(): void {
    this.takeWhole(this.freeCores(), (c) => this.topo.cpusInCore(c));
  }

  takeFullFirstLevel(): void {
    if (this.numaFirst) this.takeFullNUMANodes();
    else this.takeFullSockets();
  }

  takeFullSecondLevel(): void {
    if (this.numaFirst) this.takeFullSockets();
    else this.takeFullNUMANodes();
  }

  takeRemainingCPUs(): void {
    for (const c of this.sortAvailableCPUs()) {
      this.take([c]);
      if (this.isSatisfied()) return;
    }
  }

  /** [min, max] number of NUMA nodes that could hold the request in groups of `groupSize`. */
  rangeNUMANodesNeededToSatisfy(groupSize: number): [number, number] {
    const numNUMANodes = this.topo.numNUMANodes;
    const numNUMANodesAvailable = new Set(this.freeInfos().map((i) => i.numa)).size;
    const groups = Math.trunc((this.topo.numCPUs - 1) / groupSize) + 1;
    const groupsPerNuma = Math.trunc((groups - 1) / numNUMANodes) + 1;
    const groupsNeeded = Math.trunc((this.needed - 1) / groupSize) + 1;
    return [Math.trunc((groupsNeeded - 1) / groupsPerNuma) + 1, Math.min(groupsNeeded, numNUMANodesAvailable)];
  }

  resultSet(): CpuSet {
    return CpuSet.from(this.result);
  }
}

function notEnough(requested: number, available: CpuSet): AllocationError {
  return new AllocationError(`not enough cpus available to satisfy request: requested=${requested}, available=${available.size}`);
}

/**
 * Takes `n` CPUs from `available`: whole free NUMA nodes / sockets (higher level first), then whole
 * free cores (not with the spread strategy), then single CPUs. Throws AllocationError.
 */
export function takeByTopologyNUMAPacked(topo: CpuTopology, available: CpuSet, n: number, strategy: CpuSortingStrategy = 'packed'): CpuSet {
  const acc = new CpuAccumulator(topo, available, n, strategy);
  if (acc.isSatisfied()) return CpuSet.EMPTY;
  if (acc.isFailed()) throw notEnough(n, available);
  acc.takeFullFirstLevel();
  if (acc.isSatisfied()) return acc.resultSet();
  acc.takeFullSecondLevel();
  if (acc.isSatisfied()) return acc.resultSet();
  if (strategy === 'packed') {
    acc.takeFullCores();
    if (acc.isSatisfied()) return acc.resultSet();
  }
  acc.takeRemainingCPUs();
  if (acc.isSatisfied()) return acc.resultSet();
  throw new AllocationError('failed to allocate cpus');
}

/** Population standard deviation with the mean and the result rounded to 3 decimals (as upstream). */
export function balanceScore(xs: number[]): number {
  const round3 = (x: number): number => Math.round(x * 1000) / 1000;
  const mean = round3(xs.reduce((a, b) => a + b, 0) / xs.length);
  const sq = xs.reduce((a, x) => a + (x - mean) * (x - mean), 0);
  return round3(Math.sqrt(sq / xs.length));
}

/** Calls `f` on every k-subset of `items` in lexicographic order; `f` returns true to stop. */
export function forEachCombination(items: number[], k: number, f: (combo: number[]) => boolean): void {
  if (k < 1) return;
  const walk = (start: number, acc: number[]): boolean => {
    if (acc.length === k) return f([...acc]);
    for (let i = start; i <= items.length - (k - acc.length); i++) {
      acc.push(items[i]!);
      const stop = walk(i + 1, acc);
      acc.pop();
      if (stop) return true;
    }
    return false;
  };
  walk(0, []);
}

interface Candidate {
  combo: number[];
  remainderNodes: number[];
  balance: number;
}

/** The best way to spread `n` CPUs in groups of `g` over exactly k NUMA nodes, or undefined. */
function bestCombination(acc: CpuAccumulator, numas: number[], k: number, n: number, g: number): Candidate | undefined {
  let best: Candidate | undefined;
  forEachCombination(numas, k, (combo) => {
    if (best && best.balance === 0) return true;
    const freeOf = (numa: number): number => acc.freeInNuma(numa);
    if (combo.reduce((s, x) => s + freeOf(x), 0) < n) return false;
    if (combo.reduce((s, x) => s + Math.trunc(freeOf(x) / g), 0) * g < n) return false;
    const distribution = Math.trunc(Math.trunc(n / combo.length) / g) * g;
    if (combo.some((x) => freeOf(x) < distribution)) return false;

    const after = new Map(numas.map((x) => [x, freeOf(x)]));
    for (const x of combo) after.set(x, after.get(x)! - distribution);
    const remainder = n - distribution * combo.length;
    const remainderCombo = combo.filter((x) => after.get(x)! >= g);

    let localBalance = Infinity;
    let localRemainder: number[] = [];
    if (remainder === 0) localBalance = balanceScore([...after.values()]);
    for (let kk = remainderCombo.length; remainder > 0 && kk >= 1; kk--) {
      forEachCombination(remainderCombo, kk, (subset) => {
        const a = new Map(after);
        if (subset.reduce((s, x) => s + Math.trunc(a.get(x)! / g), 0) * g < remainder) return false;
        let left = remainder;
        while (left > 0) {
          for (const x of subset) {
            if (left === 0) break;
            if (a.get(x)! < g) continue;
            a.set(x, a.get(x)! - g);
            left -= g;
          }
        }
        const balance = balanceScore([...a.values()]);
        if (balance < localBalance) {
          localBalance = balance;
          localRemainder = subset;
        }
        return false;
      });
    }
    if (!best || localBalance < best.balance) best = { combo, remainderNodes: localRemainder, balance: localBalance };
    return false;
  });
  return best && best.balance < Infinity ? best : undefined;
}

/**
 * Takes `n` CPUs spread evenly, in groups of `groupSize`, over as few NUMA nodes as can hold them
 * (KEP-2902, distribute-cpus-across-numa). Falls back to the packed allocator when `n` is not a
 * multiple of the group size or no combination of NUMA nodes works.
 */
export function takeByTopologyNUMADistributed(
  topo: CpuTopology,
  available: CpuSet,
  n: number,
  groupSize: number,
  strategy: CpuSortingStrategy = 'packed',
): CpuSet {
  if (n % groupSize !== 0) return takeByTopologyNUMAPacked(topo, available, n, strategy);
  const acc = new CpuAccumulator(topo, available, n, strategy);
  if (acc.isSatisfied()) return CpuSet.EMPTY;
  if (acc.isFailed()) throw notEnough(n, available);
  const numas = acc.sortAvailableNUMANodes();
  const [minNUMAs, maxNUMAs] = acc.rangeNUMANodesNeededToSatisfy(groupSize);
  for (let k = minNUMAs; k <= maxNUMAs; k++) {
    const best = bestCombination(acc, numas, k, n, groupSize);
    if (!best) continue;
    const distribution = Math.trunc(Math.trunc(n / best.combo.length) / groupSize) * groupSize;
    const freeIn = (numa: number): CpuSet => CpuSet.from(topo.cpusInNuma(numa).filter((c) => acc.free.has(c)));
    const packedOrNothing = (from: CpuSet, count: number): CpuSet => {
      try {
        return takeByTopologyNUMAPacked(topo, from, count, strategy);
      } catch {
        return CpuSet.EMPTY;
      }
    };
    for (const numa of best.combo) acc.take(packedOrNothing(freeIn(numa), distribution));
    let remainder = n - distribution * best.combo.length;
    while (remainder > 0) {
      const before = remainder;
      for (const numa of best.remainderNodes) {
        if (remainder === 0) break;
        if (acc.freeInNuma(numa) < groupSize) continue;
        acc.take(packedOrNothing(freeIn(numa), groupSize));
        remainder -= groupSize;
      }
      if (remainder === before) break;
    }
    if (acc.needed > 0) throw new AllocationError(`accounting error, not enough CPUs allocated, remaining: ${acc.needed}`);
    if (acc.needed < 0) throw new AllocationError(`accounting error, too many CPUs allocated, remaining: ${acc.needed}`);
    return acc.resultSet();
  }
  return takeByTopologyNUMAPacked(topo, available, n, strategy);
}
