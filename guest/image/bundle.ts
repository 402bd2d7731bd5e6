/**
 * Bundles the guest agent with esbuild (the guest gets no node_modules) into one CommonJS file,
 * `IMAGE_FILES.agentMain`, which /init starts, plus a two-line ESM entry, `IMAGE_FILES.bundle`, that
 * requires it (what the process hypervisor starts). The modules behind dynamic `import()`s
 * (container runtime, image pull, CopyFile, metrics) stay in the file but run on first use.
 * Same inputs, same bytes. Reports which npm packages ended up inside: that is the guest's
 * runtime dependency list.
 */
import { build, type Plugin } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { precomputedDescriptors } from './descriptors.js';
import { IMAGE_FILES } from './paths.js';
import { requireBuiltins as requireBuiltinsOf } from '../../shared/build/builtins.js';

export interface BundleFile {
  /** File name, beside the entry (the entry is IMAGE_FILES.bundle). */
  name: string;
  code: Buffer;
}

export interface AgentBundle {
  /** The ESM entry file (IMAGE_FILES.bundle): requires the CommonJS bundle. */
  code: Buffer;
  /** Files beside the entry: the CommonJS bundle (IMAGE_FILES.agentMain). */
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

/**
 * Built-ins the start path imports but does not call before Health answers (sonic-boom's `assert`,
 * the image puller's and runc's modules, v8 for the entry's snapshot build): loaded on first use (shared/build/builtins.ts).
 */
export const LAZY_BUILTINS: readonly string[] = ['assert', 'child_process', 'crypto', 'dgram', 'dns', 'net', 'os', 'v8', 'worker_threads', 'zlib'];

/** Built-ins through `require`, the LAZY_BUILTINS on first use (shared/build/builtins.ts). */
export const requireBuiltins: Plugin = requireBuiltinsOf(LAZY_BUILTINS);

/** The compiled guest logger (pino-free, same API and lines) next to this file's compiled output. */
export function guestLoggerModule(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'agent', 'log.js');
}

/** The compiled runtime half of the precomputed descriptors (see descriptors.ts). */
export function hydrateModule(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'agent', 'file-desc.js');
}

/** The compiled `import.meta.url` stand-in injected into the CommonJS bundle. */
export function moduleUrlShim(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'module-url.js');
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

/**
 * The ESM entry (IMAGE_FILES.bundle, what the process hypervisor starts) only requires the CommonJS
 * bundle beside it; the VM's /init starts the CommonJS bundle directly, so Node never sets up its
 * ESM loader for the agent.
 */
export function esmEntryShim(main: string): string {
  return `import { createRequire } from 'node:module';\ncreateRequire(import.meta.url)(${JSON.stringify(`./${main}`)});\n`;
}

export async function bundleAgent(entry = agentEntry()): Promise<AgentBundle> {
  const r = await build({
    entryPoints: [entry],
    outfile: `/${IMAGE_FILES.agentMain}`,
    bundle: true,
    platform: 'node',
    target: 'node20',
    // CommonJS: one file, no ESM loader (resolving, loading and linking chunks cost boot time
    // under TCG); the dynamic import()s stay lazy (esbuild wraps those modules in init functions).
    format: 'cjs',
    write: false,
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'error',
    plugins: [aliasLogger(), requireBuiltins, precomputedDescriptors(hydrateModule())],
    define: { 'import.meta.url': '__cocoletModuleUrl' },
    inject: [moduleUrlShim()],
  });
  if (r.outputFiles.length !== 1) throw new Error(`esbuild produced ${r.outputFiles.length} files, expected one`);
  const main: BundleFile = { name: IMAGE_FILES.agentMain, code: Buffer.from(r.outputFiles[0]!.contents) };
  const inputs = Object.values(r.metafile.inputs);
  return {
    code: Buffer.from(esmEntryShim(main.name)), chunks: [main],
    packages: packagesOf(Object.keys(r.metafile.inputs)), inputBytes: inputs.reduce((n, i) => n + i.bytes, 0),
  };
}
