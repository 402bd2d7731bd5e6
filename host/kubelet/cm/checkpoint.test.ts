import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, checksumOf, readCheckpoint, setAside, writeCheckpoint } from './checkpoint.js';

const H = { kind: 'TestState', version: 2 };

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-ckpt-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('canonical JSON sorts keys at every level and drops undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: null }], c: undefined } }), '{"a":{"d":[1,{"y":null,"z":0}]},"b":1}');
  assert.equal(checksumOf({ a: 1, b: 2 }), checksumOf({ b: 2, a: 1, checksum: 'ignored' }));
});

test('write then read round-trips, leaving no temp file', () =>
  withDir((dir) => {
    const p = join(dir, 'state');
    writeCheckpoint(p, H, { entries: { x: [1, 2] } });
    assert.deepEqual(readCheckpoint(p, H), { status: 'ok', data: { entries: { x: [1, 2] } } });
    assert.deepEqual(readdirSync(dir), ['state']);
    assert.match(JSON.parse(readFileSync(p, 'utf8')).checksum, /^sha256:[0-9a-f]{64}$/);
  }));

test('absent, not JSON, wrong kind, wrong version and tampered content are told apart', () =>
  withDir((dir) => {
    const p = join(dir, 'state');
    assert.deepEqual(readCheckpoint(p, H), { status: 'absent' });
    writeFileSync(p, '{oops');
    assert.deepEqual(readCheckpoint(p, H), { status: 'invalid', problem: 'not JSON' });
    writeCheckpoint(p, { kind: 'Other', version: 2 }, {});
    assert.match((readCheckpoint(p, H) as { problem: string }).problem, /kind is "Other"/);
    writeCheckpoint(p, { kind: 'TestState', version: 1 }, {});
    assert.match((readCheckpoint(p, H) as { problem: string }).problem, /version is 1, expected 2/);
    writeCheckpoint(p, H, { n: 1 });
    writeFileSync(p, readFileSync(p, 'utf8').replace('"n":1', '"n":2'));
    assert.deepEqual(readCheckpoint(p, H), { status: 'invalid', problem: 'checksum does not match the content' });
  }));

test('setAside keeps the old file under a new name', () =>
  withDir((dir) => {
    const p = join(dir, 'state');
    assert.equal(setAside(p), null);
    writeFileSync(p, 'x');
    assert.equal(setAside(p, 42), `${p}.bad-42`);
    assert.deepEqual(readdirSync(dir), ['state.bad-42']);
  }));
