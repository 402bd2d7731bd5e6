import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildBusyboxImage, BUSYBOX_BIN } from './oci.js';

test('busybox image tarballs are deterministic OCI layouts', (t) => {
  if (!existsSync(BUSYBOX_BIN)) return t.skip('busybox-static is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-oci-'));
  try {
    const a = buildBusyboxImage({ out: join(dir, 'a.tar'), ref: 'localhost/t/bb:1', entrypoint: ['/bin/sh'] });
    const b = buildBusyboxImage({ out: join(dir, 'b.tar'), ref: 'localhost/t/bb:1', entrypoint: ['/bin/sh'] });
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.ok(readFileSync(join(dir, 'a.tar')).equals(readFileSync(join(dir, 'b.tar'))));
    const list = execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' }).split('\n');
    assert.ok(list.includes('oci-layout'));
    assert.ok(list.includes('index.json'));
    const index = JSON.parse(execFileSync('tar', ['-xOf', join(dir, 'a.tar'), 'index.json'], { encoding: 'utf8' })) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    assert.equal(index.manifests[0]!.digest, a.manifestDigest);
    assert.equal(index.manifests[0]!.annotations['io.containerd.image.name'], 'localhost/t/bb:1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
