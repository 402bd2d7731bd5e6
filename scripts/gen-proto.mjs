#!/usr/bin/env node
// Regenerates shared/gen from proto/ with buf + protoc-gen-es (one generator for gRPC and ttrpc
// payloads). With --check, generates into a temporary folder and fails if shared/gen differs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const genDir = join(root, 'shared', 'gen');

function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

function generate(outBase) {
  const buf = join(root, 'node_modules', '.bin', 'buf');
  const args = ['generate'];
  if (outBase) args.push('--output', outBase);
  const env = { ...process.env, PATH: join(root, 'node_modules', '.bin') + ':' + (process.env.PATH ?? '') };
  const r = spawnSync(buf, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`proto: buf generate failed with status ${r.status}`);
    process.exit(1);
  }
}

if (!check) {
  generate();
  console.log(`proto: generated ${listFiles(genDir).length} files into shared/gen`);
  process.exit(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'cocolet-proto-'));
try {
  generate(tmp);
  const fresh = join(tmp, 'shared', 'gen');
  const a = listFiles(genDir);
  const b = listFiles(fresh);
  const stale = [];
  for (const f of new Set([...a, ...b])) {
    if (!a.includes(f)) stale.push(`missing: shared/gen/${f}`);
    else if (!b.includes(f)) stale.push(`extra: shared/gen/${f}`);
    else if (!readFileSync(join(genDir, f)).equals(readFileSync(join(fresh, f)))) stale.push(`differs: shared/gen/${f}`);
  }
  if (stale.length > 0) {
    console.error('proto: generated code is stale; run `npm run proto` and commit:\n  ' + stale.join('\n  '));
    process.exit(1);
  }
  console.log(`proto: shared/gen is up to date (${a.length} files)`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
