import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCriLog, readContainerLog, rotateIfNeeded, rotatedFiles } from './crilog.js';

test('CRI log lines parse; partial lines are joined per stream', () => {
  const text = [
    '2026-01-01T00:00:00.000000001Z stdout F hello world',
    '2026-01-01T00:00:01Z stderr P par',
    '2026-01-01T00:00:02Z stderr F tial',
    '2026-01-01T00:00:03Z stdout F ',
  ].join('\n');
  assert.deepEqual(parseCriLog(text), [
    { time: '2026-01-01T00:00:00.000000001Z', stream: 'stdout', text: 'hello world' },
    { time: '2026-01-01T00:00:01Z', stream: 'stderr', text: 'partial' },
    { time: '2026-01-01T00:00:03Z', stream: 'stdout', text: '' },
  ]);
});

test('rotation renames, reopens, keeps maxFiles-1 rotated files, and reads across them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-log-'));
  const path = join(dir, '0.log');
  let reopened = 0;
  try {
    for (let i = 0; i < 5; i++) {
      writeFileSync(path, `2026-01-01T00:00:0${i}Z stdout F line ${i}\n`.repeat(10));
      const rotated = await rotateIfNeeded({ path, maxBytes: 100, maxFiles: 3, reopen: () => Promise.resolve(void reopened++), now: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) });
      assert.equal(rotated, true);
    }
    assert.equal(reopened, 5);
    assert.equal(rotatedFiles(path).length, 2);
    writeFileSync(path, '2026-01-01T00:01:00Z stdout F live\n');
    assert.equal(await rotateIfNeeded({ path, maxBytes: 1000, maxFiles: 3, reopen: () => Promise.resolve() }), false);
    const all = readContainerLog(path, { withRotated: true });
    assert.equal(all.at(-1)!.text, 'live');
    assert.equal(all[0]!.text, 'line 3');
    assert.equal(readContainerLog(path, { tail: 1 })[0]!.text, 'live');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed reopen puts the file back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-log-'));
  const path = join(dir, '0.log');
  try {
    writeFileSync(path, 'x'.repeat(200));
    await assert.rejects(rotateIfNeeded({ path, maxBytes: 100, maxFiles: 3, reopen: () => Promise.reject(new Error('no')) }));
    assert.ok(existsSync(path));
    assert.equal(readFileSync(path, 'utf8').length, 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
