// The cocolet bundle (host/cmd/pack.ts) runs as the ES modules do; bin/cocolet runs it through its code-cache loader (COCOLET_BUNDLE=0: the modules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packCocolet } from './pack.js';
import { waitFor } from '../../shared/testing/harness.js';

test('the cocolet bundle is one file that answers like the modules; bin/cocolet runs it', async () => {
  const r = await packCocolet();
  assert.ok(r.modules > 100, `${r.modules} modules in the bundle`);
  assert.doesNotMatch(readFileSync(r.path, 'latin1'), /[\u0080-\uffff]/, 'ASCII only (V8 keeps a one-byte source)');
  assert.doesNotMatch(readFileSync(r.path, 'latin1'), /[^\w$.]import\(/, 'no import() left for Node\'s loader (its vm hook warns as experimental)');
  const viaBundle = spawnSync(process.execPath, [r.path, 'explain', 'help'], { encoding: 'utf8' });
  const viaModules = spawnSync(process.execPath, [r.path.replace(/\.cjs$/, '.js'), 'explain', 'help'], { encoding: 'utf8' });
  assert.equal(viaBundle.status, viaModules.status);
  assert.match(viaBundle.stdout, /cocolet explain cpus/);
  assert.equal(viaBundle.stdout, viaModules.stdout);
  const root = join(r.path, '..', '..', '..', '..');
  const launch = (env: Record<string, string>): ReturnType<typeof spawnSync> =>
    spawnSync('sh', ['-x', join(root, 'bin', 'cocolet'), 'explain', 'help'], { encoding: 'utf8', env: { ...process.env, NODE: process.execPath, COCOLET_CODE_CACHE_DEBUG: '1', ...env } });
  const flags = '--max-semi-space-size=2 --heap-growing-percent=20';
  const byDefault = launch({});
  assert.equal(byDefault.status, 0, String(byDefault.stderr));
  assert.ok(String(byDefault.stderr).includes(`${flags} ${r.loader} explain help`), `the bundle's loader by default: ${String(byDefault.stderr)}`);
  assert.match(String(byDefault.stderr), /cocolet code cache: used build\n/, 'the cache npm run build made, accepted by V8');
  assert.equal(byDefault.stdout, viaBundle.stdout);
  assert.ok(String(launch({ COCOLET_BUNDLE: '0' }).stderr).includes(`${flags} ${r.path.replace(/\.cjs$/, '.js')} explain help`), 'COCOLET_BUNDLE=0: the modules');
  const noCache = launch({ COCOLET_CODE_CACHE: '0' });
  assert.doesNotMatch(String(noCache.stderr), /code cache/);
  assert.equal(noCache.stdout, viaBundle.stdout);
  // a cache that is not the bundle's (a rebuild: new mtime) is not used, and one V8 refuses is not either
  if (!('path' in r.codeCache)) assert.fail(`no code cache: ${r.codeCache.error}`);
  const cachePath = r.codeCache.path;
  const cache = readFileSync(cachePath);
  utimesSync(r.path, new Date(), new Date(Date.now() + 2000));
  const stale = launch({});
  assert.match(String(stale.stderr), /cocolet code cache: none\n/);
  assert.equal(stale.stdout, viaBundle.stdout);
  assert.deepEqual(readFileSync(cachePath), cache, 'a short command writes no cache');
  const st = statSync(r.path);
  const stamp = `${cache.subarray(0, cache.indexOf(10)).toString('latin1').split(' ').slice(0, 5).join(' ')} ${st.size} ${st.mtimeMs} build\n`;
  writeFileSync(cachePath, Buffer.concat([Buffer.from(stamp, 'latin1'), Buffer.from('not a V8 code cache')]));
  const refused = launch({});
  assert.match(String(refused.stderr), /cocolet code cache: rejected\n/);
  assert.equal(refused.stdout, viaBundle.stdout);
  // a process that lives long enough (here: explain waiting for its stdin) replaces it with what it compiled
  const p = spawn(join(root, 'bin', 'cocolet'), ['explain', 'cpus'], { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, NODE: process.execPath, COCOLET_CODE_CACHE_AFTER_MS: '0' } });
  const exited = new Promise((res) => p.once('exit', res));
  try {
    await waitFor(() => (/^cocolet code cache 1 \S+ \d+ [\d.]+ run\n/.test(readFileSync(cachePath).subarray(0, 200).toString('latin1')) ? true : undefined), { what: 'the run cache', timeoutMs: 30_000, intervalMs: 50 });
  } finally {
    p.stdin.end('{}');
    await exited;
  }
  assert.match(String(launch({}).stderr), /cocolet code cache: used run\n/);
});
