/**
 * Checkpoint files of the resource managers (memory_manager_state, ...): JSON documents with a
 * `kind`, a `version` and a `checksum` we define — "sha256:" + hex SHA-256 of the canonical JSON
 * (keys sorted) of the document without its checksum. (The kubelet's own checksum is a Go deep-hash
 * that cannot be reproduced outside Go; see shared/reference/kubelet.md §20.10.)
 *
 * Written atomically: temp file in the same directory, fsync, rename, fsync of the directory.
 * Reading never throws for bad content: it says what was wrong so the caller can recover, keep the
 * old file aside (`setAside`) and log what it did, instead of refusing to start.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function checksumOf(doc: Record<string, unknown>): string {
  const { checksum: _ignored, ...rest } = doc;
  return `sha256:${createHash('sha256').update(canonicalJson(rest)).digest('hex')}`;
}

export interface CheckpointHeader {
  kind: string;
  version: number;
}

/** Writes `data` with its header and checksum, atomically. */
export function writeCheckpoint(path: string, header: CheckpointHeader, data: Record<string, unknown>): void {
  const doc: Record<string, unknown> = { kind: header.kind, version: header.version, ...data };
  doc.checksum = checksumOf(doc);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(doc)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Directories cannot be fsynced on every filesystem; the rename is still atomic.
  }
}

export type CheckpointRead = { status: 'absent' } | { status: 'ok'; data: Record<string, unknown> } | { status: 'invalid'; problem: string };

/** Reads and checks a checkpoint; never throws for bad content. */
export function readCheckpoint(path: string, header: CheckpointHeader): CheckpointRead {
  if (!existsSync(path)) return { status: 'absent' };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { status: 'invalid', problem: `cannot read: ${e instanceof Error ? e.message : String(e)}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { status: 'invalid', problem: 'not JSON' };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { status: 'invalid', problem: 'not a JSON object' };
  const o = doc as Record<string, unknown>;
  if (o.kind !== header.kind) return { status: 'invalid', problem: `kind is ${JSON.stringify(o.kind)}, expected ${JSON.stringify(header.kind)}` };
  if (o.version !== header.version) return { status: 'invalid', problem: `version is ${JSON.stringify(o.version)}, expected ${header.version}` };
  if (typeof o.checksum !== 'string' || o.checksum !== checksumOf(o)) return { status: 'invalid', problem: 'checksum does not match the content' };
  const { kind: _k, version: _v, checksum: _c, ...data } = o;
  return { status: 'ok', data };
}

/** Moves a checkpoint aside as `<path>.bad-<unix ms>`; returns the new path (or null if there was none). */
export function setAside(path: string, now = Date.now()): string | null {
  if (!existsSync(path)) return null;
  const to = `${path}.bad-${now}`;
  renameSync(path, to);
  return to;
}
