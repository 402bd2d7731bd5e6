/**
 * Eviction signals and thresholds (kl/eviction/api/types.go, helpers.go: ParseThresholdConfig).
 *
 * `parseThresholdConfig(settings)` turns the KubeletConfiguration fields (`evictionHard`,
 * `evictionSoft`, `evictionSoftGracePeriod`, `evictionMinimumReclaim`, `enforceNodeAllocatable`,
 * `mergeDefaultEvictionSettings`) into thresholds with the kubelet's rules: the only operator is
 * LessThan; a value is a quantity or a percentage of capacity; "0%" and "100%" disable a signal;
 * zero or negative quantities, percentages outside 0–100 %, unknown signals and malformed values
 * are errors; every soft threshold needs a grace period; a hard threshold has grace period 0; with
 * `pods` in enforceNodeAllocatable each hard memory.available threshold is copied as
 * allocatableMemory.available. Errors are CocoletError(ConfigInvalid) whose message and context
 * `field` name the offending field and value, e.g. `evictionSoft.memory.available`.
 *
 * `thresholdQuantity(value, capacity)` is GetThresholdQuantity: a percentage is taken of the
 * capacity with the kubelet's float32 arithmetic, so the bytes match its decisions.
 */
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseDuration } from '../config/duration.js';
import { parseQuantity } from './quantity.js';

export const SIGNALS = [
  'memory.available',
  'allocatableMemory.available',
  'nodefs.available',
  'nodefs.inodesFree',
  'imagefs.available',
  'imagefs.inodesFree',
  'containerfs.available',
  'containerfs.inodesFree',
  'pid.available',
] as const;
export type Signal = (typeof SIGNALS)[number];

export const isSignal = (s: string): s is Signal => (SIGNALS as readonly string[]).includes(s);

export type NodeConditionType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';
/** What each signal measures (the kubelet's signalToResource) and the condition it raises. */
export type SignalResource = 'memory' | 'ephemeral-storage' | 'inodes' | 'pids';

export const SIGNAL_RESOURCE: Record<Signal, SignalResource> = {
  'memory.available': 'memory',
  'allocatableMemory.available': 'memory',
  'nodefs.available': 'ephemeral-storage',
  'nodefs.inodesFree': 'inodes',
  'imagefs.available': 'ephemeral-storage',
  'imagefs.inodesFree': 'inodes',
  'containerfs.available': 'ephemeral-storage',
  'containerfs.inodesFree': 'inodes',
  'pid.available': 'pids',
};

export const SIGNAL_CONDITION: Record<Signal, NodeConditionType> = {
  'memory.available': 'MemoryPressure',
  'allocatableMemory.available': 'MemoryPressure',
  'nodefs.available': 'DiskPressure',
  'nodefs.inodesFree': 'DiskPressure',
  'imagefs.available': 'DiskPressure',
  'imagefs.inodesFree': 'DiskPressure',
  'containerfs.available': 'DiskPressure',
  'containerfs.inodesFree': 'DiskPressure',
  'pid.available': 'PIDPressure',
};

/** Linux evictionHard defaults (kl/eviction/defaults_linux.go). */
export const DEFAULT_EVICTION_HARD: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
};
/** enforceNodeAllocatable default. */
export const DEFAULT_ENFORCE_NODE_ALLOCATABLE: readonly string[] = ['pods'];
/** evictionPressureTransitionPeriod default (5 min). */
export const DEFAULT_PRESSURE_TRANSITION_MS = 5 * 60_000;
/** The eviction manager's loop period (kl/kubelet.go evictionMonitoringPeriod). */
export const EVICTION_MONITORING_PERIOD_MS = 10_000;

/**
 * A quantity (bytes, inodes or pids) or a fraction of the signal's capacity ("10%" → 0.1 held as
 * the kubelet's float32, 0.10000000149011612; shown rounded to 7 digits).
 */
export type ThresholdValue = { quantity: number; text: string } | { percentage: number; text: string };

export interface Threshold {
  signal: Signal;
  operator: 'LessThan';
  value: ThresholdValue;
  /** 0 for a hard threshold. */
  gracePeriodMs: number;
  minReclaim?: ThresholdValue;
}

export const isHard = (t: Threshold): boolean => t.gracePeriodMs === 0;

export interface EvictionSettings {
  evictionHard?: Record<string, string>;
  evictionSoft?: Record<string, string>;
  evictionSoftGracePeriod?: Record<string, string>;
  evictionMinimumReclaim?: Record<string, string>;
  enforceNodeAllocatable?: string[];
  mergeDefaultEvictionSettings?: boolean;
}

function fail(field: string, message: string): never {
  throw new CocoletError(ErrorCode.ConfigInvalid, `${field}: ${message}`, { context: { field } });
}

function checkSignal(field: string, signal: string): asserts signal is Signal {
  if (!isSignal(signal)) fail(`${field}.${signal}`, `unknown eviction signal "${signal}" (known: ${SIGNALS.join(', ')})`);
}

/** float32(value)/100 as the kubelet computes it; undefined when the text is not a number. */
function parsePercent(text: string): number | undefined {
  const body = text.slice(0, -1).trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(body)) return undefined;
  return Math.fround(Math.fround(Number(body)) / 100);
}

