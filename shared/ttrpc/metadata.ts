/**
 * ttrpc metadata: a multimap of lower-cased keys to string values, sent as one KeyValue entry per
 * value (repeated keys allowed), as containerd/ttrpc does.
 */
import type { KeyValuePair } from './envelope.js';

export type MetadataInit = Metadata | Record<string, string | readonly string[]> | Iterable<readonly [string, string]>;

export class Metadata {
  private readonly map = new Map<string, string[]>();

  constructor(init?: MetadataInit) {
    if (init === undefined) return;
    if (init instanceof Metadata) {
      for (const [k, vs] of init.map) this.map.set(k, [...vs]);
    } else if (Symbol.iterator in init) {
      for (const [k, v] of init as Iterable<readonly [string, string]>) this.append(k, v);
    } else {
      for (const [k, v] of Object.entries(init as Record<string, string | readonly string[]>)) {
        if (typeof v === 'string') this.append(k, v);
        else for (const one of v) this.append(k, one);
      }
    }
  }

  static fromPairs(pairs: readonly KeyValuePair[]): Metadata {
    const md = new Metadata();
    for (const kv of pairs) md.append(kv.key, kv.value);
    return md;
  }

  /** All values of a key (empty when absent). */
  get(key: string): readonly string[] {
    return this.map.get(key.toLowerCase()) ?? [];
  }

  /** The first value of a key. */
  first(key: string): string | undefined {
    return this.map.get(key.toLowerCase())?.[0];
  }

  has(key: string): boolean {
    return this.map.has(key.toLowerCase());
  }

  /** Replaces all values of a key. */
  set(key: string, ...values: string[]): this {
    this.map.set(key.toLowerCase(), values);
    return this;
  }

  append(key: string, ...values: string[]): this {
    const k = key.toLowerCase();
    const cur = this.map.get(k);
    if (cur) cur.push(...values);
    else this.map.set(k, [...values]);
    return this;
  }

  delete(key: string): boolean {
    return this.map.delete(key.toLowerCase());
  }

  get size(): number {
    return this.map.size;
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  /** Wire form: one pair per value. */
  toPairs(): KeyValuePair[] {
    const out: KeyValuePair[] = [];
    for (const [key, vs] of this.map) for (const value of vs) out.push({ key, value });
    return out;
  }

  toRecord(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [k, vs] of this.map) out[k] = [...vs];
    return out;
  }
}
