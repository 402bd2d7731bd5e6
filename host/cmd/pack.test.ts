// The cocolet bundle (host/cmd/pack.ts) runs as the ES modules do, and bin/cocolet picks it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packCocolet } from './pack.js';

test('the cocolet bundle is one file that answers like the modules; bin/cocolet runs it', async () => {
  const r = await packCocolet();
  assert.ok(r.modules > 100, `${r.modules} modules in the bundle`);
  const viaBundle = spawnSync(process.execPath, [r.path, 'explain', 'help'], { encoding: 'utf8' });
  const viaModules = spawnSync(process.execPath, [r.path.replace(/\.cjs$/, '.js'), 'explain', 'help'], { encoding: 'utf8' });
  assert.equal(viaBundle.status, viaModules.status);
  assert.match(viaBundle.stdout, /cocolet explain cpus/);
  assert.equal(viaBundle.stdout, viaModules.stdout);
  const root = join(r.path, '..', '..', '..', '..');
  const launcher = spawnSync('sh', ['-x', join(root, 'bin', 'cocolet'), 'explain', 'help'], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath } });
  assert.match(launcher.stderr, /exec \S+ --max-semi-space-size=2 \S+cocolet\.cjs explain help/);
  assert.equal(launcher.stdout, viaBundle.stdout);
});
