/**
 * Reference values: named sets (the `policy_id` of trustee's attestation-policy endpoint) of
 * accepted measurements, PCR values, init-data digests and minimum TCBs, appraised against every
 * verified evidence. The `default` set also holds the broker-wide gates: whether debug guests,
 * development-TEE evidence (a TPM quote alone, e.g. QEMU + swtpm) and trustee's `sample` TEE are
 * accepted at all — all off unless set. A set that compares nothing appraises as `warning`, never
 * `affirming`.
 */
import { TEE_NAMES, type TeeName } from '../../shared/kbs/protocol.js';
import type { Appraisal } from '../server/token.js';

export interface SnpMinTcb {
  bootloader?: number;
  tee?: number;
  snp?: number;
  microcode?: number;
}

export interface ReferenceValues {
  /** Accept debug-enabled guests (only read from the `default` set). */
  allowDebug?: boolean;
  /** Accept development-TEE evidence: `tpm` quotes without a CPU TEE (only read from `default`). */
  allowDevelopmentTee?: boolean;
  /** Accept trustee's `sample` TEE, which proves nothing (only read from `default`). */
  allowSample?: boolean;
  /** TEEs this set accepts. */
  tees?: TeeName[];
  /** Accepted launch measurements: SNP MEASUREMENT, TDX MRTD (hex). */
  measurements?: string[];
  /** TPM: PCR index -> accepted SHA-256 values (hex). */
  pcrs?: Record<string, string[]>;
  /** Accepted init-data digests (hex, the init-data's own algorithm). */
  initDataDigests?: string[];
  /** SEV-SNP: minimum TCB components; the reported, committed and current TCB must each reach them. */
  minTcb?: SnpMinTcb;
}

/** What the evidence layer extracted from verified evidence, for the comparison. */
export interface EvidenceFacts {
  tee: TeeName;
  measurement?: string;
  pcrs?: Record<string, string>;
  initDataDigest?: string;
  tcb?: SnpMinTcb;
}

export class ReferenceValuesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceValuesError';
  }
}

const HEX = /^[0-9a-fA-F]+$/;
const KNOWN = new Set(['allowDebug', 'allowDevelopmentTee', 'allowSample', 'tees', 'measurements', 'pcrs', 'initDataDigests', 'minTcb']);

function hexList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && HEX.test(x) && x.length % 2 === 0)) throw new ReferenceValuesError(`${what} must be a list of hex strings`);
  return v.map((x: string) => x.toLowerCase());
}

/** Checks a reference-value document; unknown keys are refused so a typo cannot silently allow. */
export function parseReferenceValues(v: unknown): ReferenceValues {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ReferenceValuesError('reference values must be a JSON object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new ReferenceValuesError(`unknown reference-value key ${JSON.stringify(k.slice(0, 40))} (known: ${[...KNOWN].join(', ')})`);
  const rv: ReferenceValues = {};
  for (const k of ['allowDebug', 'allowDevelopmentTee', 'allowSample'] as const) {
    if (o[k] !== undefined) {
      if (typeof o[k] !== 'boolean') throw new ReferenceValuesError(`${k} must be true or false`);
      rv[k] = o[k];
    }
  }
  if (o.tees !== undefined) {
    if (!Array.isArray(o.tees) || !o.tees.every((t) => (TEE_NAMES as readonly unknown[]).includes(t))) throw new ReferenceValuesError(`tees must list TEE names (${TEE_NAMES.join(', ')})`);
    rv.tees = o.tees as TeeName[];
  }
  if (o.measurements !== undefined) rv.measurements = hexList(o.measurements, 'measurements');
  if (o.initDataDigests !== undefined) rv.initDataDigests = hexList(o.initDataDigests, 'initDataDigests');
  if (o.pcrs !== undefined) {
    if (typeof o.pcrs !== 'object' || o.pcrs === null || Array.isArray(o.pcrs)) throw new ReferenceValuesError('pcrs must map a PCR index to a list of hex values');
    rv.pcrs = {};
    for (const [i, vals] of Object.entries(o.pcrs)) {
      if (!/^\d+$/.test(i) || Number(i) > 23) throw new ReferenceValuesError(`pcrs: ${JSON.stringify(i.slice(0, 10))} is not a PCR index 0-23`);
      const list = hexList(vals, `pcrs[${i}]`);
      if (!list.every((x) => x.length === 64)) throw new ReferenceValuesError(`pcrs[${i}] values must be SHA-256 (64 hex characters)`);
      rv.pcrs[i] = list;
    }
  }
  if (o.minTcb !== undefined) {
    if (typeof o.minTcb !== 'object' || o.minTcb === null) throw new ReferenceValuesError('minTcb must be an object {bootloader, tee, snp, microcode}');
    const m: SnpMinTcb = {};
    for (const [k, x] of Object.entries(o.minTcb)) {
      if (!['bootloader', 'tee', 'snp', 'microcode'].includes(k)) throw new ReferenceValuesError(`minTcb.${k.slice(0, 20)} is not bootloader, tee, snp or microcode`);
      if (!Number.isInteger(x) || (x as number) < 0 || (x as number) > 255) throw new ReferenceValuesError(`minTcb.${k} must be an integer 0-255`);
      m[k as keyof SnpMinTcb] = x as number;
    }
    rv.minTcb = m;
  }
  return rv;
}

/** Compares verified evidence with one reference-value set. */
export function appraise(rv: ReferenceValues, ev: EvidenceFacts): Appraisal {
  const failed: string[] = [];
  let compared = 0;
  if (rv.tees) {
    compared++;
    if (!rv.tees.includes(ev.tee)) failed.push(`tee ${ev.tee} is not one of ${rv.tees.join(', ')}`);
  }
  if (rv.measurements) {
    compared++;
    if (ev.measurement === undefined) failed.push(`measurement: ${ev.tee} evidence has no launch measurement`);
    else if (!rv.measurements.includes(ev.measurement)) failed.push(`measurement ${ev.measurement} is not an accepted measurement`);
  }
  if (rv.pcrs) {
    for (const [i, accepted] of Object.entries(rv.pcrs)) {
      compared++;
      const got = ev.pcrs?.[i];
      if (got === undefined) failed.push(`pcr ${i}: ${ev.tee} evidence has no PCR values`);
      else if (!accepted.includes(got)) failed.push(`pcr ${i} value ${got} is not accepted`);
    }
  }
  if (rv.initDataDigests) {
    compared++;
    if (ev.initDataDigest === undefined) failed.push('init-data: the attestation carried no init-data');
    else if (!rv.initDataDigests.includes(ev.initDataDigest)) failed.push(`init-data digest ${ev.initDataDigest} is not accepted`);
  }
  if (rv.minTcb) {
    compared++;
    if (!ev.tcb) failed.push(`minTcb: ${ev.tee} evidence has no TCB version`);
    else {
      for (const [k, min] of Object.entries(rv.minTcb) as [keyof SnpMinTcb, number][]) {
        const got = ev.tcb[k];
        if (got === undefined || got < min) failed.push(`tcb ${k} ${got ?? '(absent)'} is below the minimum ${min}`);
      }
    }
  }
  if (compared === 0) return { status: 'warning', failed: ['no reference values to compare: the set accepts no measurement, PCR, init-data or TCB'] };
  return { status: failed.length === 0 ? 'affirming' : 'contraindicated', failed };
}
