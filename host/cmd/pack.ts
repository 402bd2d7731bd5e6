/**
 * Packs the `cocolet` command into one CommonJS file (run by `npm run build` after tsc), with the
 * shim's packer (host/shim/pack.ts): `dist/host/cmd/cocolet.cjs`, which bin/cocolet runs (COCOLET_BUNDLE=0:
 * the modules). Unbundled, `cocolet up --kubeconfig` resolves, reads and links ~570 files (ES modules
 * and the CommonJS of npm packages) before the kubelet can register its Node: first Ready 1.5-1.8 s
 * against 0.6-0.8 s bundled at load ~2, 4.4-5.9 s against 1.6-2.8 s at load ~18. The bundle is pure
 * ASCII (host/shim/pack.ts `asciiSource`), so V8 keeps its source, 2.8 MB, as a one-byte string.
 * Lazy `import()`s stay lazy; `import.meta.url` of each module is its compiled file's, so paths made
 * from it do not change.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packBundle } from '../shim/pack.js';

export function cocoletBundlePath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'cocolet.cjs');
}

/** The loader bin/cocolet runs: the bundle with a V8 code cache. */
export const cocoletLoaderPath = (bundle = cocoletBundlePath()): string => join(dirname(bundle), 'cocolet-start.cjs');
/** The code cache the loader writes beside the bundle. */
export const codeCachePath = (bundle = cocoletBundlePath()): string => `${bundle}.codecache`;

/**
 * The loader (CommonJS, no dependencies). Node 20 has no compile cache for modules, so it compiles
 * the bundle itself as `vm.Script` with the cache as `cachedData`: V8 then skips parsing the 2.8 MB
 * and compiling the functions the cache holds (measured: host/kubelet/README.md, "First Ready at
 * once"). `npm run build` makes a first cache (`build`: the bundle's modules initialized, through
 * bin/cocolet so that V8's flags match); a process that has run COCOLET_CODE_CACHE_AFTER_MS (10 s:
 * a kubelet has started and registered by then; short commands never get there) replaces a `build`
 * cache, a missing one or one V8 refused with what it has compiled (`run`). Written to a temporary
 * file and renamed; skipped when dist/ is read-only. The first line names the Node version and the
 * bundle's size and mtime: V8 itself checks only its version, flags and the source's length, so a
 * rebuilt bundle of the same length would otherwise run stale code. An `import()` in the bundle goes to
 * Node's loader (`USE_MAIN_CONTEXT_DEFAULT_LOADER`, which prints an ExperimentalWarning when used: the
 * bundle has none now, esbuild inlines those of bundled modules).
 *
 * COCOLET_CODE_CACHE=0: the bundle is required as it is (so is it when anything fails before it
 * runs); COCOLET_CODE_CACHE_WRITE=exit: write a `build` cache at exit; COCOLET_CODE_CACHE_DEBUG=1:
 * say on stderr whether a cache was used.
 */
export const LOADER = `#!/usr/bin/env node
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const file = path.join(__dirname, 'cocolet.cjs');
const cacheFile = file + '.codecache';
const env = process.env;
function save(script, stamp, kind) {
  const tmp = cacheFile + '.' + process.pid;
  try {
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(stamp + kind + '\\n', 'latin1'), script.createCachedData()]));
    fs.renameSync(tmp, cacheFile);
  } catch {
    try { fs.rmSync(tmp, { force: true }); } catch {}
  }
}
function prepare() {
  if (env.COCOLET_CODE_CACHE === '0') return undefined;
  const st = fs.statSync(file);
  const stamp = 'cocolet code cache 1 ' + process.version + ' ' + st.size + ' ' + st.mtimeMs + ' ';
  let cached;
  let kind = 'none';
  try {
    const b = fs.readFileSync(cacheFile);
    const nl = b.indexOf(10);
    const head = b.subarray(0, nl).toString('latin1');
    if (nl > 0 && head.startsWith(stamp)) {
      kind = head.slice(stamp.length);
      cached = b.subarray(nl + 1);
    }
  } catch {}
  const src = fs.readFileSync(file, 'latin1');
  const script = new vm.Script(Module.wrap(src.startsWith('#!') ? '//' + src.slice(2) : src), {
    filename: file,
    ...(cached ? { cachedData: cached } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (cached && script.cachedDataRejected) kind = 'rejected';
  if (env.COCOLET_CODE_CACHE_DEBUG === '1') process.stderr.write('cocolet code cache: ' + (cached && kind !== 'rejected' ? 'used ' : '') + kind + '\\n');
  if (env.COCOLET_CODE_CACHE_WRITE === 'exit') {
    process.on('exit', () => save(script, stamp, 'build'));
  } else if (kind !== 'run') {
    const after = Number(env.COCOLET_CODE_CACHE_AFTER_MS || 10000);
    const t = setTimeout(() => save(script, stamp, 'run'), after);
    if (!env.COCOLET_CODE_CACHE_AFTER_MS) t.unref();
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(__dirname);
  return () => script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, __dirname);
}
let run;
try {
  run = prepare();
} catch {
  run = undefined;
}
if (run) run();
else require(file);
`;

/** Makes the `build` code cache: bin/cocolet (its V8 flags) runs `explain help`, which loads every module of the bundle. */
export function buildCodeCache(bundle = cocoletBundlePath()): { path: string; bytes: number } | { error: string } {
  const root = join(dirname(bundle), '..', '..', '..');
  const r = spawnSync('sh', [join(root, 'bin', 'cocolet'), 'explain', 'help'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE: process.execPath, COCOLET_CODE_CACHE_WRITE: 'exit' } });
  const path = codeCachePath(bundle);
  if (r.status !== 0 || !existsSync(path)) return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-2).join(' ') || 'no cache written' };
  return { path, bytes: statSync(path).size };
}

export async function packCocolet(): Promise<Awaited<ReturnType<typeof packBundle>> & { loader: string; codeCache: ReturnType<typeof buildCodeCache> }> {
  const r = await packBundle(join(dirname(fileURLToPath(import.meta.url)), 'cocolet.js'), cocoletBundlePath());
  rmSync(codeCachePath(r.path), { force: true });
  const loader = cocoletLoaderPath(r.path);
  writeFileSync(loader, LOADER);
  chmodSync(loader, 0o755);
  return { ...r, loader, codeCache: buildCodeCache(r.path) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await packCocolet();
  process.stdout.write(`cocolet bundle: ${relative(process.cwd(), r.path)} (${r.modules} modules, ${Math.round(r.bytes / 1024)} KiB), run by ${relative(process.cwd(), r.loader)}\n`);
  if ('error' in r.codeCache) process.stderr.write(`cocolet bundle: no code cache yet (a long-running process makes one): ${r.codeCache.error}\n`);
  else process.stdout.write(`cocolet code cache: ${relative(process.cwd(), r.codeCache.path)} (${Math.round(r.codeCache.bytes / 1024)} KiB)\n`);
}
