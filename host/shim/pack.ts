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
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';

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
}

/** Builds the bundle; refuses guest code (host never imports guest). */
export async function packShim(entry = compiledShimEntry(), out = shimBundlePath(entry)): Promise<PackResult> {
  const { build } = await import('esbuild');
  const distRoot = join(dirname(entry), '..', '..');
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
    plugins: [moduleUrls(dirname(out), distRoot)],
  });
  const inputs = Object.keys(r.metafile.inputs);
  const guest = inputs.filter((p) => /(^|\/)dist\/guest\//.test(p));
  if (guest.length) throw new Error(`the shim bundle would contain guest code: ${guest.join(', ')}`);
  const file = r.outputFiles[0];
  if (r.outputFiles.length !== 1 || !file) throw new Error(`esbuild produced ${r.outputFiles.length} files, expected one`);
  writeFileSync(out, file.contents);
  chmodSync(out, 0o755);
  return { path: out, bytes: file.contents.length, modules: inputs.length };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await packShim();
  process.stdout.write(`shim bundle: ${relative(process.cwd(), r.path)} (${r.modules} modules, ${Math.round(r.bytes / 1024)} KiB)\n`);
}
