/**
 * Hostile layers against unpackLayer: each case writes crafted archives with tar-writer.ts and
 * applies them to an image root that has, beside it, another image's rootfs and an outside
 * directory with sentinel files. Nothing outside the root may change (content, owner, mode, link
 * count, times, directory listings); each case fails with its own error (code, entry, reason) or
 * is contained inside the root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoletError, ErrorCode, type ErrorCodeValue } from '../../shared/errors/index.js';
import { unpackLayer, unpackLayerAsync, type UnpackLimits, type UnpackStats } from './tar.js';
import { writeTar, type TarWriteEntry } from './tar-writer.js';
import { plantSentinels, snapshotTree } from './sentinel.js';

const isRoot = process.geteuid?.() === 0;
const LAYER = `sha256:${'ab'.repeat(32)}`;

/** A workspace: `<w>/images/mine/rootfs` (the root), `<w>/images/other/rootfs/etc/secret`, `<w>/outside/{secret,dir/}`. */
interface Space {
  w: string;
  root: string;
  outside: string;
  other: string;
}

function makeSpace(): Space {
  const w = mkdtempSync(join(tmpdir(), 'cocolet-unpack-'));
  const root = join(w, 'images/mine/rootfs');
  const other = join(w, 'images/other/rootfs');
  const outside = join(w, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside);
  plantSentinels(outside);
  plantSentinels(join(other, 'etc'));
  return { w, root, outside, other };
}

const snapshot = (s: Space): Map<string, string> => snapshotTree(s.w, [s.root], { contents: true });

interface Case {
  name: string;
  /** Layers applied in order; a function gets the workspace (for absolute paths). */
  layers: (s: Space) => TarWriteEntry[][];
  limits?: Partial<UnpackLimits>;
  keepSetuid?: boolean;
  /** The last layer fails with this code, naming this entry, with a message matching `reason`. */
  error?: { code: ErrorCodeValue; entry: string; reason: RegExp };
  /** Otherwise: what the root holds afterwards. */
  check?: (s: Space, stats: UnpackStats) => void;
}

const file = (name: string, data: string | Buffer = 'x', more: Partial<TarWriteEntry> = {}): TarWriteEntry => ({ name, data, ...more });
const dir = (name: string, more: Partial<TarWriteEntry> = {}): TarWriteEntry => ({ name, type: '5', ...more });
const symlink = (name: string, linkname: string, more: Partial<TarWriteEntry> = {}): TarWriteEntry => ({ name, type: '2', linkname, ...more });
const hardlink = (name: string, linkname: string, more: Partial<TarWriteEntry> = {}): TarWriteEntry => ({ name, type: '1', linkname, ...more });
const inRoot = (s: Space, rel: string): string => join(s.root, rel);
const read = (s: Space, rel: string): string => readFileSync(inRoot(s, rel), 'utf8');

