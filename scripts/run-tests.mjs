#!/usr/bin/env node
// Runs every compiled test file (unit tests beside the code, integration and end-to-end tests
// under e2e/) with Node's own test runner, which prints the summary last.
// Usage: node scripts/run-tests.mjs [substring ...]   (only files whose path contains one)
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = process.env.COCOLET_DIST ? join(root, process.env.COCOLET_DIST) : join(root, 'dist');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

if (!existsSync(dist)) {
  console.error('run-tests: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
let files = walk(dist, []).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => relative(dist, f).includes(s)));
if (files.length === 0) {
  console.error(`run-tests: no test files match ${filters.join(', ') || '(all)'}`);
  process.exit(1);
}
// The guest image is built once per run, before any test, so that every VM test finds it (tests
// never build it themselves concurrently). Unchanged inputs make this a quick fingerprint check.
const builder = join(dist, 'guest', 'image', 'build.js');
const needsGuest = files.some((f) => /e2e[\\/](guest|shim|kubelet|cluster|conformance)[\\/]/.test(f));
if (needsGuest && existsSync(builder) && process.env.COCOLET_SKIP_GUEST_IMAGE !== '1') {
  const r = spawnSync(process.execPath, [builder], { cwd: root, encoding: 'utf8', env: { ...process.env, COCOLET_ROOT: root } });
  if (r.status === 0) console.log(`run-tests: ${(r.stdout.split('\n')[0] ?? '').trim()}`);
  else console.log(`run-tests: the guest image could not be built, so the VM tests will skip: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
}

// The shim tests run the installed binary, the one-file bundle `npm run build` makes after tsc;
// pack it again here so a tsc-only build does not leave the tests on a stale bundle.
const packer = join(dist, 'host', 'shim', 'pack.js');
if (files.some((f) => /e2e[\\/]/.test(f)) && existsSync(packer)) {
  const r = spawnSync(process.execPath, [packer], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`run-tests: the shim bundle could not be built: ${(r.stderr || r.stdout).trim()}`);
    process.exit(1);
  }
}

const concurrency = process.env.COCOLET_TEST_CONCURRENCY ?? '2';
const child = spawn(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, COCOLET_ROOT: root },
});
child.on('exit', (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
