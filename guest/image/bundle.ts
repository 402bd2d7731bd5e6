/**
 * Bundles the guest agent into ONE file with esbuild (the guest gets no node_modules). Reports
 * which npm packages ended up inside: that is the guest's runtime dependency list.
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AgentBundle {
  code: Buffer;
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

export async function bundleAgent(entry = agentEntry()): Promise<AgentBundle> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    write: false,
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output');
  const inputs = Object.values(r.metafile.inputs);
  return { code: Buffer.from(out.contents), packages: packagesOf(Object.keys(r.metafile.inputs)), inputBytes: inputs.reduce((n, i) => n + i.bytes, 0) };
}