const cases: Case[] = [
  {
    name: 'hardlink to /etc/passwd resolves inside the root, where it does not exist',
    layers: () => [[hardlink('passwd', '/etc/passwd', { uid: 4242 })]],
    error: { code: ErrorCode.InvalidArgument, entry: 'passwd', reason: /does not exist in the root/ },
  },
  {
    name: 'hardlink through a symlinked parent pointing outside (absolute)',
    layers: (s) => [[symlink('evil', s.outside)], [hardlink('stolen', 'evil/secret', { uid: 0, gid: 0 })]],
    error: { code: ErrorCode.InvalidArgument, entry: 'stolen', reason: /does not exist in the root/ },
  },
  {
    name: 'hardlink through a symlinked parent pointing outside (relative, .. clamped at the root)',
    layers: () => [[symlink('evil', '../../../outside')], [hardlink('stolen', 'evil/secret')]],
    error: { code: ErrorCode.InvalidArgument, entry: 'stolen', reason: /does not exist in the root/ },
  },
  {
    name: 'hardlink through a symlinked parent is contained: it links the root\'s own file',
    layers: () => [[dir('outside'), file('outside/secret', 'inner'), symlink('evil', '../../../outside')], [hardlink('linked', 'evil/secret', { uid: 77 })]],
    check: (s) => {
      assert.equal(read(s, 'linked'), 'inner');
      assert.equal(lstatSync(inRoot(s, 'linked')).ino, lstatSync(inRoot(s, 'outside/secret')).ino);
    },
  },
  {
    name: 'hardlink with a .. target',
    layers: () => [[hardlink('x', '../../../outside/secret')]],
    error: { code: ErrorCode.InvalidArgument, entry: 'x', reason: /".." component/ },
  },
  {
    name: 'hardlink to a symlink is refused (targets must be regular files)',
    layers: (s) => [[symlink('s', join(s.outside, 'secret')), hardlink('h', 's')]],
    error: { code: ErrorCode.InvalidArgument, entry: 'h', reason: /not a regular file/ },
  },
  {
    name: 'hardlink to a directory is refused',
    layers: () => [[dir('d'), hardlink('h', 'd')]],
    error: { code: ErrorCode.InvalidArgument, entry: 'h', reason: /not a regular file/ },
  },
  {
    name: 'a file written through a symlinked parent lands inside the root',
    layers: (s) => [[symlink('evil', s.outside)], [file('evil/secret', 'pwned', { uid: 4242, mode: 0o777 })]],
    check: (s) => {
      assert.equal(readFileSync(join(s.root, s.outside, 'secret'), 'utf8'), 'pwned');
      assert.equal(lstatSync(inRoot(s, 'evil')).isSymbolicLink(), true);
    },
  },
  {
    name: 'a symlink to another image\'s rootfs does not reach it',
    layers: () => [[symlink('etc', '../../other/rootfs/etc'), file('etc/secret', 'pwned')]],
    check: (s) => assert.equal(read(s, 'other/rootfs/etc/secret'), 'pwned'),
  },
  {
    name: 'symlink chains and .. inside targets stay inside the root',
    layers: (s) => [[symlink('a', 'b/../../..'), symlink('b', `${s.w}/c`), file('a/outside/secret', 'pwned')]],
    check: (s) => assert.equal(read(s, 'outside/secret'), 'pwned'),
  },
  {
    name: 'a symlink loop is bounded',
    layers: () => [[symlink('a', 'b'), symlink('b', 'a'), file('a/x')]],
    error: { code: ErrorCode.ResourceExhausted, entry: 'a/x', reason: /maxSymlinkHops/ },
  },
  {
    name: '../ escape in a file name',
    layers: () => [[file('../../../outside/secret', 'pwned')]],
    error: { code: ErrorCode.InvalidArgument, entry: '../../../outside/secret', reason: /".." component/ },
  },
  {
    name: '.. in the middle of a name',
    layers: () => [[dir('a'), file('a/../../x', 'pwned')]],
    error: { code: ErrorCode.InvalidArgument, entry: 'a/../../x', reason: /".." component/ },
  },
  {
    name: '.. in a PAX path',
    layers: () => [[file('innocent', 'pwned', { pax: { path: '../../../outside/secret' } })]],
    error: { code: ErrorCode.InvalidArgument, entry: '../../../outside/secret', reason: /".." component/ },
  },
  {
    name: 'absolute paths are taken relative to the root',
    layers: (s) => [[file(join(s.outside, 'secret'), 'pwned'), file('/etc/passwd', 'root::0:0::/:/bin/sh\n')]],
    check: (s) => {
      assert.equal(readFileSync(join(s.root, s.outside, 'secret'), 'utf8'), 'pwned');
      assert.match(read(s, 'etc/passwd'), /^root::/);
    },
  },
  {
    name: 'whiteout of ..',
    layers: () => [[file('.wh...')]],
    error: { code: ErrorCode.InvalidArgument, entry: '.wh...', reason: /whiteout of an invalid name/ },
  },
  {
    name: 'whiteout of ../x',
    layers: () => [[file('../.wh.outside')]],
    error: { code: ErrorCode.InvalidArgument, entry: '../.wh.outside', reason: /".." component/ },
  },
  {
    name: 'whiteout through a symlinked parent removes nothing outside',
    layers: (s) => [[symlink('evil', s.outside)], [file('evil/.wh.secret'), file('evil/.wh.dir')]],
    check: (s) => assert.equal(lstatSync(inRoot(s, 'evil')).isSymbolicLink(), true),
  },
  {
    name: 'whiteout of a symlink to outside removes the link only',
    layers: (s) => [[symlink('evil', s.outside)], [file('.wh.evil')]],
    check: (s) => assert.equal(existsSync(inRoot(s, 'evil')), false),
  },
  {
    name: 'opaque whiteout through a symlinked parent clears nothing outside',
    layers: (s) => [[symlink('evil', s.outside)], [file('evil/.wh..wh..opq')]],
    check: (s) => assert.equal(lstatSync(join(s.root, s.outside)).isDirectory(), true),
  },
  {
    name: 'opaque whiteout hides the lower layer and keeps this layer\'s entries (marker in any order)',
    layers: () => [
      [dir('d'), file('d/lower'), dir('d/sub'), file('d/sub/lower'), dir('e'), file('e/lower')],
      [dir('d'), file('d/new', 'n'), dir('d/sub'), file('d/sub/new'), file('d/.wh..wh..opq'), file('e/.wh..wh..opq'), dir('e/again')],
    ],
    check: (s) => {
      assert.deepEqual(readdirSync(inRoot(s, 'd')).sort(), ['new', 'sub']);
      assert.deepEqual(readdirSync(inRoot(s, 'd/sub')), ['new']);
      assert.deepEqual(readdirSync(inRoot(s, 'e')), ['again']);
    },
  },
  {
    name: 'a whiteout does not hide what its own layer created',
    layers: () => [[file('a', 'lower')], [file('a', 'upper'), file('.wh.a'), file('.wh.b')]],
    check: (s) => assert.equal(read(s, 'a'), 'upper'),
  },
  {
    name: 'character device refused',
    layers: () => [[{ name: 'dev/mem', type: '3' }]],
    error: { code: ErrorCode.InvalidArgument, entry: 'dev/mem', reason: /char device entries are not allowed/ },
  },
  {
    name: 'block device refused',
    layers: () => [[{ name: 'dev/sda', type: '4' }]],
    error: { code: ErrorCode.InvalidArgument, entry: 'dev/sda', reason: /block device entries are not allowed/ },
  },
  {
    name: 'fifo refused',
    layers: () => [[{ name: 'run/pipe', type: '6' }]],
    error: { code: ErrorCode.InvalidArgument, entry: 'run/pipe', reason: /fifo entries are not allowed/ },
  },
  {
    name: 'unknown entry types refused (GNU sparse)',
    layers: () => [[{ name: 'sparse', type: 'S' }]],
    error: { code: ErrorCode.InvalidArgument, entry: 'sparse', reason: /unsupported tar entry type "S"/ },
  },
  {
    name: 'setuid and setgid cleared by default (directories keep setgid)',
    layers: () => [[file('bin/su', 'x', { mode: 0o6755 }), dir('shared', { mode: 0o2775 })]],
    check: (s, st) => {
      assert.equal(lstatSync(inRoot(s, 'bin/su')).mode & 0o7777, 0o755);
      assert.equal(lstatSync(inRoot(s, 'shared')).mode & 0o7777, 0o2775);
      assert.equal(st.setuidCleared, 1);
    },
  },
  {
    name: 'setuid kept with keepSetuid (chown before chmod, so it survives)',
    keepSetuid: true,
    layers: () => [[file('bin/su', 'x', { mode: 0o4755, uid: 0, gid: 0 })]],
    check: (s, st) => {
      assert.equal(lstatSync(inRoot(s, 'bin/su')).mode & 0o7777, 0o4755);
      assert.equal(st.setuidCleared, 0);
    },
  },
  {
    name: 'huge entry count',
    limits: { maxEntries: 100 },
    layers: () => [Array.from({ length: 101 }, (_, i) => file(`f${i}`))],
    error: { code: ErrorCode.ResourceExhausted, entry: 'f100', reason: /maxEntries \(100\)/ },
  },
  {
    name: 'long path (PAX) over maxPathBytes',
    layers: () => [[file(`${'d/'.repeat(2100)}f`)]],
    error: { code: ErrorCode.ResourceExhausted, entry: `${'d/'.repeat(2100)}f`, reason: /maxPathBytes \(4096\)/ },
  },
  {
    name: 'long symlink target over maxPathBytes',
    layers: () => [[symlink('s', 'x'.repeat(5000))]],
    error: { code: ErrorCode.ResourceExhausted, entry: 's', reason: /maxPathBytes/ },
  },
  {
    name: 'a component longer than NAME_MAX fails cleanly',
    layers: () => [[file('n'.repeat(300))]],
    error: { code: ErrorCode.InvalidArgument, entry: 'n'.repeat(300), reason: /ENAMETOOLONG/ },
  },
  {
    name: 'one entry over maxEntryBytes',
    limits: { maxEntryBytes: 1024 },
    layers: () => [[file('big', Buffer.alloc(2048))]],
    error: { code: ErrorCode.ResourceExhausted, entry: 'big', reason: /maxEntryBytes \(1024\)/ },
  },
  {
    name: 'size bomb: files together over maxTotalBytes',
    limits: { maxTotalBytes: 10_000 },
    layers: () => [Array.from({ length: 5 }, (_, i) => file(`f${i}`, Buffer.alloc(3000)))],
    error: { code: ErrorCode.ResourceExhausted, entry: 'f3', reason: /maxTotalBytes \(10000\)/ },
  },
  {
    name: 'a declared size beyond the archive',
    layers: () => [[file('liar', 'x', { declaredSize: 1024 * 1024 * 1024 })]],
    error: { code: ErrorCode.InvalidArgument, entry: 'header at offset 0', reason: /truncated/ },
  },
  {
    name: 'a directory mode is not applied through a later symlink in its place',
    layers: (s) => [[dir('d', { mode: 0o777 }), symlink('d', join(s.outside, 'dir'))]],
    check: (s) => assert.equal(lstatSync(inRoot(s, 'd')).isSymbolicLink(), true),
  },
  {
    name: 'a directory entry replaces a symlink to outside',
    layers: (s) => [[symlink('d', join(s.outside, 'dir'))], [dir('d', { mode: 0o700, uid: 99 }), file('d/f')]],
    check: (s) => assert.equal(lstatSync(inRoot(s, 'd')).isDirectory(), true),
  },
  {
    name: 'a file replaces a symlink to an outside file, never writing through it',
    layers: (s) => [[symlink('s', join(s.outside, 'secret'))], [file('s', 'pwned', { mode: 0o777, uid: 4242 })]],
    check: (s) => assert.equal(read(s, 's'), 'pwned'),
  },
  {
    name: 'a file replaces a hardlink without writing into the shared inode',
    layers: () => [[file('f', 'original'), hardlink('h', 'f')], [file('h', 'changed')]],
    check: (s) => {
      assert.equal(read(s, 'f'), 'original');
      assert.equal(read(s, 'h'), 'changed');
    },
  },
  {
    name: 'a symlink entry\'s owner applies to the link, not its target',
    layers: (s) => [[symlink('s', join(s.outside, 'secret'), { uid: 4242, gid: 4242 })]],
    check: (s) => {
      if (isRoot) assert.equal(lstatSync(inRoot(s, 's')).uid, 4242);
    },
  },
  {
    name: 'a file where a parent should be',
    layers: () => [[file('f'), file('f/x')]],
    error: { code: ErrorCode.InvalidArgument, entry: 'f/x', reason: /parent "f" is not a directory/ },
  },
  {
    name: 'GNU sparse PAX records refused',
    layers: () => [[file('s', 'x', { pax: { 'GNU.sparse.major': '1' } })]],
    error: { code: ErrorCode.InvalidArgument, entry: 'header at offset 0', reason: /sparse/ },
  },
  {
    name: 'a non-directory entry naming the root',
    layers: () => [[file('./.')]],
    error: { code: ErrorCode.InvalidArgument, entry: './.', reason: /names the root/ },
  },
];

