import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, CocoletError } from '../../../../shared/errors/errors.js';
import { Rng } from '../../../../shared/testing/rng.js';
import { checksumOf, parseCheckpoint, readCheckpoint, writeCheckpoint, type CheckpointData } from './checkpoint.js';

const data: CheckpointData = {
  PodDeviceEntries: [{ PodUID: 'u1', ContainerName: 'c', ResourceName: 'example.com/widget', DeviceIDs: { '0': ['widget-0'], '-1': ['widget-9'] }, AllocResp: 'CgQKAUEQAQ==' }],
  RegisteredDevices: { 'example.com/widget': ['widget-0', 'widget-1'] },
};

test('checkpoint: written in the upstream shape and read back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-ckpt-'));
  try {
    const p = join(dir, 'kubelet_internal_checkpoint');
    writeCheckpoint(p, data);
    const doc = JSON.parse(readFileSync(p, 'utf8'));
    assert.deepEqual(Object.keys(doc), ['Data', 'Checksum']);
    assert.deepEqual(Object.keys(doc.Data), ['PodDeviceEntries', 'RegisteredDevices']);
    assert.equal(doc.Checksum, checksumOf(data));
    assert.deepEqual(readCheckpoint(p), data);
    assert.equal(readCheckpoint(join(dir, 'absent')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const bad: { name: string; text: string; why: RegExp }[] = [
  { name: 'truncated JSON', text: '{"Data":{"PodDeviceEntries":[', why: /not JSON/ },
  { name: 'no Data', text: '{"Checksum":1}', why: /no "Data"/ },
  { name: 'no checksum', text: JSON.stringify({ Data: data }), why: /Checksum/ },
  { name: 'checksum mismatch', text: JSON.stringify({ Data: data, Checksum: checksumOf(data) + 1 }), why: /does not match/ },
  { name: 'entry without AllocResp', text: JSON.stringify({ Data: { PodDeviceEntries: [{ PodUID: 'u', ContainerName: 'c', ResourceName: 'r', DeviceIDs: {} }], RegisteredDevices: {} }, Checksum: 0 }), why: /PodDeviceEntries\[0\]/ },
  { name: 'bad NUMA key', text: JSON.stringify({ Data: { PodDeviceEntries: [{ ...data.PodDeviceEntries[0], DeviceIDs: { x: ['a'] } }], RegisteredDevices: {} }, Checksum: 0 }), why: /PodDeviceEntries\[0\]/ },
];
for (const tc of bad) {
  test(`checkpoint refused: ${tc.name}`, () => {
    assert.throws(
      () => parseCheckpoint('/x/kubelet_internal_checkpoint', tc.text),
      (e: unknown) => e instanceof CocoletError && e.code === ErrorCode.CheckpointCorrupt && tc.why.test(e.message) && e.message.includes('/x/kubelet_internal_checkpoint'),
    );
  });
}

test('checkpoint: checksum 0 (another writer) is accepted', () => {
  assert.deepEqual(parseCheckpoint('p', JSON.stringify({ Data: data, Checksum: 0 })), data);
});

test('checkpoint: a file from the upstream kubelet (Go checksum, no entries) is refused only for its checksum', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-ckpt-'));
  try {
    const p = join(dir, 'c');
    writeFileSync(p, '{"Data":{"PodDeviceEntries":null,"RegisteredDevices":{}},"Checksum":2955065547}');
    assert.throws(() => readCheckpoint(p), /checksum 2955065547 does not match/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkpoint: 2,000 random corruptions either parse or are refused as CheckpointCorrupt, never anything else', () => {
  const rng = new Rng(0xdecade);
  const good = Buffer.from(JSON.stringify({ Data: data, Checksum: 0 }));
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(good);
    const edits = 1 + rng.below(4);
    for (let k = 0; k < edits; k++) b[rng.below(b.length)] = rng.below(256);
    const text = rng.below(5) === 0 ? b.subarray(0, rng.below(b.length)).toString('latin1') : b.toString('latin1');
    try {
      const d = parseCheckpoint('p', text);
      assert.ok(Array.isArray(d.PodDeviceEntries), `seed step ${i}`);
    } catch (e) {
      assert.ok(e instanceof CocoletError && e.code === ErrorCode.CheckpointCorrupt, `step ${i}: ${(e as Error).message}`);
    }
  }
});
