/**
 * The guest image builder against the real Debian packages: two builds from the same inputs give
 * byte-identical kernels and initramfs, an unchanged build is skipped, and the initramfs holds
 * what the guest needs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, have, isRoot } from '../../shared/testing/harness.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { readCpio } from '../../guest/image/cpio.js';
import { guestImageDir } from '../../guest/image/paths.js';

const skip = !isRoot() ? 'needs root (reads the kernel package, runs depmod)' : ['runc', 'cpio', 'depmod'].find((c) => !have(c)) ?? (existsSync('/bin/busybox') ? false : 'needs busybox-static (scripts/setup installs it)');

describe('guest image builder', { skip: skip ? (skip.startsWith('needs') ? skip : `needs ${skip} (scripts/setup installs it)`) : false, timeout: 300_000 }, () => {
  const h = new Harness();
  after(() => h.dispose());
  const cacheDir = join(guestImageDir(), 'cache');
  const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

  test('same inputs give the same bytes; unchanged inputs skip the build', async () => {
    const a = await buildGuestImage({ outDir: h.tempDir('cocolet-img-a-'), cacheDir, force: true });
    const b = await buildGuestImage({ outDir: h.tempDir('cocolet-img-b-'), cacheDir, force: true });
    assert.equal(sha(join(a.dir, 'initramfs.cpio')), sha(join(b.dir, 'initramfs.cpio')));
    assert.equal(sha(join(a.dir, 'vmlinuz')), sha(join(b.dir, 'vmlinuz')));
    assert.equal(a.manifest.measurement.sha384.launch, b.manifest.measurement.sha384.launch);
    assert.match(a.manifest.measurement.sha256.launch, /^[0-9a-f]{64}$/);
    const again = await buildGuestImage({ outDir: a.dir, cacheDir });
    assert.equal(again.rebuilt, false);

    const entries = readCpio(readFileSync(join(a.dir, 'initramfs.cpio')));
    const paths = new Set(entries.map((e) => e.path));
    for (const p of ['init', 'bin/busybox', 'bin/node', 'usr/sbin/runc', 'agent/cocolet-agent.mjs', 'lib/modules/virtio_mmio.ko', 'lib/modules/overlay.ko', 'lib64/ld-linux-x86-64.so.2']) {
      assert.ok(paths.has(p), `initramfs has ${p}`);
    }
    const names = entries.map((e) => e.path);
    assert.deepEqual(names, [...names].sort(), 'entries sorted');
    assert.ok(a.manifest.bundlePackages.includes('@bufbuild/protobuf'));
    assert.ok(!a.manifest.bundlePackages.some((p) => p.startsWith('@kubernetes') || p === '@grpc/grpc-js'), 'no host-side packages in the guest');
  });
});
