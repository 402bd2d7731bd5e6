import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, existsSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReference } from './reference.js';
import { unpackLayer } from './tar.js';

const refs: { name: string; ref: string; want?: object; bad?: boolean }[] = [
  { name: 'docker hub short name', ref: 'busybox', want: { registry: 'registry-1.docker.io', repository: 'library/busybox', tag: 'latest', digest: undefined } },
  { name: 'registry with port and tag', ref: '10.0.2.2:5000/cocolet/busybox:1', want: { registry: '10.0.2.2:5000', repository: 'cocolet/busybox', tag: '1', digest: undefined } },
  { name: 'digest only', ref: `quay.io/a/b@sha256:${'c'.repeat(64)}`, want: { registry: 'quay.io', repository: 'a/b', tag: undefined, digest: `sha256:${'c'.repeat(64)}` } },
  { name: 'upper case repository', ref: 'UPPER/x', bad: true },
  { name: 'traversal in repository', ref: 'reg.io/../x', bad: true },
  { name: 'short digest', ref: 'reg.io/x@sha256:abc', bad: true },
];
for (const tc of refs) {
  test(`reference: ${tc.name}`, () => {
    if (tc.bad) assert.throws(() => parseReference(tc.ref));
    else assert.deepEqual(parseReference(tc.ref), tc.want);
  });
}