for (const tc of cases) {
  test(`unpack: ${tc.name}`, () => {
    const s = makeSpace();
    try {
      const before = snapshot(s);
      const layers = tc.layers(s).map((l) => writeTar(l));
      let stats: UnpackStats | undefined;
      let failure: unknown;
      for (const [i, l] of layers.entries()) {
        try {
          stats = unpackLayer(l, s.root, { layer: LAYER, keepSetuid: tc.keepSetuid ?? false, ...(tc.limits ? { limits: tc.limits } : {}) });
        } catch (e) {
          assert.equal(i, layers.length - 1, `only the last layer may fail: ${String(e)}`);
          failure = e;
        }
      }
      assert.deepEqual(snapshot(s), before, 'nothing outside the root changed');
      if (tc.error) {
        assert.ok(failure instanceof CocoletError, `fails with a CocoletError, got ${String(failure)}`);
        assert.equal(failure.code, tc.error.code, failure.message);
        assert.equal(failure.context.layer, LAYER);
        assert.equal(failure.context.entry, tc.error.entry.slice(0, 256));
        assert.match(failure.message, tc.error.reason);
        assert.ok(failure.message.startsWith(`image layer ${LAYER}: entry `), failure.message);
      } else {
        assert.equal(failure, undefined, `succeeds: ${String(failure)}`);
        tc.check?.(s, stats!);
      }
    } finally {
      rmSync(s.w, { recursive: true, force: true });
    }
  });
}

