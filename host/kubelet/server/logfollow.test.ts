import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLogQuery } from './endpoints.js';
import { followLog } from './logfollow.js';

const dir = mkdtempSync(join(tmpdir(), 'ccl-follow-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const line = (sec: number, text: string, tag = 'F'): string => `2026-01-01T00:00:${String(sec).padStart(2, '0')}.000000001Z stdout ${tag} ${text}\n`;

/** Runs followLog on a file, with a test-controlled "running" flag; the output so far and a way to wait for text. */
function follow(file: string, query: string) {
  let out = '';
  let running = true;
  const waiters: (() => void)[] = [];
  const stop = new AbortController();
  const done = followLog({
    file,
    query: parseLogQuery(new URLSearchParams(query)),
    running: async () => running,
    write: async (b) => {
      out += b.toString();
      for (const w of waiters.splice(0)) w();
    },
    signal: stop.signal,
    pollMs: 5,
    statusEveryMs: 5,
  });
  return {
    get out() {
      return out;
    },
    /** Resolves once the output includes text (each write wakes it). */
    sees(text: string): Promise<void> {
      return new Promise((r) => {
        const check = (): void => (out.includes(text) ? r() : void waiters.push(check));
        check();
      });
    },
    exit() {
      running = false;
    },
    stop,
    done,
  };
}

test('follow: the log so far (rotated file first, tail applied), then appended lines, through a rotation, until the container stops', async () => {
  const file = join(dir, '0.log');
  writeFileSync(`${file}.20260101-000000.000`, line(0, 'old-1') + line(1, 'old-2'));
  writeFileSync(file, line(2, 'now-1') + line(3, 'now-2') + line(4, 'half-', 'P'));
  const f = follow(file, 'tailLines=2');
  await f.sees('now-2\n');
  assert.equal(f.out, 'now-1\nnow-2\n', 'the tail of the log so far; a partial line waits for its end');
  appendFileSync(file, line(5, 'done'));
  await f.sees('half-done\n');
  // Rotation as the kubelet does it: the live file renamed; lines still written to the old one are
  // read, then the runtime's new file from its start.
  renameSync(file, `${file}.20260101-000010.000`);
  appendFileSync(`${file}.20260101-000010.000`, line(6, 'late-in-old'));
  writeFileSync(file, line(7, 'new-file-1'));
  await f.sees('new-file-1\n');
  appendFileSync(file, line(8, 'new-file-2'));
  await f.sees('new-file-2\n');
  appendFileSync(file, line(9, 'last'));
  f.exit();
  await f.done;
  assert.equal(f.out, 'now-1\nnow-2\nhalf-done\nlate-in-old\nnew-file-1\nnew-file-2\nlast\n');
});

test('follow: timestamps, sinceTime on both parts, limitBytes over the whole answer; a stopped container ends at once', async () => {
  const file = join(dir, '1.log');
  writeFileSync(file, line(1, 'before') + line(3, 'after'));
  const f = follow(file, 'timestamps=true&sinceTime=2026-01-01T00:00:02Z&limitBytes=80');
  await f.sees('after\n');
  appendFileSync(file, line(1, 'late-but-old') + line(4, 'x'.repeat(100)));
  await f.done; // the byte limit ends it while the container still runs
  const whole = `2026-01-01T00:00:03.000000001Z after\n2026-01-01T00:00:04.000000001Z ${'x'.repeat(100)}\n`;
  assert.equal(f.out, whole.slice(0, 80), 'the old line is skipped, the answer cut at 80 bytes');

  const g = follow(file, '');
  g.exit();
  await g.done;
  assert.equal(g.out, `before\nafter\nlate-but-old\n${'x'.repeat(100)}\n`);
});

test('follow: a client that goes away ends it; a file not yet created is waited for', async () => {
  const file = join(dir, '2.log');
  const f = follow(file, '');
  writeFileSync(file, line(1, 'appeared'));
  await f.sees('appeared\n');
  f.stop.abort();
  await f.done;
  assert.equal(f.out, 'appeared\n');
});
