/**
 * Packs the shim binary into one CommonJS file with esbuild (run by `npm run build` after tsc):
 * `dist/host/cmd/containerd-shim-cocolet-v2.cjs` from the compiled entry beside it. containerd
 * starts the shim once per task (`start`), and `start` starts the daemon: two Node start-ups on
 * every RunPodSandbox. Bundled, each parses one file instead of resolving, reading and linking
 * ~80 ES modules, and Node never sets up its ESM loader. The `import()`s stay lazy (esbuild wraps
 * those modules in init functions), so `start` still loads none of the daemon's code.
 *
 * `import.meta.url` of every bundled module becomes the URL of its compiled file in dist/
 * (computed from the bundle's own location), so paths made from it (the compiled agent, the
 * test fake's agent, the ttrpc fd worker) are the same as without bundling.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { blobPath, daemonBundlePath, stampOf, stampPath } from './snapshot.js';
import { requireBuiltins } from '../../shared/build/builtins.js';
import { DEFERRED_CA_ENV, EXTRA_CA_ENV } from '../vmm/node-env.js';

/** The compiled shim entry (`dist/host/cmd/containerd-shim-cocolet-v2.js`). */
export function compiledShimEntry(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cmd', 'containerd-shim-cocolet-v2.js');
}

/** Where the bundle goes: beside the compiled entry, same depth below dist/. */
export function shimBundlePath(entry = compiledShimEntry()): string {
  return entry.replace(/\.js$/, '.cjs');
}

const URL_FN = '__cocoletModuleUrl';

/** Rewrites `import.meta.url` in the compiled files to their own dist URL, relative to the bundle. */
function moduleUrls(bundleDir: string, distRoot: string): Plugin {
  return {
    name: 'module-urls',
    setup(b) {
      b.onLoad({ filter: /\.js$/ }, (a) => {
        if (!a.path.startsWith(distRoot + sep)) return undefined;
        const src = readFileSync(a.path, 'utf8');
        if (!src.includes('import.meta.url')) return undefined;
        const rel = relative(bundleDir, a.path).split(sep).join('/');
        return { contents: src.replaceAll('import.meta.url', `${URL_FN}(${JSON.stringify(rel)})`), loader: 'js' };
      });
    },
  };
}

export interface PackResult {
  path: string;
  bytes: number;
  /** Inputs (compiled files and npm modules) now in the one file. */
  modules: number;
  /** The daemon's bundle (everything; what the snapshot is made from). */
  daemon: { path: string; bytes: number; modules: number };
  /** The daemon's startup snapshot (snapshot.ts), or why there is none. */
  snapshot: { path: string; bytes: number } | { error: string };
}

/** Builds the daemon's V8 startup snapshot from the bundle and stamps it; on failure removes any old one. */
export function buildSnapshot(bundle: string): PackResult['snapshot'] {
  const blob = blobPath(bundle);
  rmSync(stampPath(bundle), { force: true });
  const r = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', bundle], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    rmSync(blob, { force: true });
    return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' ') };
  }
  writeFileSync(stampPath(bundle), `${JSON.stringify(stampOf(bundle))}\n`);
  return { path: blob, bytes: readFileSync(blob).length };
}

/**
 * The compiled modules only the daemon (or the rare `delete`, or containerd 2.3's bootstrap
 * protocol, with protobuf-es) loads: left out of `start`'s bundle.
 */
const DAEMON_ONLY = ['host/shim/serve.js', 'host/shim/delete.js', 'host/vmm/process.js', 'host/vmm/qemu.js', 'host/shim/testing/fake-hypervisor.js', 'shared/log/logger.js', 'shared/gen/containerd/bootstrap/v1/bootstrap_pb.js'];

/**
 * Built-ins `start` may import without calling (crypto: only the sandbox's socket name; child_process:
 * not for a container's `start`, which joins its sandbox's shim): loaded on first use.
 */
const START_LAZY_BUILTINS = ['assert', 'child_process', 'crypto', 'dgram', 'dns', 'net', 'os', 'v8', 'worker_threads', 'zlib'];

/** Leaves the DAEMON_ONLY modules to Node (an `import()` of the compiled file beside the bundle). */
function daemonOnlyExternal(bundleDir: string, distRoot: string): Plugin {
  const skip = new Set(DAEMON_ONLY.map((p) => join(distRoot, p)));
  return {
    name: 'daemon-only',
    setup(b) {
      b.onResolve({ filter: /^@bufbuild\/protobuf(\/|$)/ }, (a) => (a.kind === 'dynamic-import' ? { path: a.path, external: true } : undefined));
      b.onResolve({ filter: /^\.\.?\// }, (a) => {
        const abs = join(a.resolveDir, a.path);
        if (!skip.has(abs)) return undefined;
        if (a.kind !== 'dynamic-import') return { errors: [{ text: `${a.path} (daemon-only) is imported statically by ${a.importer}` }] };
        return { path: `./${relative(bundleDir, abs).split(sep).join('/')}`, external: true };
      });
    },
  };
}

