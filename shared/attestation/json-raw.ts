/**
 * Finds the exact source text of a top-level member's value in a JSON document. Intel PCS
 * collateral is signed over the bytes of the inner object as served, so re-serializing would
 * break the signature.
 */
import { fail, Reason } from './errors.js';

function skipString(s: string, i: number): number {
  // s[i] === '"'
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j + 1;
  }
  return -1;
}

function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s[j];
      if (d === '"') {
        j = skipString(s, j) - 1;
        if (j < 0) return -1;
      } else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < s.length && !/[,}\]\s]/.test(s[j]!)) j++;
  return j;
}

/** The raw text of `doc[key]` where doc is a JSON object. */
export function rawMember(doc: string, key: string, what: string): string {
  let i = doc.indexOf('{');
  if (i < 0) fail(Reason.Malformed, `${what}: not a JSON object`);
  i++;
  while (i < doc.length) {
    while (i < doc.length && /[\s,]/.test(doc[i]!)) i++;
    if (doc[i] === '}') break;
    if (doc[i] !== '"') break;
    const kEnd = skipString(doc, i);
    if (kEnd < 0) break;
    let k: string;
    try {
      k = JSON.parse(doc.slice(i, kEnd)) as string;
    } catch (e) {
      return fail(Reason.Malformed, `${what}: bad JSON member name`, e);
    }
    i = kEnd;
    while (i < doc.length && /\s/.test(doc[i]!)) i++;
    if (doc[i] !== ':') break;
    i++;
    while (i < doc.length && /\s/.test(doc[i]!)) i++;
    const vEnd = skipValue(doc, i);
    if (vEnd < 0) break;
    if (k === key) return doc.slice(i, vEnd);
    i = vEnd;
  }
  return fail(Reason.Malformed, `${what}: no top-level "${key}" member`);
}
