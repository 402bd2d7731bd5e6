import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeCpio, readCpio, archivePath, type CpioEntry } from './cpio.js';

const sample: CpioEntry[] = [
  { path: 'bin/sh', kind: 'symlink', target: 'busybox' },
  { path: '/init', kind: 'file', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
  { path: 'bin/busybox', kind: 'file', data: Buffer.from('x'.repeat(5)), mode: 0o755 },
];

const cases: { name: string; run: () => void }[] = [
  {
    name: 'same entries in any order give the same bytes',
    run: () => assert.deepEqual(writeCpio(sample), writeCpio([...sample].reverse())),
  },
  {
    name: 'round trip keeps paths sorted, adds parents, keeps modes and data',
    run: () => {
      const got = readCpio(writeCpio(sample));
      assert.deepEqual(got.map((e) => e.path), ['bin', 'bin/busybox', 'bin/sh', 'init']);
      assert.equal(got[1]!.mode, 0o100755);
      assert.equal(got[2]!.data.toString(), 'busybox');
      assert.equal(got[3]!.data.toString(), '#!/bin/sh\n');
    },
  },
  {
    name: 'archive is 4-byte aligned and ends with the trailer',
    run: () => {
      const b = writeCpio(sample);
      assert.equal(b.length % 4, 0);
      assert.ok(b.includes(Buffer.from('TRAILER!!!\0')));
    },
  },
  {
    name: 'traversal and duplicate paths are refused',
    run: () => {
      assert.throws(() => archivePath('../etc'));
      assert.throws(() => archivePath('a/./b'));
      assert.throws(() => writeCpio([{ path: 'a', kind: 'dir' }, { path: '/a', kind: 'dir' }]));
    },
  },
];

for (const tc of cases) test(tc.name, tc.run);
