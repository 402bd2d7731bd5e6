/**
 * `/containerLogs?follow=true`: the log as it is now (rotated files, then the live file: since,
 * tail, timestamps and byte limit as without follow), then every line the runtime appends, through
 * rotation (the live file renamed to `<file>.<stamp>` and reopened by the runtime: the old file is
 * read to its end, then the new one from its start), until the container is no longer running (read
 * to the end once more, then the answer ends), the byte limit is reached or the client goes away.
 *
 * Partial lines (CRI tag `P`) already complete in the first part are joined as without follow; while
 * streaming each piece is written as it arrives, the newline coming with the final (`F`) piece.
 * The file is polled (100 ms), the runtime asked for the container's state at most once a second.
 *
 * API: `await followLog({ file, query, running, write, signal })`.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseCriLog, rotatedFiles } from '../logs/crilog.js';
import { renderLogs, sinceKeeps, type LogQuery } from './endpoints.js';

export interface FollowOptions {
  /** The live log file of the container instance (`<podLogDir>/<container>/<attempt>.log`). */
  file: string;
  query: LogQuery;
  /** Whether the container instance still runs (asked at most every `statusEveryMs`). */
  running: () => Promise<boolean>;
  /** Writes a chunk to the client; resolves when the client can take more. */
  write: (chunk: Buffer) => Promise<void>;
  signal: AbortSignal;
  pollMs?: number;
  statusEveryMs?: number;
}

const CHUNK = 64 * 1024;

function tryOpen(file: string): number | undefined {
  try {
    return openSync(file, 'r');
  } catch {
    return undefined;
  }
}

function inode(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}

/** Byte offset after the last complete line of buf that does not leave a partial (`P`) run open. */
function settledEnd(buf: Buffer): number {
  let end = buf.lastIndexOf(0x0a) + 1;
  while (end > 0) {
    const start = buf.lastIndexOf(0x0a, end - 2) + 1;
    const fields = buf.subarray(start, end - 1).toString('utf8').split(' ', 3);
    if (!fields[2]?.startsWith('P')) break;
    end = start;
  }
  return end;
}

export async function followLog(o: FollowOptions): Promise<void> {
  const pollMs = o.pollMs ?? 100;
  const statusEveryMs = o.statusEveryMs ?? 1000;
  const q = o.query;
  let left = q.limitBytes ?? Infinity;
  const emit = async (b: Buffer): Promise<boolean> => {
    if (b.length === 0) return left > 0;
    const part = b.length > left ? b.subarray(0, left) : b;
    left -= part.length;
    await o.write(part);
    return left > 0;
  };

  // The log as it is now.
  let fd = tryOpen(o.file);
  let pos = 0;
  const history = rotatedFiles(o.file)
    .map((f) => readIfThere(f))
    .join('');
  const live = fd !== undefined ? readAll(fd, 0) : Buffer.alloc(0);
  pos = settledEnd(live);
  const { limitBytes: _limit, ...unlimited } = q;
  const first = renderLogs(parseCriLog(history + live.subarray(0, pos).toString('utf8')), unlimited);
  if (!(await emit(first))) return close(fd);

  let pending: Buffer = Buffer.alloc(0);
  let lastStatus = 0;
  const lines = async (b: Buffer): Promise<boolean> => {
    pending = pending.length ? Buffer.concat([pending, b]) : b;
    let start = 0;
    for (let nl = pending.indexOf(0x0a); nl >= 0; nl = pending.indexOf(0x0a, start)) {
      const line = pending.subarray(start, nl).toString('utf8');
      start = nl + 1;
      const a = line.indexOf(' ');
      const b = line.indexOf(' ', a + 1);
      if (a < 0 || b < 0) continue;
      const c = line.indexOf(' ', b + 1);
      const time = line.slice(0, a);
      const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
      const msg = c < 0 ? '' : line.slice(c + 1);
      if (!sinceKeeps(time, q.sinceMs)) continue;
      const out = `${q.timestamps ? `${time} ` : ''}${msg}${tag.startsWith('P') ? '' : '\n'}`;
      if (!(await emit(Buffer.from(out)))) return false;
    }
    pending = pending.subarray(start);
    return true;
  };
  const drain = async (): Promise<boolean> => {
    if (fd === undefined) return true;
    for (;;) {
      const b = readChunk(fd, pos);
      if (b.length === 0) return true;
      pos += b.length;
      if (!(await lines(b))) return false;
    }
  };

  try {
    while (!o.signal.aborted) {
      if (!(await drain())) return;
      // At the end of what is written: a rotation, or the container's end, or wait.
      const now = inode(o.file);
      if (fd === undefined || (now !== undefined && now !== fstatSync(fd).ino)) {
        if (now !== undefined) {
          if (fd !== undefined) {
            if (!(await drain())) return;
            closeSync(fd);
          }
          fd = tryOpen(o.file);
          pos = 0;
          pending = Buffer.alloc(0);
          continue;
        }
      }
      if (Date.now() - lastStatus >= statusEveryMs) {
        lastStatus = Date.now();
        if (!(await o.running())) {
          await drain();
          return;
        }
      }
      try {
        await sleep(pollMs, undefined, { signal: o.signal });
      } catch {
        return;
      }
    }
  } finally {
    close(fd);
  }
}

function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function close(fd: number | undefined): void {
  if (fd !== undefined) closeSync(fd);
}

function readChunk(fd: number, pos: number): Buffer {
  const b = Buffer.alloc(CHUNK);
  const n = readSync(fd, b, 0, CHUNK, pos);
  return b.subarray(0, n);
}

function readAll(fd: number, from: number): Buffer {
  const parts: Buffer[] = [];
  let pos = from;
  for (let b = readChunk(fd, pos); b.length > 0; b = readChunk(fd, pos)) {
    parts.push(b);
    pos += b.length;
  }
  return Buffer.concat(parts);
}
