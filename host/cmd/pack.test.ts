// The cocolet bundle (host/cmd/pack.ts) runs as the ES modules do; bin/cocolet runs it (COCOLET_BUNDLE=0: the modules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packCocolet } from './pack.js';

test('the cocolet bundle is one file that answers like the modules; bin/cocolet runs it', async () => {
  const r = await packCocolet();
  assert.ok(r.modules > 100, `${r.modules} modules in the bundle`);
  assert.doesNotMatch(readFileSync(r.path, 'latin1'), /[\u0080-\uffff]/, 'ASCII only (V8 keeps a one-byte source)');
  const viaBundle = spawnSync(process.execPath, [r.path, 'explain', 'help'], { encoding: 'utf8' });
  const viaModules = spawnSync(process.execPath, [r.path.replace(/\.cjs$/, '.js'), 'explain', 'help'], { encoding: 'utf8' });
  assert.equal(viaBundle.status, viaModules.status);
  assert.match(viaBundle.stdout, /cocolet explain cpus/);
  assert.equal(viaBundle.stdout, viaModules.stdout);
  const root = join(r.path, '..', '..', '..', '..');
  const launch = (bundle: string): ReturnType<typeof spawnSync> =>
    spawnSync('sh', ['-x', join(root, 'bin', 'cocolet'), 'explain', 'help'], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath, COCOLET_BUNDLE: bundle } });
  const flags = '--max-semi-space-size=2 --heap-growing-percent=20';
  const byDefault = launch('');
  assert.equal(byDefault.status, 0, String(byDefault.stderr));
  assert.ok(String(byDefault.stderr).includes(`${flags} ${r.path} explain help`), `the bundle by default: ${String(byDefault.stderr)}`);
  assert.equal(byDefault.stdout, viaBundle.stdout);
  assert.ok(String(launch('0').stderr).includes(`${flags} ${r.path.replace(/\.cjs$/, '.js')} explain help`), 'COCOLET_BUNDLE=0: the modules');
});
