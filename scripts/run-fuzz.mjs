#!/usr/bin/env node
// `npm run fuzz -- <name> [args]` runs the fuzz target dist/e2e/fuzz/<name>.js.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...rest] = process.argv.slice(2);
const dir = join(root, 'dist', 'e2e', 'fuzz');
const candidates = name ? [join(dir, `${name}.js`), join(dir, name, 'index.js')] : [];
const entry = candidates.find((p) => existsSync(p));
if (!entry) {
  const known = existsSync(dir) ? readdirSync(dir).filter((n) => !n.includes('.') || n.endsWith('.js')).map((n) => n.replace(/\.js$/, '')).filter((n) => n !== 'report' && !n.endsWith('.test')) : [];
  console.error(`fuzz: unknown fuzz target ${name ?? '(none given)'}; known: ${known.join(', ') || 'none'}`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--enable-source-maps', '--expose-gc', entry, ...rest], { cwd: root, stdio: 'inherit', env: { ...process.env, COCOLET_ROOT: root } });
child.on('exit', (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
