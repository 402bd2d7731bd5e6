/** Delivery into containers: sealed env values replaced, secret files only on guest memory. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { unsealEnv, unsealVolume, writeSecretFile } from './delivery.js';

const hub = {
  unsealSecret: (s: string) => {
    if (s === 'sealed.bad') return Promise.reject(new CocoletError(ErrorCode.PermissionDenied, 'kbs:///a/b/c: the broker\'s policy denies it', { context: { check: 'kbs.policy-deny' } }));
    if (s === 'sealed.binary') return Promise.resolve(Buffer.from([0x61, 0x00, 0x62]));
    return Promise.resolve(Buffer.from(`value-of-${s.slice(7)}`));
  },
};

test('sealed env values are replaced, others kept in order', async () => {
  assert.deepEqual(await unsealEnv(['PATH=/bin', 'DB=sealed.db', 'EMPTY=', 'FLAG', 'X=sealed.x'], hub), ['PATH=/bin', 'DB=value-of-db', 'EMPTY=', 'FLAG', 'X=value-of-x']);
});

test('a failed unseal names the variable and the check', async () => {
  await assert.rejects(unsealEnv(['OK=1', 'TOKEN=sealed.bad'], hub), (e: CocoletError) => e.context.env === 'TOKEN' && e.context.check === 'kbs.policy-deny');
});

test('a secret that is not NUL-free text cannot be an env value', async () => {
  await assert.rejects(unsealEnv(['B=sealed.binary'], hub), (e: CocoletError) => e.context.check === 'cdh.env-value' && !e.message.includes('a\u0000b'));
});

const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/cocolet-cdh-') : undefined;
const disk = mkdtempSync(join(tmpdir(), 'cocolet-cdh-'));
after(() => {
  if (shm) rmSync(shm, { recursive: true, force: true });
  rmSync(disk, { recursive: true, force: true });
});

test('secret files go onto tmpfs, mode 0400, never over an existing file or through a symlink', { skip: shm ? false : 'no /dev/shm tmpfs' }, async () => {
  const p = await writeSecretFile(shm!, 'db-password', Buffer.from('pw'));
  assert.equal(readFileSync(p, 'utf8'), 'pw');
  assert.equal(statSync(p).mode & 0o777, 0o400);
  await assert.rejects(writeSecretFile(shm!, 'db-password', Buffer.from('again')), /EEXIST/);
  symlinkSync(join(disk, 'target'), join(shm!, 'link'));
  await assert.rejects(writeSecretFile(shm!, 'link', Buffer.from('x')), /EEXIST|ELOOP/);
  assert.equal(existsSync(join(disk, 'target')), false);
  for (const bad of ['../x', 'a/b', '..', '']) await assert.rejects(writeSecretFile(shm!, bad, Buffer.from('x')), (e: CocoletError) => e.context.check === 'cdh.file-name');
});

test('a directory that is not guest memory is refused', { skip: ['tmpfs', 'ramfs'].includes(fsType(disk)) ? 'tmpdir is tmpfs here' : false }, async () => {
  await assert.rejects(writeSecretFile(disk, 'x', Buffer.from('x')), (e: CocoletError) => e.context.check === 'cdh.guest-memory');
  assert.equal(existsSync(join(disk, 'x')), false);
});

function fsType(dir: string): string {
  try {
    return (statSync(dir) && readFileSync('/proc/self/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[1] && dir.startsWith(f[1]))
      .sort((a, b) => b[1]!.length - a[1]!.length)[0]?.[2] ?? '';
  } catch {
    return '';
  }
}

/** A secret volume as the kubelet writes it: ..<timestamp>/ holds the files, ..data links to it, keys link into ..data. */
function kubeletVolume(files: Record<string, string>): string {
  const v = mkdtempSync(join(disk, 'vol-'));
  mkdirSync(join(v, '..2026_12_03'));
  for (const [k, c] of Object.entries(files)) writeFileSync(join(v, '..2026_12_03', k), c);
  symlinkSync('..2026_12_03', join(v, '..data'));
  for (const k of Object.keys(files)) symlinkSync(join('..data', k), join(v, k));
  return v;
}

test('a kubelet secret volume of sealed secrets is re-created on tmpfs with the values', { skip: shm ? false : 'no /dev/shm tmpfs' }, async () => {
  const src = kubeletVolume({ 'db-password': 'sealed.db\n', 'ca.crt': 'not a secret' });
  const dst = mkdtempSync(join(shm!, 'vol-'));
  assert.deepEqual(await unsealVolume(src, dst, hub), ['ca.crt', 'db-password']);
  assert.equal(readFileSync(join(dst, 'db-password'), 'utf8'), 'value-of-db');
  assert.equal(readFileSync(join(dst, 'ca.crt'), 'utf8'), 'not a secret');
  assert.deepEqual(readdirSync(dst).sort(), ['ca.crt', 'db-password']);
});

test('a secret volume entry linking outside the volume is refused', { skip: shm ? false : 'no /dev/shm tmpfs' }, async () => {
  const src = kubeletVolume({ a: 'sealed.a' });
  writeFileSync(join(disk, 'host-file'), 'sealed.host');
  symlinkSync(join(disk, 'host-file'), join(src, 'escape'));
  await assert.rejects(unsealVolume(src, mkdtempSync(join(shm!, 'vol-')), hub), (e: CocoletError) => e.context.check === 'cdh.volume-escape' && e.context.file === 'escape');
});
