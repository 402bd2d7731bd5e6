/**
 * A set of logical CPU ids, immutable, with the Linux "list" syntax (`0-3,8`) that cgroups,
 * sysfs, the CRI (`cpuset_cpus`) and the kubelet's cpu_manager_state use.
 *
 * Parsing is strict: the syntax Linux itself writes (`N`, `N-M`, comma separated, ascending or
 * not, one trailing newline). Anything else is an error naming the offending element, so a typo in
 * `reservedSystemCPUs` is caught at start and never silently reserves the wrong CPUs.
 */
import { CocoletError, ErrorCode } from '../errors/errors.js';

/** Highest CPU id accepted (Linux NR_CPUS tops out at 8192). */
export const MAX_CPU_ID = 8191;

export class CpuSet implements Iterable<number> {
  /** Ascending, unique. */
  private readonly ids: readonly number[];
  private lookup: Set<number> | undefined;

  private constructor(sortedUnique: readonly number[]) {
    this.ids = sortedUnique;
  }

  static readonly EMPTY = new CpuSet([]);

  static of(...ids: number[]): CpuSet {
    return CpuSet.from(ids);
  }

  static from(ids: Iterable<number>): CpuSet {
    const arr = [...new Set(ids)];
    for (const id of arr) {
      if (!Number.isInteger(id) || id < 0 || id > MAX_CPU_ID) {
        throw new CocoletError(ErrorCode.InvalidArgument, `cpu id ${String(id)} is not an integer between 0 and ${MAX_CPU_ID}`);
      }
    }
    arr.sort((a, b) => a - b);
    return new CpuSet(arr);
  }

  /** Parses the Linux list syntax ("" is the empty set). Throws COCOLET_INVALID_ARGUMENT naming the bad part. */
  static parse(text: string): CpuSet {
    if (typeof text !== 'string') throw new CocoletError(ErrorCode.InvalidArgument, `cpuset must be a string like "0-3,8", got ${typeof text}`);
    const s = text.endsWith('\n') ? text.slice(0, -1) : text;
    if (s === '') return CpuSet.EMPTY;
    const out: number[] = [];
    for (const part of s.split(',')) {
      const bad = (why: string): CocoletError =>
        new CocoletError(ErrorCode.InvalidArgument, `cpuset ${JSON.stringify(text)}: element ${JSON.stringify(part)} ${why}`);
      if (part === '') throw bad('is empty (stray comma)');
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m) {
        if (/^\d+-$/.test(part)) throw bad('is a range without an end');
        if (/^-/.test(part)) throw bad('starts with "-" (negative or missing start)');
        if (/:/.test(part)) throw bad('uses the stride syntax (N-M:step), which is not supported');
        throw bad('is not a CPU id or a range N-M');
      }
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo > MAX_CPU_ID || hi > MAX_CPU_ID) throw bad(`exceeds the highest CPU id ${MAX_CPU_ID}`);
      if (hi < lo) throw bad(`is a reversed range (${lo} > ${hi})`);
      for (let i = lo; i <= hi; i++) out.push(i);
    }
    return CpuSet.from(out);
  }

  get size(): number {
    return this.ids.length;
  }

  isEmpty(): boolean {
    return this.ids.length === 0;
  }

  has(id: number): boolean {
    this.lookup ??= new Set(this.ids);
    return this.lookup.has(id);
  }

  /** Ascending ids (a copy). */
  toArray(): number[] {
    return [...this.ids];
  }

  [Symbol.iterator](): Iterator<number> {
    return this.ids[Symbol.iterator]();
  }

  union(...others: CpuSet[]): CpuSet {
    if (others.every((o) => o.isEmpty())) return this;
    return CpuSet.from([...this.ids, ...others.flatMap((o) => o.ids)]);
  }

  intersection(other: CpuSet): CpuSet {
    return new CpuSet(this.ids.filter((id) => other.has(id)));
  }

  difference(other: CpuSet): CpuSet {
    if (other.isEmpty()) return this;
    return new CpuSet(this.ids.filter((id) => !other.has(id)));
  }

  filter(keep: (id: number) => boolean): CpuSet {
    return new CpuSet(this.ids.filter(keep));
  }

  isSubsetOf(other: CpuSet): boolean {
    return this.ids.every((id) => other.has(id));
  }

  equals(other: CpuSet): boolean {
    return this.ids.length === other.ids.length && this.ids.every((id, i) => other.ids[i] === id);
  }

  /** The Linux list syntax, ranges collapsed: `0-3,8`. */
  toString(): string {
    const parts: string[] = [];
    for (let i = 0; i < this.ids.length; ) {
      let j = i;
      while (j + 1 < this.ids.length && this.ids[j + 1] === this.ids[j]! + 1) j++;
      parts.push(j === i ? `${this.ids[i]}` : `${this.ids[i]}-${this.ids[j]}`);
      i = j + 1;
    }
    return parts.join(',');
  }

  toJSON(): string {
    return this.toString();
  }
}
