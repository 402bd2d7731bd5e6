/**
 * The device manager's checkpoint `<dir>/kubelet_internal_checkpoint`
 * (cm/devicemanager/checkpoint/checkpoint.go): the upstream JSON shape
 *
 *   {"Data":{"PodDeviceEntries":[{"PodUID","ContainerName","ResourceName",
 *            "DeviceIDs":{"<numa>":["id",...]},"AllocResp":"<base64 AllocateResponse bytes>"}],
 *           "RegisteredDevices":{"<resource>":["id",...]}},
 *    "Checksum":N}
 *
 * Devices without NUMA affinity are listed under "-1". Upstream's checksum is a Go deep-hash of
 * the structure that cannot be reproduced outside Go, so ours is FNV-1a (32 bit) of the
 * `JSON.stringify` of `Data`; a checksum of 0 (written by another tool, or hand-edited) is
 * accepted. Written atomically (temporary file, fsync, rename).
 *
 * `readCheckpoint(path)` → `{ data }` | `{ data: undefined }` (no file) | throws a CocoletError
 * (CheckpointCorrupt) saying what is wrong; the manager recovers from that (manager.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import { writeAtomic } from '../../status/manager.js';

export const CHECKPOINT_FILE = 'kubelet_internal_checkpoint';

export interface PodDeviceEntry {
  PodUID: string;
  ContainerName: string;
  ResourceName: string;
  /** NUMA node id (as a string; "-1" = no affinity) → device ids. */
  DeviceIDs: Record<string, string[]>;
  /** The plugin's ContainerAllocateResponse, protobuf bytes in base64. */
  AllocResp: string;
}

export interface CheckpointData {
  PodDeviceEntries: PodDeviceEntry[];
  RegisteredDevices: Record<string, string[]>;
}

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function checksumOf(data: CheckpointData): number {
  return fnv1a32(JSON.stringify(data));
}

export function writeCheckpoint(path: string, data: CheckpointData): void {
  const canonical: CheckpointData = { PodDeviceEntries: data.PodDeviceEntries, RegisteredDevices: data.RegisteredDevices };
  writeAtomic(path, JSON.stringify({ Data: canonical, Checksum: checksumOf(canonical) }));
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function corrupt(path: string, why: string): CocoletError {
  return new CocoletError(ErrorCode.CheckpointCorrupt, `device manager checkpoint ${path} is unusable: ${why}`, { context: { file: path } });
}

/** Parses and checks a checkpoint's text (exported for tests). */
export function parseCheckpoint(path: string, text: string): CheckpointData {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw corrupt(path, `not JSON (${(e as Error).message})`);
  }
  const d = (doc as { Data?: unknown })?.Data as Partial<CheckpointData> | undefined;
  const sum = (doc as { Checksum?: unknown })?.Checksum;
  if (!d || typeof d !== 'object') throw corrupt(path, 'no "Data" object');
  if (typeof sum !== 'number') throw corrupt(path, 'no numeric "Checksum"');
  const entries = d.PodDeviceEntries ?? [];
  const registered = d.RegisteredDevices ?? {};
  if (!Array.isArray(entries)) throw corrupt(path, '"PodDeviceEntries" is not a list');
  entries.forEach((e, i) => {
    const ok =
      e &&
      typeof e.PodUID === 'string' &&
      typeof e.ContainerName === 'string' &&
      typeof e.ResourceName === 'string' &&
      typeof e.AllocResp === 'string' &&
      e.DeviceIDs !== null &&
      typeof e.DeviceIDs === 'object' &&
      Object.entries(e.DeviceIDs).every(([k, v]) => /^-?\d+$/.test(k) && isStringArray(v));
    if (!ok) throw corrupt(path, `PodDeviceEntries[${i}] lacks PodUID, ContainerName, ResourceName, DeviceIDs or AllocResp`);
  });
  if (typeof registered !== 'object' || registered === null || !Object.values(registered).every(isStringArray)) {
    throw corrupt(path, '"RegisteredDevices" is not a map of resource → device ids');
  }
  const data: CheckpointData = { PodDeviceEntries: entries, RegisteredDevices: registered };
  if (sum !== 0 && sum !== checksumOf(data)) throw corrupt(path, `checksum ${sum} does not match its data (${checksumOf(data)})`);
  return data;
}

export function readCheckpoint(path: string): CheckpointData | undefined {
  if (!existsSync(path)) return undefined;
  return parseCheckpoint(path, readFileSync(path, 'utf8'));
}
