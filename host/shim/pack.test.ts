// asciiSource: the bundles are stored as one-byte strings by V8 and still mean the same program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asciiSource, shimBundlePath, SHIM_HEADER, withHeader } from './pack.js';
import { DEFERRED_CA_ENV, EXTRA_CA_ENV } from '../vmm/node-env.js';

test('asciiSource escapes every non-ASCII character without changing what the program does', () => {
  const src = [
    '/** Path → last error … */',
    '// usage − inactive_file — a comment',
    'const s = "a→b", t = `x…${1 + 1}`, r = /[→−]/u, e = "😀";',
    'JSON.stringify({ s, t, r: r.test("−"), len: e.length, cp: e.codePointAt(0) })',
  ].join('\n');
  const out = asciiSource(src);
  assert.doesNotMatch(out, /[\u0080-\uffff]/, 'only ASCII left');
  assert.match(out, /Path \\u2192 last/, 'comments keep the character as an escape');
  assert.equal(runInNewContext(out), runInNewContext(src));
  assert.deepEqual(JSON.parse(runInNewContext(out) as string), { s: 'a→b', t: 'x…2', r: true, len: 2, cp: 0x1f600 });
  assert.equal(asciiSource('plain();'), 'plain();');
});

test('asciiSource refuses a raw line separator (escaping it inside a // comment would turn code into comment)', () => {
  assert.throws(() => asciiSource('// a\u2028b();'), /U\+2028/);
});

/** What a program run with `env` sees of the CA variables, and what its Node printed on stderr at boot. */
function caSeen(prog: string, args: string[], env: NodeJS.ProcessEnv, dir: string): { status: number | null; stdout: string; stderr: string; seen: Record<string, string | null> } {
  const out = join(dir, 'seen.json');
  const preload = join(dir, 'seen.cjs');
  // (at exit: after the program's own code ran, as anything it spawns would see it)
  writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ extra: process.env.${EXTRA_CA_ENV} ?? null, deferred: process.env.${DEFERRED_CA_ENV} ?? null })));\n`);
  rmSync(out, { force: true });
  const r = spawnSync(prog, args, { env: { ...env, NODE_OPTIONS: `--require ${preload}` }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, seen: JSON.parse(readFileSync(out, 'utf8')) as Record<string, string | null> };
}

test('a file with SHIM_HEADER runs as a program (sh, then node on itself) and as a script (node skips the header), and its Node boots without NODE_EXTRA_CA_CERTS', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccpack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'prog.cjs');
  writeFileSync(file, withHeader(`#!/usr/bin/env node\n'use strict';\nprocess.stdout.write(JSON.stringify(process.argv.slice(2)));\n`, SHIM_HEADER));
  chmodSync(file, 0o755);
  assert.equal(readFileSync(file, 'utf8').split('\n')[0], '#!/bin/sh');
  const env = { PATH: process.env.PATH, [EXTRA_CA_ENV]: '/nonexistent/ca.pem' };
  // a Node that reads the CA file at boot warns about it: the script form does, the program form does not
  const asScript = caSeen(process.execPath, [file, 'a b', '-id', '$x'], env, dir);
  assert.match(asScript.stderr, /Ignoring extra certs from `\/nonexistent\/ca.pem`/);
  assert.equal(asScript.stdout, JSON.stringify(['a b', '-id', '$x']));
  const asProgram = caSeen(file, ['a b', '-id', '$x'], env, dir);
  assert.equal(asProgram.status, 0);
  assert.equal(asProgram.stderr, '');
  assert.equal(asProgram.stdout, JSON.stringify(['a b', '-id', '$x']), 'arguments pass through the header unchanged');
  assert.deepEqual(asProgram.seen, { extra: null, deferred: '/nonexistent/ca.pem' }, 'moved aside (this program does not put it back)');
  // unset: a carrier from outside is dropped, not turned into a CA bundle later
  assert.deepEqual(caSeen(file, [], { PATH: process.env.PATH, [DEFERRED_CA_ENV]: '/tmp/evil.pem' }, dir).seen, { extra: null, deferred: null });
  assert.throws(() => withHeader('plain();', SHIM_HEADER), /#! line/);
});

test('the installed shim binary boots its Node without NODE_EXTRA_CA_CERTS and has it back before its own code runs', (t) => {
  const bin = shimBundlePath();
  if (!existsSync(bin)) return t.skip('the shim bundle is not built (npm run build)');
  const dir = mkdtempSync(join(tmpdir(), 'ccpack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = caSeen(bin, ['-v'], { PATH: process.env.PATH, [EXTRA_CA_ENV]: '/nonexistent/ca.pem' }, dir);
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '', 'no CA bundle read at boot');
  assert.match(r.stdout, /Version: /);
  assert.deepEqual(r.seen, { extra: '/nonexistent/ca.pem', deferred: null }, "containerd's environment again for what it spawns");
});
