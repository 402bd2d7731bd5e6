import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import { checkpointChecksum, decodeCheckpoint, encodeCheckpoint, quarantineCheckpoint, readCheckpoint } from './checkpoint.js';
import { CpuState } from './state.js';

const S = (s: string): CpuSet => CpuSet.parse(s);
const state = (): CpuState =>
  new CpuState('static', S('0-1,6-7'), [
    { podUid: 'uid-b', container: 'app', cpus: S('4-5') },
    { podUid: 'uid-a', container: 'web', cpus: S('3') },
    { podUid: 'uid-a', container: 'db', cpus: S('2,8') },
  ]);

test('checkpoint: the upstream shape plus our version and checksum', () => {
  const doc = JSON.parse(encodeCheckpoint(state())) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc), ['policyName', 'defaultCpuSet', 'entries', 'checksum', 'cocoletVersion', 'cocoletChecksum']);
  assert.equal(doc.policyName, 'static');
  assert.equal(doc.defaultCpuSet, '0-1,6-7');
  assert.deepEqual(doc.entries, { 'uid-a': { db: '2,8', web: '3' }, 'uid-b': { app: '4-5' } });
  assert.equal(doc.checksum, 0);
  assert.equal(doc.cocoletVersion, 1);
  // the documented definition, computed independently
  const canonical = JSON.stringify([1, 'static', '0-1,6-7', [['uid-a', [['db', '2,8'], ['web', '3']]], ['uid-b', [['app', '4-5']]]]]);
  assert.equal(doc.cocoletChecksum, `sha256:${createHash('sha256').update(canonical).digest('hex')}`);
});

test('checkpoint: entries are left out when empty, and the round trip is exact', () => {
  const empty = JSON.parse(encodeCheckpoint(new CpuState('none'))) as Record<string, unknown>;
  assert.equal('entries' in empty, false);
  const back = decodeCheckpoint(encodeCheckpoint(state()));
  assert.equal(back.kind, 'loaded');
  if (back.kind !== 'loaded') return;
  assert.equal(back.writer, 'cocolet');
  assert.equal(encodeCheckpoint(back.state), encodeCheckpoint(state()));
});

test('checkpoint: the checksum does not depend on insertion order', () => {
  const a = state().assignments();
  assert.equal(checkpointChecksum(1, 'static', S('0'), a), checkpointChecksum(1, 'static', S('0'), [...a].reverse()));
  assert.notEqual(checkpointChecksum(1, 'static', S('0'), a), checkpointChecksum(1, 'static', S('1'), a));
});

test('checkpoint: a file written by the upstream kubelet is read (checksum not verifiable)', () => {
  const r = decodeCheckpoint('{"policyName":"static","defaultCpuSet":"0-1,6-7","entries":{"pod":{"c":"2-5"}},"checksum":1234567}');
  assert.equal(r.kind, 'loaded');
  if (r.kind !== 'loaded') return;
  assert.equal(r.writer, 'upstream');
  assert.equal(r.state.getCpuSet('pod', 'c')?.toString(), '2-5');
});

const good = encodeCheckpoint(state());
const corrupt: { name: string; text: string; reason: RegExp; salvage?: boolean }[] = [
  { name: 'truncated', text: good.slice(0, 40), reason: /^not JSON/ },
  { name: 'an array', text: '[]', reason: /not a JSON object/ },
  { name: 'no policy name', text: '{"defaultCpuSet":""}', reason: /"policyName" is missing/ },
  { name: 'a garbled cpuset', text: '{"policyName":"static","defaultCpuSet":"0-"}', reason: /"defaultCpuSet": cpuset "0-": element "0-" is a range without an end/ },
  { name: 'a garbled entry', text: '{"policyName":"static","defaultCpuSet":"0","entries":{"p":{"c":"x"}}}', reason: /entries\["p"\]\["c"\]: cpuset "x"/ },
  { name: 'the v1 format', text: '{"policyName":"static","defaultCpuSet":"0","entries":{"abcdef":"1-2"}}', reason: /v1 format/ },
  { name: 'a future version', text: good.replace('"cocoletVersion":1', '"cocoletVersion":2'), reason: /"cocoletVersion" 2 is not 1/ },
  { name: 'an edited cpuset (checksum mismatch)', text: good.replace('"web":"3"', '"web":"3-4"'), reason: /checksum mismatch: the file says "sha256:[0-9a-f]{64}", its content hashes to "sha256:[0-9a-f]{64}"/, salvage: true },
];
for (const tc of corrupt) {
  test(`checkpoint: ${tc.name} is corrupt, with a reason`, () => {
    const r = decodeCheckpoint(tc.text);
    assert.equal(r.kind, 'corrupt');
    if (r.kind !== 'corrupt') return;
    assert.match(r.reason, tc.reason);
    assert.equal(r.salvage !== undefined, tc.salvage ?? false);
  });
}

test('checkpoint: a missing file, and a bad one set aside with its time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-cpuckpt-'));
  try {
    const path = join(dir, 'cpu_manager_state');
    assert.deepEqual(readCheckpoint(path), { kind: 'missing' });
    writeFileSync(path, 'garbage');
    const when = new Date('2026-12-03T15:04:05.678Z');
    assert.equal(quarantineCheckpoint(path, when), `${path}.corrupt-20261203T150405Z`);
    writeFileSync(path, 'garbage again');
    assert.equal(quarantineCheckpoint(path, when), `${path}.corrupt-20261203T150405Z-1`);
    assert.deepEqual(readdirSync(dir).sort(), ['cpu_manager_state.corrupt-20261203T150405Z', 'cpu_manager_state.corrupt-20261203T150405Z-1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
