/**
 * Interning of known strings while protobuf messages are decoded. A process that decodes requests
 * and then compares their strings with a fixed vocabulary (the agent's policy: mount types,
 * options, destinations, capability names) can install a StringInterner: a decoded string whose
 * bytes equal a vocabulary word is returned as that word's one internalized string instead of a
 * fresh copy. The message is the same (equal strings); a later `===` against the vocabulary is a
 * pointer compare and a Map look-up finds the hash already computed, where a fresh string is
 * compared character by character and hashed on first use. Hits also skip building the string.
 *
 * protobuf-es has no hook for its reader's strings, so install() replaces
 * `BinaryReader.prototype.string` for the whole process; a miss falls through to the original
 * method unchanged (same bytes read, same UTF-8 handling, same errors). The vocabulary is fixed when
 * the interner is made, never grown from what was decoded, so it holds nothing a peer sent.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';

/** Longest word interned (a longer string is never looked up). */
export const MAX_INTERNED_LENGTH = 64;
const SLOTS = 1024;

/** The internalized string equal to `s`: every internalized copy of one text is the same object (property keys are internalized). */
export function internalize(s: string): string {
  const o: Record<string, 0> = {};
  o[s] = 0;
  for (const k in o) return k; // an array index key ('5') comes back as a new string, equal all the same
  return s;
}

/** The bucket of a word by its length and three of its bytes (all read again when comparing). */
function slot(buf: Uint8Array, start: number, len: number): number {
  return (len * 7 + buf[start]! * 31 + buf[start + len - 1]! * 131 + buf[start + (len >> 1)]!) & (SLOTS - 1);
}

interface Entry {
  bytes: Uint8Array;
  word: string;
}

export class StringInterner {
  private readonly slots: (Entry[] | undefined)[] = new Array<Entry[] | undefined>(SLOTS).fill(undefined);
  private readonly words = new Set<string>();

  /** `words`: ASCII strings of 1..MAX_INTERNED_LENGTH characters (others are left out). */
  constructor(words: Iterable<string>) {
    const encoder = new TextEncoder();
    for (const w of words) {
      // eslint-disable-next-line no-control-regex
      if (w.length === 0 || w.length > MAX_INTERNED_LENGTH || !/^[\x00-\x7f]*$/.test(w) || this.words.has(w)) continue;
      const word = internalize(w);
      this.words.add(word);
      const bytes = encoder.encode(word);
      const i = slot(bytes, 0, bytes.length);
      (this.slots[i] ??= []).push({ bytes, word });
    }
  }

  /** Whether `s` is one of the words. */
  has(s: string): boolean {
    return this.words.has(s);
  }

  get size(): number {
    return this.words.size;
  }

  /** The word whose UTF-8 bytes are buf[start, start + len), else undefined (len >= 1, within buf). */
  find(buf: Uint8Array, start: number, len: number): string | undefined {
    const bucket = this.slots[slot(buf, start, len)];
    if (bucket === undefined) return undefined;
    next: for (let k = 0; k < bucket.length; k++) {
      const e = bucket[k]!;
      const b = e.bytes;
      if (b.length !== len) continue;
      for (let i = 0; i < len; i++) if (b[i] !== buf[start + i]) continue next;
      return e.word;
    }
    return undefined;
  }
}

type StringReader = (this: BinaryReader, strict?: boolean) => string;
let original: StringReader | undefined;
let active: StringInterner | undefined;

/** The reader's string method with the active interner looked up first. */
function internedString(this: BinaryReader, strict?: boolean): string {
  const it = active;
  if (it !== undefined) {
    const start = this.pos;
    const len = this.uint32();
    const at = this.pos;
    if (len > 0 && len <= MAX_INTERNED_LENGTH && at + len <= this.len) {
      const word = it.find((this as unknown as { buf: Uint8Array }).buf, at, len);
      if (word !== undefined) {
        this.pos = at + len;
        return word;
      }
    }
    this.pos = start; // the original reads the length again and decodes (or throws) as it always does
  }
  return original!.call(this, strict);
}

/** Makes every protobuf decode in this process hand out `interner`'s words (replacing an earlier one; undefined: none, the hook stays). */
export function installStringInterner(interner: StringInterner | undefined): void {
  if (original === undefined) {
    original = BinaryReader.prototype.string as StringReader;
    BinaryReader.prototype.string = internedString;
  }
  active = interner;
}

/** Back to protobuf-es's own method (tests). */
export function uninstallStringInterner(): void {
  if (original !== undefined) BinaryReader.prototype.string = original;
  original = undefined;
  active = undefined;
}

/** The interner decodes use now, if any. */
export function activeStringInterner(): StringInterner | undefined {
  return active;
}
