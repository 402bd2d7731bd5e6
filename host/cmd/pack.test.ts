// The cocolet bundle (host/cmd/pack.ts) runs as the ES modules do; bin/cocolet runs it with COCOLET_BUNDLE=1.
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
  const launch = (bundle: string): ReturnType<typeof spawnSync> =>
    spawnSync('sh', ['-x', join(root, 'bin', 'cocolet'), 'explain', 'help'], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath, COCOLET_BUNDLE: bundle } });
  const withBundle = launch('1');
  assert.match(String(withBundle.stderr), /exec \S+ --max-semi-space-size=2 \S+cocolet\.cjs explain help/);
  assert.equal(withBundle.stdout, viaBundle.stdout);
  assert.match(String(launch('').stderr), /exec \S+ --max-semi-space-size=2 \S+cocolet\.js explain help/, 'the modules by default');
});
