/**
 * The CPU manager's checkpoint, `<root-dir>/cpu_manager_state`, in the upstream kubelet's JSON
 * shape (cpumanager/state/checkpoint.go, "v2"):
 *
 *   {"policyName":"static","defaultCpuSet":"0-1,6-7","entries":{"<podUID>":{"<container>":"2-5"}},
 *    "checksum":0,"cocoletVersion":1,"cocoletChecksum":"sha256:<64 hex>"}
 *
 * `entries` is left out when empty. Upstream's `checksum` is an FNV-32a over a Go-specific
 * printing of its struct, which cannot be reproduced outside Go; we write 0 there, which the
 * upstream kubelet accepts without verification, so it can still read our file. Ours:
 *
 *   cocoletChecksum = "sha256:" + hex(SHA-256(UTF-8(JSON.stringify(
 *       [cocoletVersion, policyName, defaultCpuSet, [[podUID, [[container, cpuset], ...]], ...]]))))
 *
 * with pods sorted by UID and containers by name (code-unit order), cpusets in canonical list
 * syntax (`0-3,8`, as CpuSet.toString writes them), JSON.stringify without spaces.
 *
 * A file with no cocolet fields was written by an upstream kubelet: its content is used (after the
 * policy's validation) but its checksum cannot be checked. The file is replaced atomically
 * (temporary file, fsync, rename).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { writeAtomic } from '../../status/manager.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import { CpuState, type Assignment } from './state.js';

export const CPU_MANAGER_STATE_FILE = 'cpu_manager_state';
export const CHECKPOINT_VERSION = 1;

export interface CheckpointDocument {
  policyName: string;
  defaultCpuSet: string;
  entries?: Record<string, Record<string, string>>;
  checksum: number;
  cocoletVersion: number;
  cocoletChecksum: string;
}

export type LoadedCheckpoint =
  | { kind: 'missing' }
  | { kind: 'loaded'; state: CpuState; writer: 'cocolet' | 'upstream' }
  | { kind: 'corrupt'; reason: string; salvage?: CpuState };

function canonicalEntries(assignments: Assignment[]): [string, [string, string][]][] {
  const pods = new Map<string, [string, string][]>();
  for (const a of assignments) {
    const l = pods.get(a.podUid) ?? [];
    l.push([a.container, a.cpus.toString()]);
    pods.set(a.podUid, l);
  }
  const byKey = (x: [string, unknown], y: [string, unknown]): number => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
  return [...pods].sort(byKey).map(([pod, cs]) => [pod, cs.sort(byKey)]);
}

export function checkpointChecksum(version: number, policyName: string, defaultCpuSet: CpuSet, assignments: Assignment[]): string {
  const canonical = JSON.stringify([version, policyName, defaultCpuSet.toString(), canonicalEntries(assignments)]);
  return `sha256:${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
}

export function encodeCheckpoint(s: CpuState): string {
  const assignments = s.assignments();
  const doc: CheckpointDocument = {
    policyName: s.policyName,
    defaultCpuSet: s.defaultCpuSet.toString(),
    checksum: 0,
    cocoletVersion: CHECKPOINT_VERSION,
    cocoletChecksum: checkpointChecksum(CHECKPOINT_VERSION, s.policyName, s.defaultCpuSet, assignments),
  };
  if (assignments.length > 0) {
    const entries: Record<string, Record<string, string>> = {};
    for (const [pod, cs] of canonicalEntries(assignments)) entries[pod] = Object.fromEntries(cs);
    // keep upstream's key order: entries before checksum
    return `${JSON.stringify({ policyName: doc.policyName, defaultCpuSet: doc.defaultCpuSet, entries, checksum: 0, cocoletVersion: doc.cocoletVersion, cocoletChecksum: doc.cocoletChecksum })}\n`;
  }
  return `${JSON.stringify(doc)}\n`;
}

/** Parses a checkpoint's text; never throws. */
export function decodeCheckpoint(text: string): LoadedCheckpoint {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { kind: 'corrupt', reason: `not JSON: ${(e as Error).message}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { kind: 'corrupt', reason: 'not a JSON object' };
  const o = doc as Record<string, unknown>;
  if (typeof o.policyName !== 'string') return { kind: 'corrupt', reason: '"policyName" is missing or not a string' };
  if (typeof o.defaultCpuSet !== 'string') return { kind: 'corrupt', reason: '"defaultCpuSet" is missing or not a string' };
  let defaultSet: CpuSet;
  try {
    defaultSet = CpuSet.parse(o.defaultCpuSet);
  } catch (e) {
    return { kind: 'corrupt', reason: `"defaultCpuSet": ${(e as Error).message}` };
  }
  const assignments: Assignment[] = [];
  if (o.entries !== undefined && o.entries !== null) {
    if (typeof o.entries !== 'object' || Array.isArray(o.entries)) return { kind: 'corrupt', reason: '"entries" is not an object' };
    for (const [podUid, containers] of Object.entries(o.entries as Record<string, unknown>)) {
      if (typeof containers === 'string') return { kind: 'corrupt', reason: `"entries" is in the v1 format (container ID -> cpuset), which names no pod: "${podUid}"` };
      if (typeof containers !== 'object' || containers === null || Array.isArray(containers)) return { kind: 'corrupt', reason: `entries["${podUid}"] is not an object` };
      for (const [container, cpus] of Object.entries(containers as Record<string, unknown>)) {
        if (typeof cpus !== 'string') return { kind: 'corrupt', reason: `entries["${podUid}"]["${container}"] is not a cpuset string` };
        try {
          assignments.push({ podUid, container, cpus: CpuSet.parse(cpus) });
        } catch (e) {
          return { kind: 'corrupt', reason: `entries["${podUid}"]["${container}"]: ${(e as Error).message}` };
        }
      }
    }
  }
  const state = new CpuState(o.policyName, defaultSet, assignments);
  if (o.cocoletVersion === undefined && o.cocoletChecksum === undefined) return { kind: 'loaded', state, writer: 'upstream' };
  if (o.cocoletVersion !== CHECKPOINT_VERSION) {
    return { kind: 'corrupt', reason: `"cocoletVersion" ${JSON.stringify(o.cocoletVersion)} is not ${CHECKPOINT_VERSION} (written by another cocolet version)` };
  }
  const want = checkpointChecksum(CHECKPOINT_VERSION, o.policyName, defaultSet, assignments);
  if (o.cocoletChecksum !== want) {
    return { kind: 'corrupt', reason: `checksum mismatch: the file says ${JSON.stringify(o.cocoletChecksum)}, its content hashes to "${want}"`, salvage: state };
  }
  return { kind: 'loaded', state, writer: 'cocolet' };
}

export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) return { kind: 'missing' };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { kind: 'corrupt', reason: `unreadable: ${(e as Error).message}` };
  }
  return decodeCheckpoint(text);
}

export function writeCheckpoint(path: string, s: CpuState): void {
  writeAtomic(path, encodeCheckpoint(s));
}

/** Moves a bad checkpoint aside as `<path>.corrupt-<UTC time>`; returns the new path. */
export function quarantineCheckpoint(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let dest = `${path}.corrupt-${stamp}`;
  for (let i = 1; existsSync(dest); i++) dest = `${path}.corrupt-${stamp}-${i}`;
  renameSync(path, dest);
  return dest;
}
