/**
 * `cocolet explain eviction`: what the eviction manager would do with these settings (and pods).
 *
 * Input (JSON): the KubeletConfiguration eviction fields — `evictionHard`, `evictionSoft`,
 * `evictionSoftGracePeriod`, `evictionMinimumReclaim`, `enforceNodeAllocatable`,
 * `mergeDefaultEvictionSettings` — defaulted as the kubelet defaults them. Optionally a `signal`,
 * `pods` ([{name, priority, containers: [{name, requests, limits}], initContainers, overhead,
 * localVolumes}]), `stats` ({"<pod name>": {memoryWorkingSet, rootfsUsed, logsUsed,
 * perLocalVolumeUsed, rootfsInodesUsed, logsInodesUsed, perLocalVolumeInodesUsed, processCount}})
 * and `layout` (`shared` default, `imagefs`, `split`). For an inode signal without inode fields
 * the byte fields are read as inode counts.
 *
 * With `observations` ({"memory.available": {"available": "80Mi", "capacity": "8Gi"}}) it also says
 * which thresholds are met (`"met"`, grace periods not waited for) and the node `"conditions"`, and
 * ranks the pods under the signal the manager would act on when no `signal` is given.
 *
 * Output: `{"thresholds": [{signal, operator, value: {quantity}|{percentage}, gracePeriod,
 * minReclaim}]}` (a hard threshold has gracePeriod "0s"), plus with a signal and pods
 * `"order": [names, first evicted first]` and `"reasons": {"<name>": "one line"}`. Bad input throws
 * an Error naming the field and value at fault (printed as `{"error": "..."}`).
 */
import { formatDuration } from '../config/duration.js';
import { rankForEviction, type FsLayout, type PodStats, type RankPod } from './rank.js';
import { thresholdsMet } from './manager.js';
import { formatBytes, quantityValue } from './quantity.js';
import type { Observations } from './signals.js';
import {
  isSignal,
  parseThresholdConfig,
  SIGNAL_CONDITION,
  SIGNAL_RESOURCE,
  SIGNALS,
  thresholdQuantity,
  valueJson,
  type EvictionSettings,
  type Signal,
} from './thresholds.js';

const SETTINGS = ['evictionHard', 'evictionSoft', 'evictionSoftGracePeriod', 'evictionMinimumReclaim', 'enforceNodeAllocatable', 'mergeDefaultEvictionSettings'];
const OTHER = ['signal', 'pods', 'stats', 'layout', 'observations', 'apiVersion', 'kind'];

class InputError extends Error {}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, what);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') throw new InputError(`${what}.${k} must be a string such as "100Mi" (got ${JSON.stringify(x)})`);
  return o as Record<string, string>;
}

function settingsOf(input: Record<string, unknown>): EvictionSettings {
  for (const k of Object.keys(input)) if (!SETTINGS.includes(k) && !OTHER.includes(k)) throw new InputError(`unknown field "${k}" (known: ${[...SETTINGS, ...OTHER].join(', ')})`);
  const s: EvictionSettings = {};
  for (const f of ['evictionHard', 'evictionSoft', 'evictionSoftGracePeriod', 'evictionMinimumReclaim'] as const) {
    const m = stringMap(input[f], f);
    if (m) s[f] = m;
  }
  const ena = input.enforceNodeAllocatable;
  if (ena !== undefined) {
    if (!Array.isArray(ena) || ena.some((x) => typeof x !== 'string')) throw new InputError('enforceNodeAllocatable must be a list of strings such as ["pods"]');
    s.enforceNodeAllocatable = ena as string[];
  }
  if (input.mergeDefaultEvictionSettings !== undefined) {
    if (typeof input.mergeDefaultEvictionSettings !== 'boolean') throw new InputError('mergeDefaultEvictionSettings must be true or false');
    s.mergeDefaultEvictionSettings = input.mergeDefaultEvictionSettings;
  }
  return s;
}

function podsOf(v: unknown): RankPod[] {
  if (!Array.isArray(v)) throw new InputError('pods must be a list');
  const seen = new Set<string>();
  return v.map((p, i) => {
    const o = obj(p, `pods[${i}]`);
    if (typeof o.name !== 'string' || !o.name) throw new InputError(`pods[${i}].name must be a non-empty string`);
    if (seen.has(o.name)) throw new InputError(`pods[${i}].name "${o.name}" appears twice`);
    seen.add(o.name);
    if (o.priority !== undefined && (typeof o.priority !== 'number' || !Number.isInteger(o.priority))) throw new InputError(`pod ${o.name}: priority must be an integer`);
    for (const f of ['containers', 'initContainers'] as const) {
      if (o[f] !== undefined && !Array.isArray(o[f])) throw new InputError(`pod ${o.name}: ${f} must be a list`);
      ((o[f] as unknown[] | undefined) ?? []).forEach((c, j) => {
        const co = obj(c, `pod ${o.name}: ${f}[${j}]`);
        stringOrNumberMap(co.requests, `pod ${o.name}: ${f}[${j}].requests`);
        stringOrNumberMap(co.limits, `pod ${o.name}: ${f}[${j}].limits`);
      });
    }
    if (o.localVolumes !== undefined && (!Array.isArray(o.localVolumes) || o.localVolumes.some((x) => typeof x !== 'string'))) {
      throw new InputError(`pod ${o.name}: localVolumes must be a list of volume names`);
    }
    return { ...(o as unknown as RankPod), containers: (o.containers as RankPod['containers'] | undefined) ?? [] };
  });
}

