/**
 * Why a pod was refused with TopologyAffinityError, in words an operator can act on. The kubelet
 * says only "Resources cannot be allocated with Topology locality"; we name the resources whose
 * hints could not be aligned and the NUMA nodes each wanted, e.g.
 *   cpu hints want NUMA {0}, example.com/gpu hints want NUMA {1}
 */
import { and, count, formatMask, type Mask } from './bitmask.js';
import type { HintList } from './merge.js';
import type { NumaInfo } from './numa-info.js';
import type { PolicyName } from './policy.js';

const SHOWN = 4;

function label(l: HintList): string {
  return l.resource ?? l.provider;
}

function wantText(masks: readonly Mask[]): string {
  const shown = masks.slice(0, SHOWN).map((m) => `NUMA ${formatMask(m)}`);
  const more = masks.length > SHOWN ? ` or ${masks.length - SHOWN} more` : '';
  return shown.join(' or ') + more;
}

/** The NUMA sets a list could be aligned on (preferred hints, within the machine); null = anywhere. */
function wanted(l: HintList, policy: PolicyName, numa: NumaInfo): Mask[] | null {
  const out: Mask[] = [];
  for (const h of l.hints) {
    if (!h.preferred) continue;
    if (h.mask === null) return null;
    if (policy === 'single-numa-node' && count(h.mask) !== 1) continue;
    if (and(h.mask, numa.defaultMask) === 0) continue;
    if (!out.includes(h.mask)) out.push(h.mask);
  }
  return out.sort((a, b) => count(a) - count(b) || a - b);
}

/** A one-line reason the lists cannot be merged into a preferred hint. */
export function explainMisalignment(lists: readonly HintList[], policy: PolicyName, numa: NumaInfo): string {
  const parts: string[] = [];
  const candidates: { name: string; masks: Mask[] }[] = [];
  for (const l of lists) {
    if (l.origin === 'impossible') {
      parts.push(`${label(l)} cannot be allocated on any NUMA node`);
      continue;
    }
    const w = wanted(l, policy, numa);
    if (w === null) continue;
    if (w.length === 0) {
      const widest = l.hints.filter((h) => h.mask !== null).map((h) => h.mask!);
      const narrowest = widest.sort((a, b) => count(a) - count(b) || a - b)[0];
      const fits = narrowest === undefined ? '' : ` (the narrowest fit is NUMA ${formatMask(narrowest)})`;
      parts.push(policy === 'single-numa-node' ? `${label(l)} does not fit on a single NUMA node${fits}` : `${label(l)} has no preferred NUMA placement${fits}`);
      continue;
    }
    candidates.push({ name: label(l), masks: w });
  }
  if (parts.length > 0) return parts.join('; ');
  // A preferred merge needs one equal affinity across all lists: find two lists with none in common.
  for (let i = 0; i < candidates.length; i++) {
    for (let j = i + 1; j < candidates.length; j++) {
      const a = candidates[i]!;
      const b = candidates[j]!;
      if (!a.masks.some((m) => b.masks.includes(m))) return `${a.name} hints want ${wantText(a.masks)}, ${b.name} hints want ${wantText(b.masks)}`;
    }
  }
  if (candidates.length > 1) return `no NUMA set suits all of ${candidates.map((c) => `${c.name} (${wantText(c.masks)})`).join(', ')}`;
  return 'no preferred NUMA placement exists';
}