function parseStatement(field: string, signal: string, raw: string): Threshold | undefined {
  checkSignal(field, signal);
  const at = `${field}.${signal}`;
  const text = raw.trim();
  if (text.endsWith('%')) {
    if (text === '0%' || text === '100%') return undefined; // disabled, as the kubelet does
    const p = parsePercent(text);
    if (p === undefined) fail(at, `"${raw}" is not a percentage such as "10%"`);
    if (p < 0 || p > 1) fail(at, `"${raw}" must be between 0% and 100%`);
    return { signal, operator: 'LessThan', value: { percentage: p, text }, gracePeriodMs: 0 };
  }
  const q = parseQuantity(text);
  if (q === undefined) fail(at, `"${raw}" is not a quantity such as "100Mi" nor a percentage such as "10%"`);
  if (q <= 0) fail(at, `"${raw}" must be positive (use "0%" to disable the signal)`);
  return { signal, operator: 'LessThan', value: { quantity: q, text }, gracePeriodMs: 0 };
}

function parseStatements(field: string, m: Record<string, string> | undefined): Threshold[] {
  const out: Threshold[] = [];
  for (const [signal, v] of Object.entries(m ?? {})) {
    if (typeof v !== 'string') fail(`${field}.${signal}`, 'must be a string');
    const t = parseStatement(field, signal, v);
    if (t) out.push(t);
  }
  return out;
}

function parseMinReclaim(signal: string, raw: string): ThresholdValue {
  const at = `evictionMinimumReclaim.${signal}`;
  if (typeof raw !== 'string') fail(at, 'must be a string');
  const text = raw.trim();
  if (text.endsWith('%')) {
    const p = parsePercent(text);
    if (p === undefined) fail(at, `"${raw}" is not a percentage such as "5%"`);
    if (p <= 0 || p > 1) fail(at, `"${raw}" must be above 0% and at most 100%`);
    return { percentage: p, text };
  }
  const q = parseQuantity(text);
  if (q === undefined) fail(at, `"${raw}" is not a quantity such as "500Mi" nor a percentage such as "5%"`);
  if (q < 0) fail(at, `"${raw}" must not be negative`);
  return { quantity: q, text };
}

/** The evictionHard map in effect: the defaults when unset; with merge, defaults overlaid by the given keys. */
export function effectiveEvictionHard(s: EvictionSettings): Record<string, string> {
  if (s.evictionHard === undefined) return { ...DEFAULT_EVICTION_HARD };
  return s.mergeDefaultEvictionSettings ? { ...DEFAULT_EVICTION_HARD, ...s.evictionHard } : { ...s.evictionHard };
}

/** ParseThresholdConfig with KubeletConfiguration defaulting applied; throws CocoletError(ConfigInvalid). */
export function parseThresholdConfig(s: EvictionSettings): Threshold[] {
  const hard = parseStatements('evictionHard', effectiveEvictionHard(s));
  const soft = parseStatements('evictionSoft', s.evictionSoft);
  const grace = new Map<Signal, number>();
  for (const [signal, v] of Object.entries(s.evictionSoftGracePeriod ?? {})) {
    checkSignal('evictionSoftGracePeriod', signal);
    const at = `evictionSoftGracePeriod.${signal}`;
    const text = typeof v === 'string' ? v.trim() : '';
    if (text.startsWith('-')) fail(at, `"${v}" must not be negative`);
    const ms = parseDuration(text);
    if (ms === undefined) fail(at, `"${String(v)}" is not a duration such as "30s" or "1m30s"`);
    grace.set(signal, ms);
  }
  const minReclaim = new Map<Signal, ThresholdValue>();
  for (const [signal, v] of Object.entries(s.evictionMinimumReclaim ?? {})) {
    checkSignal('evictionMinimumReclaim', signal);
    minReclaim.set(signal, parseMinReclaim(signal, v));
  }
  for (const t of soft) {
    const g = grace.get(t.signal);
    if (g === undefined) fail(`evictionSoft.${t.signal}`, `a soft threshold needs a grace period: set evictionSoftGracePeriod.${t.signal} (e.g. "1m30s")`);
    if (g === 0) fail(`evictionSoftGracePeriod.${t.signal}`, 'a soft threshold needs a grace period above 0 (a 0 grace period is a hard threshold: use evictionHard)');
    t.gracePeriodMs = g;
  }
  const all = [...hard, ...soft];
  for (const t of all) {
    const r = minReclaim.get(t.signal);
    if (r) t.minReclaim = r;
  }
  const enforce = s.enforceNodeAllocatable ?? DEFAULT_ENFORCE_NODE_ALLOCATABLE;
  if (enforce.includes('pods')) {
    for (const t of all.filter((x) => x.signal === 'memory.available' && isHard(x))) {
      all.push({ ...t, signal: 'allocatableMemory.available' });
    }
  }
  return all;
}

/** GetThresholdQuantity: a quantity as is, a percentage of `capacity` with the kubelet's float32 percentage. */
export function thresholdQuantity(v: ThresholdValue, capacity: number): number {
  if ('quantity' in v) return v.quantity;
  return Math.trunc(capacity * v.percentage);
}

/** JSON shape of a threshold value (`cocolet explain eviction`). */
export function valueJson(v: ThresholdValue): { quantity: string } | { percentage: number } {
  return 'quantity' in v ? { quantity: v.text } : { percentage: Number(v.percentage.toPrecision(7)) };
}

/** `memory.available<100Mi` (soft thresholds add their grace period). */
export function describeThreshold(t: Threshold): string {
  return `${t.signal}<${t.value.text}${isHard(t) ? '' : ` for ${t.gracePeriodMs / 1000}s`}`;
}