test('unpack: owners, modes and times are applied (as root)', { skip: !isRoot && 'needs root (chown)' }, () => {
  const s = makeSpace();
  try {
    unpackLayer(writeTar([dir('d', { mode: 0o510, uid: 5, gid: 6, mtime: 1_000_000 }), file('d/f', 'x', { mode: 0o640, uid: 7, gid: 8, mtime: 2_000_000 }), symlink('d/l', 'f', { uid: 9, gid: 10 })]), s.root);
    const d = lstatSync(inRoot(s, 'd'));
    const f = lstatSync(inRoot(s, 'd/f'));
    assert.deepEqual([d.mode & 0o7777, d.uid, d.gid, d.mtimeMs], [0o510, 5, 6, 1_000_000_000]);
    assert.deepEqual([f.mode & 0o7777, f.uid, f.gid, f.mtimeMs], [0o640, 7, 8, 2_000_000_000]);
    assert.deepEqual([lstatSync(inRoot(s, 'd/l')).uid, lstatSync(inRoot(s, 'd/l')).gid], [9, 10]);
  } finally {
    rmSync(s.w, { recursive: true, force: true });
  }
});

test('unpack: merged-/usr images write through /lib -> usr/lib', () => {
  const s = makeSpace();
  try {
    unpackLayer(writeTar([dir('usr/lib'), symlink('lib', 'usr/lib'), symlink('bin', '/usr/bin'), dir('usr/bin')]), s.root);
    unpackLayer(writeTar([dir('lib/x86_64-linux-gnu'), file('lib/x86_64-linux-gnu/libc.so.6', 'elf'), file('bin/sh', 'sh', { mode: 0o755 })]), s.root);
    assert.equal(read(s, 'usr/lib/x86_64-linux-gnu/libc.so.6'), 'elf');
    assert.equal(read(s, 'usr/bin/sh'), 'sh');
    assert.equal(lstatSync(inRoot(s, 'lib')).isSymbolicLink(), true);
  } finally {
    rmSync(s.w, { recursive: true, force: true });
  }
});