/**
 * The bundle's text with every non-ASCII character written as a `\\u` escape. esbuild escapes them
 * in strings, but not in the comments it keeps; one such character makes V8 hold the whole source
 * (which it keeps for lazy compilation) as a two-byte string: twice the memory of the file. An
 * escape means the same character in strings, regular expressions and identifiers, and is text in
 * a comment (U+2028/U+2029 end a `//` comment, so those are refused rather than escaped).
 */
export function asciiSource(text: string): string {
  if (/[\u2028\u2029]/.test(text)) throw new Error('the bundle contains a raw U+2028/U+2029 (a line terminator that cannot be escaped inside a comment)');
  return text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The first two lines of the installed binary: a shell script and a JavaScript file at once. Run as
 * a program (containerd execs it, `cocolet up` links it) it is `sh`, which moves
 * NODE_EXTRA_CA_CERTS aside into DEFERRED_CA_ENV (host/vmm/node-env.ts) and execs `node` on the
 * same file, as `#!/usr/bin/env node` would; Node then skips the `#!` line, and `":"` followed by a
 * comment is a plain expression statement. Node reads and parses that CA bundle at every start-up
 * before any code runs (~60-90 ms at load 3-5 on this project's 2 cores), and containerd hands its
 * environment to the shim: `start` runs twice per pod on its critical path, and makes no TLS
 * connection. The entry puts the value back first thing (restoreExtraCa), so what it does and
 * spawns sees containerd's environment. When the variable is unset, a carrier from outside is
 * dropped (never turned into a CA bundle).
 */
export const SHIM_HEADER = [
  '#!/bin/sh',
  `":" //; if [ -n "\${${EXTRA_CA_ENV}+x}" ]; then ${DEFERRED_CA_ENV}=$${EXTRA_CA_ENV}; export ${DEFERRED_CA_ENV}; unset ${EXTRA_CA_ENV}; else unset ${DEFERRED_CA_ENV}; fi; exec node "$0" "$@"`,
].join('\n');

/** The bundle's text with its `#!` line replaced by `header` (lines). */
export function withHeader(text: string, header: string): string {
  if (!text.startsWith('#!')) throw new Error('the bundle does not start with its entry\'s #! line');
  const nl = text.indexOf('\n');
  return `${header}${nl < 0 ? '\n' : text.slice(nl)}`;
}

async function bundleOne(entry: string, out: string, plugins: Plugin[], header?: string): Promise<{ bytes: number; modules: number }> {
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    metafile: true,
    logLevel: 'error',
    legalComments: 'none',
    // (esbuild keeps the entry's #! line first)
    banner: { js: `const ${URL_FN} = (p) => require("node:url").pathToFileURL(require("node:path").join(__dirname, p)).href;` },
    plugins: [...plugins, moduleUrls(dirname(out), join(dirname(entry), '..', '..'))],
  });
  const inputs = Object.keys(r.metafile.inputs);
  const guest = inputs.filter((p) => /(^|\/)dist\/guest\//.test(p));
  if (guest.length) throw new Error(`the shim bundle would contain guest code: ${guest.join(', ')}`);
  const file = r.outputFiles[0];
  if (r.outputFiles.length !== 1 || !file) throw new Error(`esbuild produced ${r.outputFiles.length} files, expected one`);
  const text = header === undefined ? asciiSource(file.text) : withHeader(asciiSource(file.text), header);
  writeFileSync(out, text);
  chmodSync(out, 0o755);
  return { bytes: text.length, modules: inputs.length };
}

/** One program (e.g. the `cocolet` command) into one CommonJS file beside its compiled entry, as is. */
export async function packBundle(entry: string, out = shimBundlePath(entry)): Promise<{ path: string; bytes: number; modules: number }> {
  return { path: out, ...(await bundleOne(entry, out, [])) };
}

/**
 * Builds the installed binary (what containerd runs for `start` and `delete`: the daemon's modules
 * left out, rarely used built-ins lazy) and the daemon's bundle (everything) with its snapshot.
 * Refuses guest code (host never imports guest).
 */
export async function packShim(entry = compiledShimEntry(), out = shimBundlePath(entry)): Promise<PackResult> {
  const distRoot = join(dirname(entry), '..', '..');
  const daemon = daemonBundlePath(out);
  const full = await bundleOne(entry, daemon, [requireBuiltins([])]);
  const small = await bundleOne(entry, out, [daemonOnlyExternal(dirname(out), distRoot), requireBuiltins(START_LAZY_BUILTINS)], SHIM_HEADER);
  return { path: out, bytes: small.bytes, modules: small.modules, daemon: { path: daemon, ...full }, snapshot: buildSnapshot(daemon) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await packShim();
  const kib = (n: number): number => Math.round(n / 1024);
  process.stdout.write(`shim bundle: ${relative(process.cwd(), r.path)} (${r.modules} modules, ${kib(r.bytes)} KiB); daemon: ${relative(process.cwd(), r.daemon.path)} (${r.daemon.modules} modules, ${kib(r.daemon.bytes)} KiB)\n`);
  if ('error' in r.snapshot) process.stderr.write(`shim bundle: no daemon snapshot (the daemon runs the bundle): ${r.snapshot.error}\n`);
  else process.stdout.write(`shim daemon snapshot: ${relative(process.cwd(), r.snapshot.path)} (${Math.round(r.snapshot.bytes / 1024)} KiB)\n`);
}
