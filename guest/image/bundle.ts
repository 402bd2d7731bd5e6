/**
 * Bundles the guest agent with esbuild (the guest gets no node_modules): one entry file plus the
 * chunks esbuild splits off at dynamic `import()`s (container runtime, image pull, CopyFile,
 * metrics), so Node parses only the start path before Health answers; chunk names are content
 * hashes (same inputs, same names and bytes). Reports which npm packages ended up inside: that is
 * the guest's runtime dependency list.
 */
import { builtinModules, createRequire } from 'node:module';
import { build, type Plugin } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { precomputedDescriptors } from './descriptors.js';

export interface BundleFile {
  /** File name, beside the entry (the entry is IMAGE_FILES.bundle). */
  name: string;
  code: Buffer;
}

export interface AgentBundle {
  /** The entry file (what Node starts). */
  code: Buffer;
  /** Chunks loaded on demand by the entry, sorted by name. */
  chunks: BundleFile[];
  /** npm packages whose code is in the bundle, sorted. */
  packages: string[];
  /** Total bytes of the bundle's input files (what an unbundled agent would ship). */
  inputBytes: number;
}

/** The compiled agent entry point next to this file's compiled output. */
export function agentEntry(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cmd', 'cocolet-agent.js');
}

export function packagesOf(inputs: readonly string[]): string[] {
  const pk = new Set<string>();
  for (const p of inputs) {
    const m = p.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g);
    if (!m) continue;
    const last = m[m.length - 1]!;
    pk.add(last.replace(/^node_modules\//, '').replace(/\/$/, ''));
  }
  return [...pk].sort();
}

const BUILTINS = new Set(builtinModules);

/**
 * Node built-ins reached through `require` (the banner's) instead of ESM `import`: an ESM import of
 * a built-in materialises every export of it (`node:fs` then loads fs/promises, readline and the
 * stream stack), a require only loads the module itself; the bundle reads the exports it uses
 * through esbuild's CommonJS interop, on access. Marked free of side effects, so a built-in whose
 * imports are all unused is dropped as before.
 */
/**
 * Built-ins the start path imports but does not call before Health answers (sonic-boom's `assert`,
 * the image puller's and runc's modules): their shim loads the real module on first use. The
 * proxy reports the export names of this Node (the guest runs the same binary), so esbuild's
 * interop copies them as getters without loading anything.
 */
export const LAZY_BUILTINS: readonly string[] = ['assert', 'child_process', 'crypto', 'dgram', 'dns', 'os', 'zlib'];

const lazyRequire = createRequire(import.meta.url);

function builtinShim(name: string): string {
  const id = JSON.stringify(`node:${name}`);
  if (!LAZY_BUILTINS.includes(name)) return `module.exports = require(${id});`;
  const keys = JSON.stringify(Object.getOwnPropertyNames(lazyRequire(`node:${name}`) as object).sort());
  return `let m; const load = () => (m ??= require(${id})); const keys = ${keys};
module.exports = new Proxy(function () {}, {
  get: (_, k) => load()[k],
  set: (_, k, v) => { load()[k] = v; return true; },
  has: (_, k) => k in load(),
  apply: (_, self, args) => load().apply(self, args),
  construct: (_, args) => new (load())(...args),
  ownKeys: (t) => [...new Set([...keys, ...Reflect.ownKeys(t)])],
  getOwnPropertyDescriptor: (t, k) => Reflect.getOwnPropertyDescriptor(t, k) ?? (keys.includes(k) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined),
});`;
}

export const requireBuiltins: Plugin = {
  name: 'require-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (a) => {
      const name = a.path.replace(/^node:/, '');
      if (!BUILTINS.has(name)) return undefined;
      // the shim's own require stays a real require (the banner's)
      return a.namespace === 'node-builtin' ? { path: a.path, external: true } : { path: name, namespace: 'node-builtin', sideEffects: false };
    });
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (a) => ({ contents: builtinShim(a.path), loader: 'js' }));
  },
};

/** The compiled guest logger (pino-free, same API and lines) next to this file's compiled output. */
export function guestLoggerModule(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'agent', 'log.js');
}

/** The compiled runtime half of the precomputed descriptors (see descriptors.ts). */
export function hydrateModule(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'agent', 'file-desc.js');
}

/** Resolves the shared logger module (pino) to the guest's pino-free one. */
export function aliasLogger(target = guestLoggerModule()): Plugin {
  return {
    name: 'guest-logger',
    setup(b) {
      b.onResolve({ filter: /(^|\/)log\/logger\.js$/ }, (a) => (a.importer.includes('/shared/') || a.importer.includes('/guest/') ? { path: target } : undefined));
    },
  };
}

export async function bundleAgent(entry = agentEntry()): Promise<AgentBundle> {
  const outdir = '/cocolet-agent-bundle';
  const r = await build({
    entryPoints: { 'cocolet-agent': entry },
    outdir,
    splitting: true,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    write: false,
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'error',
    plugins: [aliasLogger(), requireBuiltins, precomputedDescriptors(hydrateModule())],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  let code: Buffer | undefined;
  const chunks: BundleFile[] = [];
  for (const f of r.outputFiles) {
    const name = f.path.slice(outdir.length + 1);
    if (name === 'cocolet-agent.mjs') code = Buffer.from(f.contents);
    else chunks.push({ name, code: Buffer.from(f.contents) });
  }
  if (!code) throw new Error('esbuild produced no entry file');
  chunks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const inputs = Object.values(r.metafile.inputs);
  return { code, chunks, packages: packagesOf(Object.keys(r.metafile.inputs)), inputBytes: inputs.reduce((n, i) => n + i.bytes, 0) };
}
