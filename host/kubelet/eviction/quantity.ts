/**
 * Kubernetes resource quantities as the eviction manager needs them: `parseQuantity("100Mi")` →
 * 104857600 (a signed number, undefined when malformed: the sign is kept so callers can say
 * "must be positive" rather than "not a quantity"), `formatBytes(n)` in the API's canonical
 * binary form (`300Mi`, `1Gi`, or plain bytes when no suffix divides it), and `human(n)` for
 * plain-words messages (`299.9Mi`).
 */

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

/** The value of a quantity (`100Mi`, `1G`, `1e3`, `-5`, `250m`), or undefined when it is not one. */
export function parseQuantity(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const sign = m[1] === '-' ? -1 : 1;
  const digits = Number(m[2]);
  if (m[3]) return sign * digits * 10 ** Number(m[3].slice(1));
  return sign * digits * SUFFIX[m[4] ?? '']!;
}

/** An integer value the way the kubelet's Quantity.Value() gives it (rounded up). */
export function quantityValue(text: string | number): number | undefined {
  const v = parseQuantity(text);
  return v === undefined ? undefined : Math.ceil(v);
}

const BINARY = ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const;

/** Canonical binary form: the largest suffix that divides the value exactly (`300Mi`), else the plain number. */
export function formatBytes(n: number): string {
  const v = Math.round(n);
  if (v === 0) return '0';
  const abs = Math.abs(v);
  for (const s of BINARY) {
    const unit = SUFFIX[s]!;
    if (abs >= unit && abs % unit === 0) return `${v < 0 ? '-' : ''}${abs / unit}${s}`;
  }
  return String(v);
}

/** For messages people read: the largest unit that fits, exact when whole, else one decimal (`401.3Mi`). */
export function human(n: number): string {
  const abs = Math.abs(n);
  const sign = n < 0 ? '-' : '';
  for (const s of BINARY) {
    const unit = SUFFIX[s]!;
    if (abs < unit) continue;
    const v = abs / unit;
    return `${sign}${Number.isInteger(v) ? v : v.toFixed(1)}${s}`;
  }
  return String(Math.round(n));
}