function stringOrNumberMap(v: unknown, what: string): void {
  if (v === undefined) return;
  const o = obj(v, what);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string' && typeof x !== 'number') throw new InputError(`${what}.${k} must be a quantity such as "100Mi"`);
}

/** {"<signal>": {"available": "80Mi", "capacity": "8Gi"}} → observations. */
function observationsOf(v: unknown): Observations {
  const o = obj(v, 'observations');
  const out: Observations = {};
  for (const [signal, x] of Object.entries(o)) {
    if (!isSignal(signal)) throw new InputError(`observations.${signal}: unknown eviction signal (known: ${SIGNALS.join(', ')})`);
    const ob = obj(x, `observations.${signal}`);
    const available = typeof ob.available === 'string' || typeof ob.available === 'number' ? quantityValue(ob.available) : undefined;
    const capacity = typeof ob.capacity === 'string' || typeof ob.capacity === 'number' ? quantityValue(ob.capacity) : undefined;
    if (available === undefined) throw new InputError(`observations.${signal}.available must be a quantity such as "80Mi"`);
    if (capacity === undefined || capacity <= 0) throw new InputError(`observations.${signal}.capacity must be a positive quantity such as "8Gi"`);
    out[signal] = { available, capacity, time: 0 };
  }
  return out;
}

/** For inode signals without inode fields, the byte fields stand for inode counts. */
function inodeFallback(st: PodStats): PodStats {
  if (st.rootfsInodesUsed !== undefined || st.logsInodesUsed !== undefined || st.perLocalVolumeInodesUsed !== undefined) return st;
  return {
    ...st,
    ...(st.rootfsUsed !== undefined ? { rootfsInodesUsed: st.rootfsUsed } : {}),
    ...(st.logsUsed !== undefined ? { logsInodesUsed: st.logsUsed } : {}),
    ...(st.perLocalVolumeUsed !== undefined ? { perLocalVolumeInodesUsed: st.perLocalVolumeUsed } : {}),
  };
}

/**
 * The answer for one input document; throws an Error whose message names the field and value at
 * fault (the explain dispatcher prints it as {"error"}).
 */
export function explainEviction(input: unknown): Record<string, unknown> {
  const o = obj(input ?? {}, 'the input');
  const parsed = parseThresholdConfig(settingsOf(o));
  const thresholds = parsed.map((t) => ({
    signal: t.signal,
    operator: t.operator,
    value: valueJson(t.value),
    gracePeriod: formatDuration(t.gracePeriodMs),
    minReclaim: t.minReclaim ? valueJson(t.minReclaim) : null,
  }));
  const out: Record<string, unknown> = { thresholds };
  let metSignal: Signal | undefined;
  if (o.observations !== undefined) {
    const obs = observationsOf(o.observations);
    const met = thresholdsMet(parsed, obs, false);
    out.met = met.map((t) => {
      const ob = obs[t.signal]!;
      const bytes = SIGNAL_RESOURCE[t.signal] === 'memory' || SIGNAL_RESOURCE[t.signal] === 'ephemeral-storage';
      const q = (n: number): string => (bytes ? formatBytes(n) : String(n));
      return { signal: t.signal, threshold: q(thresholdQuantity(t.value, ob.capacity)), observed: q(ob.available), gracePeriod: formatDuration(t.gracePeriodMs) };
    });
    out.conditions = [...new Set(met.map((t) => SIGNAL_CONDITION[t.signal]))];
    // The signal the manager would act on: memory first, then the order of the thresholds.
    metSignal = [...met].sort((a, b) => Number(SIGNAL_RESOURCE[b.signal] === 'memory') - Number(SIGNAL_RESOURCE[a.signal] === 'memory'))[0]?.signal;
  }
  if (o.signal === undefined && o.pods === undefined) return out;
  if (o.signal === undefined && !metSignal) {
    if (o.observations !== undefined) return out; // no threshold crossed: nobody would be evicted
    throw new InputError('pods are ranked under a signal: give "signal", or "observations" that cross a threshold');
  }
  const signal = o.signal ?? metSignal;
  if (typeof signal !== 'string' || !isSignal(signal)) throw new InputError(`signal ${JSON.stringify(o.signal)} is not an eviction signal (known: ${SIGNALS.join(', ')})`);
  out.signal = signal;
  const pods = podsOf(o.pods ?? []);
  const statsIn = o.stats === undefined ? {} : obj(o.stats, 'stats');
  for (const name of Object.keys(statsIn)) {
    if (!pods.some((p) => p.name === name)) throw new InputError(`stats.${name}: no pod of that name`);
    obj(statsIn[name], `stats.${name}`);
  }
  const layout = (o.layout ?? 'shared') as FsLayout;
  if (!['shared', 'imagefs', 'split'].includes(layout)) throw new InputError(`layout "${String(o.layout)}" must be shared, imagefs or split`);
  const inodes = SIGNAL_RESOURCE[signal] === 'inodes';
  const ranked = rankForEviction(
    signal,
    pods,
    (p) => {
      const st = statsIn[p.name] as PodStats | undefined;
      return st && inodes ? inodeFallback(st) : st;
    },
    { layout },
  );
  out.order = ranked.map((r) => r.pod.name);
  out.reasons = Object.fromEntries(ranked.map((r) => [r.pod.name, r.reason]));
  return out;
}