function tarOf(dir: string, ...extra: string[]): Buffer {
  return execFileSync('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '-cf', '-', ...extra, '.']);
}

for (const format of ['gnu', 'posix']) {
  test(`layers written by GNU tar --format=${format} unpack with files, symlinks, hardlinks, long names and whiteouts`, () => {
    const w = mkdtempSync(join(tmpdir(), 'cocolet-tar-'));
    try {
      const l1 = join(w, 'l1');
      mkdirSync(join(l1, 'bin'), { recursive: true });
      mkdirSync(join(l1, 'etc/conf.d'), { recursive: true });
      writeFileSync(join(l1, 'bin/tool'), 'x'.repeat(300), { mode: 0o755 });
      symlinkSync('tool', join(l1, 'bin/alias'));
      execFileSync('ln', [join(l1, 'bin/tool'), join(l1, 'bin/hard')]);
      writeFileSync(join(l1, 'etc/gone'), 'bye');
      writeFileSync(join(l1, 'etc/conf.d/a'), 'a');
      const long = 'd'.repeat(120);
      mkdirSync(join(l1, long), { recursive: true });
      writeFileSync(join(l1, long, 'f'.repeat(110)), 'long');
      symlinkSync(`${long}/${'f'.repeat(110)}`, join(l1, 'longlink'));
      const l2 = join(w, 'l2');
      mkdirSync(join(l2, 'etc/conf.d'), { recursive: true });
      writeFileSync(join(l2, 'etc/.wh.gone'), '');
      writeFileSync(join(l2, 'etc/conf.d/.wh..wh..opq'), '');
      writeFileSync(join(l2, 'etc/conf.d/b'), 'b');
      const root = join(w, 'root');
      mkdirSync(root);
      unpackLayer(tarOf(l1, `--format=${format}`), root);
      unpackLayer(tarOf(l2, `--format=${format}`), root);
      assert.equal(readFileSync(join(root, 'bin/tool'), 'utf8').length, 300);
      assert.equal(lstatSync(join(root, 'bin/tool')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(join(root, 'bin/alias')), 'tool');
      assert.equal(lstatSync(join(root, 'bin/hard')).ino, lstatSync(join(root, 'bin/tool')).ino);
      assert.equal(existsSync(join(root, 'etc/gone')), false);
      assert.equal(existsSync(join(root, 'etc/conf.d/a')), false);
      assert.equal(readFileSync(join(root, 'etc/conf.d/b'), 'utf8'), 'b');
      assert.equal(readFileSync(join(root, long, 'f'.repeat(110)), 'utf8'), 'long');
      assert.equal(readFileSync(join(root, 'longlink'), 'utf8'), 'long');
    } finally {
      rmSync(w, { recursive: true, force: true });
    }
  });
}

test('a layer written by GNU tar writes through a symlink to /tmp inside the root only', () => {
  const w = mkdtempSync(join(tmpdir(), 'cocolet-tar-'));
  const marker = `cocolet-pwned-${process.pid}`;
  try {
    const l = join(w, 'l');
    mkdirSync(l);
    symlinkSync('/tmp', join(l, 'escape'));
    const root = join(w, 'root');
    mkdirSync(root);
    unpackLayer(tarOf(l), root);
    const l2 = join(w, 'l2');
    mkdirSync(join(l2, 'escape'), { recursive: true });
    writeFileSync(join(l2, 'escape', marker), 'x');
    // only the file entry, no directory entry replacing the symlink first: resolved inside the root
    unpackLayer(execFileSync('tar', ['-C', l2, '-cf', '-', `./escape/${marker}`]), root);
    assert.equal(existsSync(join('/tmp', marker)), false);
    assert.equal(readFileSync(join(root, 'tmp', marker), 'utf8'), 'x');
    // a directory entry replaces the symlink (tar semantics); the file then lands inside the root
    unpackLayer(tarOf(l2), root);
    assert.equal(lstatSync(join(root, 'escape')).isDirectory(), true);
    assert.equal(readFileSync(join(root, 'escape', marker), 'utf8'), 'x');
    assert.equal(existsSync(join('/tmp', marker)), false);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('a corrupted header is refused', () => {
  const w = mkdtempSync(join(tmpdir(), 'cocolet-tar-'));
  try {
    mkdirSync(join(w, 'l'));
    writeFileSync(join(w, 'l/f'), 'x');
    const t = tarOf(join(w, 'l'));
    t[0] = t[0]! ^ 0xff;
    assert.throws(() => unpackLayer(t, w), /checksum/);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});

test('a real tree (this repository\'s shared/, plus links) unpacks the same as with GNU tar -x', () => {
  const w = mkdtempSync(join(tmpdir(), 'cocolet-tar-'));
  try {
    const src = join(w, 'src');
    execFileSync('cp', ['-a', join(process.env.COCOLET_ROOT ?? process.cwd(), 'shared'), src]);
    symlinkSync('errors/errors.ts', join(src, 'alias'));
    symlinkSync('/etc/passwd', join(src, 'abs'));
    execFileSync('ln', [join(src, 'errors/errors.ts'), join(src, 'hard')]);
    const tar = execFileSync('tar', ['-C', src, '--format=posix', '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    const ours = join(w, 'ours');
    const peer = join(w, 'peer');
    mkdirSync(ours);
    mkdirSync(peer);
    const st = unpackLayer(tar, ours);
    execFileSync('tar', ['-C', peer, '--numeric-owner', '-xf', '-'], { input: tar, maxBuffer: 1 << 20 });
    const tree = (root: string): string[] => {
      const out: string[] = [];
      const walk = (rel: string): void => {
        for (const n of readdirSync(join(root, rel)).sort()) {
          const r = rel ? `${rel}/${n}` : n;
          const s = lstatSync(join(root, r));
          const what = s.isSymbolicLink() ? `-> ${readlinkSync(join(root, r))}` : s.isFile() ? `${s.size} ${readFileSync(join(root, r)).toString('base64').slice(0, 40)} nlink=${s.nlink}` : 'dir';
          out.push(`${r} ${(s.mode & 0o170000).toString(8)} ${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid} ${s.isSymbolicLink() ? '' : Math.floor(s.mtimeMs / 1000)} ${what}`);
          if (s.isDirectory()) walk(r);
        }
      };
      walk('');
      return out;
    };
    const want = tree(peer);
    assert.ok(want.length > 100, `a real tree (${want.length} entries)`);
    assert.equal(st.entries, want.length + 1, 'every entry (and ./) applied');
    assert.deepEqual(tree(ours), want);
  } finally {
    rmSync(w, { recursive: true, force: true });
  }
});
