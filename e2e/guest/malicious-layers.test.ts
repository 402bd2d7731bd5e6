/**
 * Hostile images served by a real registry (Debian's docker-registry on loopback) and pulled by
 * the guest puller (ImageStore: distribution client, gunzip, diff_id check, layer unpack). Each
 * image fails with an error naming the layer digest and the entry, leaves no image directory (nor
 * its temporary one) in the store, and changes nothing outside: not the sentinel files beside the
 * store, not another image already pulled into the same store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode, type ErrorCodeValue } from '../../shared/errors/index.js';
import { silentLogger } from '../../shared/log/logger.js';
import { Harness, have } from '../../shared/testing/harness.js';
import { startLocalRegistry } from '../../host/images/registry.js';
import { ImageStore } from '../../guest/pull/store.js';
import { writeTar, type TarWriteEntry } from '../../guest/pull/tar-writer.js';
import { plantSentinels, snapshotTree } from '../../guest/pull/sentinel.js';
import { pushImage } from './malicious-layers-images.js';

interface Bad {
  name: string;
  layers: (outside: string, otherRootfs: string) => TarWriteEntry[][];
  code: ErrorCodeValue;
  /** Index of the layer the error names. */
  layer: number;
  entry?: string;
  reason: RegExp;
}

const bad: Bad[] = [
  {
    name: 'hardlink through a symlinked parent to a file outside',
    layers: (outside) => [[{ name: 'evil', type: '2', linkname: outside }], [{ name: 'stolen', type: '1', linkname: 'evil/secret', uid: 0 }]],
    code: ErrorCode.InvalidArgument, layer: 1, entry: 'stolen', reason: /hardlink target "evil\/secret" does not exist in the root/,
  },
  {
    name: 'hardlink to /etc/passwd',
    layers: () => [[{ name: 'etc/passwd', type: '1', linkname: '/etc/passwd' }]],
    code: ErrorCode.InvalidArgument, layer: 0, entry: 'etc/passwd', reason: /does not exist in the root/,
  },
  {
    name: '../ escape',
    layers: () => [[{ name: '../../../../outside/secret', data: 'pwned' }]],
    code: ErrorCode.InvalidArgument, layer: 0, entry: '../../../../outside/secret', reason: /".." component/,
  },
  {
    name: 'device node',
    layers: () => [[{ name: 'dev/kmsg', type: '3' }]],
    code: ErrorCode.InvalidArgument, layer: 0, entry: 'dev/kmsg', reason: /char device entries are not allowed/,
  },
  {
    name: 'a write through a symlink to another image, then a device (nothing of either stays)',
    layers: (_o, other) => [[{ name: 'etc', type: '2', linkname: other }, { name: 'etc/secret', data: 'pwned' }], [{ name: 'p', type: '6' }]],
    code: ErrorCode.InvalidArgument, layer: 1, entry: 'p', reason: /fifo entries are not allowed/,
  },
  {
    name: 'gzip bomb (64 MiB of zeros over a 16 MiB image limit)',
    layers: () => [[{ name: 'zeros', data: Buffer.alloc(64 * 1024 * 1024) }]],
    code: ErrorCode.ResourceExhausted, layer: 0, reason: /decompresses to more than \d+ bytes/,
  },
];

describe('malicious image layers through a real registry and the guest puller', { skip: have('docker-registry') ? false : 'needs docker-registry (scripts/setup installs it)', timeout: 120_000 }, () => {
  const h = new Harness();
  let host = '';
  let storeRoot = '';
  let outside = '';
  let store: ImageStore;
  let good = { rootfs: '', digest: '' };
  after(() => h.dispose());

  before(async () => {
    const dir = h.tempDir('cocolet-malicious-');
    const reg = await startLocalRegistry({ dir: join(dir, 'registry') });
    h.defer('docker-registry', () => reg.stop());
    host = reg.host;
    storeRoot = join(dir, 'store');
    outside = join(dir, 'outside');
    mkdirSync(outside);
    plantSentinels(outside);
    store = new ImageStore({ root: storeRoot, logger: silentLogger(), insecureRegistries: [host], unpackLimits: { maxTotalBytes: 16 * 1024 * 1024, maxEntries: 1000 } });
    const img = await pushImage(host, 'cocolet/good', '1', [writeTar([{ name: 'etc/', type: '5' }, { name: 'etc/secret', data: 'good image\n' }, { name: 'bin/su', data: 'su', mode: 0o4755 }])]);
    const pulled = await store.pull(img.reference);
    good = { rootfs: pulled.rootfs, digest: img.manifestDigest };
  });

  for (const [i, tc] of bad.entries()) {
    test(tc.name, async () => {
      const img = await pushImage(host, `cocolet/bad${i}`, '1', tc.layers(outside, join(good.rootfs, 'etc')).map((l) => writeTar(l)));
      // the store directory's own mtime moves (the temporary directory came and went); all below it must not
      const snap = (): Map<string, string> => {
        const m = snapshotTree(join(storeRoot, '..'), [join(storeRoot, '..', 'registry')], { contents: true });
        m.delete(storeRoot);
        return m;
      };
      const before = snap();
      const err = await store.pull(img.reference).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof CocoletError, `the pull fails with a CocoletError, got ${String(err)}`);
      assert.equal(err.code, tc.code, err.message);
      assert.match(err.message, tc.reason);
      assert.equal(err.context.layer, img.layerDigests[tc.layer]);
      assert.ok(err.message.includes(img.layerDigests[tc.layer]!), err.message);
      if (tc.entry) assert.equal(err.context.entry, tc.entry);
      assert.equal(err.context.image, img.reference);
      assert.deepEqual(snap(), before, 'nothing outside changed, no image or temporary directory left');
      assert.equal(existsSync(join(storeRoot, img.manifestDigest.slice(7))), false);
      assert.equal(readFileSync(join(good.rootfs, 'etc/secret'), 'utf8'), 'good image\n');
    });
  }

  test('setuid bits: cleared by default, kept (a separate unpack) when the pull asks', async () => {
    assert.equal(lstatSync(join(good.rootfs, 'bin/su')).mode & 0o7777, 0o755);
    const kept = await store.pull(`${host}/cocolet/good:1`, undefined, { keepSetuid: true });
    assert.notEqual(kept.rootfs, good.rootfs);
    if (process.geteuid?.() === 0) assert.equal(lstatSync(join(kept.rootfs, 'bin/su')).mode & 0o7777, 0o4755);
    assert.equal(lstatSync(join(good.rootfs, 'bin/su')).mode & 0o7777, 0o755);
    assert.deepEqual(readdirSync(storeRoot).sort(), [good.digest.slice(7), `${good.digest.slice(7)}-setuid`]);
  });
});