test('unpack: the root must be a real directory', () => {
  const s = makeSpace();
  try {
    symlinkSync(s.outside, join(s.w, 'link'));
    assert.throws(() => unpackLayer(writeTar([file('x')]), join(s.w, 'link')), (e: CocoletError) => e.code === ErrorCode.FailedPrecondition);
    assert.equal(existsSync(join(s.outside, 'x')), false);
  } finally {
    rmSync(s.w, { recursive: true, force: true });
  }
});

test('unpack: unpackLayerAsync lets the event loop run between entries, applies the same tree and fails the same way', async () => {
  const s = makeSpace();
  try {
    const entries: TarWriteEntry[] = [dir('d')];
    for (let i = 0; i < 1000; i++) entries.push(file(`d/f${i}`, `content ${i}`, { mode: 0o640 }));
    const tar = writeTar(entries);
    let ticks = 0;
    let running = true;
    const tick = (): void => {
      if (!running) return;
      ticks++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const st = await unpackLayerAsync(tar, s.root, { layer: LAYER, yieldEvery: 100 });
    running = false;
    assert.equal(st.entries, 1001);
    assert.ok(ticks >= 5, `the event loop ran while unpacking (${ticks} turns)`);
    const sync = join(s.w, 'sync');
    mkdirSync(sync);
    unpackLayer(tar, sync);
    assert.deepEqual(readdirSync(join(s.root, 'd')).sort(), readdirSync(join(sync, 'd')).sort());
    assert.equal(read(s, 'd/f999'), 'content 999');
    const bad = writeTar([...entries.slice(0, 500), { name: 'd/fifo', type: '6' }]);
    await assert.rejects(unpackLayerAsync(bad, join(s.w, 'sync'), { layer: LAYER, yieldEvery: 7 }), (e: CocoletError) => e.code === ErrorCode.InvalidArgument && e.context.entry === 'd/fifo' && e.context.layer === LAYER);
  } finally {
    rmSync(s.w, { recursive: true, force: true });
  }
});
