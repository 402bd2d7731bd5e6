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
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packBundle } from '../shim/pack.js';

export function cocoletBundlePath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'cocolet.cjs');
}

export function packCocolet(): ReturnType<typeof packBundle> {
  return packBundle(join(dirname(fileURLToPath(import.meta.url)), 'cocolet.js'), cocoletBundlePath());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await packCocolet();
  process.stdout.write(`cocolet bundle: ${relative(process.cwd(), r.path)} (${r.modules} modules, ${Math.round(r.bytes / 1024)} KiB)\n`);
}
