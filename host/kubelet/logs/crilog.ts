/**
 * CRI container log files (`<RFC3339Nano> <stdout|stderr> <P|F> <text>` per line, P = partial)
 * as containerd writes them, and the kubelet's size-based rotation
 * (kl/logs/container_log_manager.go: containerLogMaxSize 10Mi, containerLogMaxFiles 5).
 *
 * API: `parseCriLog(text)` → entries with partial lines joined; `readContainerLog(path, { tail })`;
 * `rotateIfNeeded({ path, maxBytes, maxFiles, reopen, now })` renames the live file to
 * `<path>.<timestamp>` (the kubelet's naming), asks the runtime to reopen it, and deletes the
 * oldest rotated files beyond `maxFiles - 1`.
 */
import { existsSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface LogEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

export function parseCriLog(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  let partial: { time: string; stream: LogEntry['stream']; text: string } | undefined;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    const c = line.indexOf(' ', b + 1);
    if (a < 0 || b < 0) continue;
    const time = line.slice(0, a);
    const stream = line.slice(a + 1, b) as LogEntry['stream'];
    const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
    const msg = c < 0 ? '' : line.slice(c + 1);
    if (tag.startsWith('P')) {
      partial = partial && partial.stream === stream ? { ...partial, text: partial.text + msg } : { time, stream, text: msg };
      continue;
    }
    if (partial && partial.stream === stream) {
      out.push({ time: partial.time, stream, text: partial.text + msg });
      partial = undefined;
    } else out.push({ time, stream, text: msg });
  }
  if (partial) out.push(partial);
  return out;
}

/** Rotated siblings of a log file, oldest first. */
export function rotatedFiles(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.startsWith(`${base}.`) && !n.endsWith('.tmp'))
    .sort()
    .map((n) => join(dir, n));
}

export function readContainerLog(path: string, o: { tail?: number; withRotated?: boolean } = {}): LogEntry[] {
  const files = [...(o.withRotated ? rotatedFiles(path) : []), path].filter((p) => existsSync(p));
  const entries = files.flatMap((f) => parseCriLog(readFileSync(f, 'utf8')));
  return o.tail !== undefined ? entries.slice(-o.tail) : entries;
}

export interface RotateOptions {
  path: string;
  maxBytes: number;
  maxFiles: number;
  reopen: () => Promise<void>;
  now?: Date;
}

/** `20260124-063000` style suffix (the kubelet uses a compact UTC timestamp). */
function stamp(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
}

/** Returns true when the file was rotated. */
export async function rotateIfNeeded(o: RotateOptions): Promise<boolean> {
  let size: number;
  try {
    size = statSync(o.path).size;
  } catch {
    return false;
  }
  if (size < o.maxBytes) return false;
  const old = rotatedFiles(o.path);
  for (const f of old.slice(0, Math.max(0, old.length - (o.maxFiles - 2)))) unlinkSync(f);
  renameSync(o.path, `${o.path}.${stamp(o.now ?? new Date())}`);
  try {
    await o.reopen();
  } catch (e) {
    // The runtime could not reopen: put the file back so nothing is lost.
    const rotated = rotatedFiles(o.path).pop();
    if (rotated && !existsSync(o.path)) renameSync(rotated, o.path);
    throw e;
  }
  return true;
}
