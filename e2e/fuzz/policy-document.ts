/**
 * `npm run fuzz -- policy-document [iterations=1000000] [seed]`: mutated policy documents
 * (JSON-structural: values swapped for junk, keys deleted or added; and byte-level on the JSON
 * text) through parsePolicy. Passes with zero crashes (a throw other than a PolicyInvalid error;
 * an accepted document that does not read back identically or whose engine throws deciding
 * requests) and zero hangs (watched worker).
 */
import { runWatchedFuzz } from '../support/fuzz-worker.js';
import type { DocFuzzStats } from '../guest/policy-fuzz.js';

const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0xd0c5);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- policy-document [iterations] [seed]\n');
  process.exit(2);
}

const data = { iterations, seed, target: 'documents' };
const r = await runWatchedFuzz<DocFuzzStats>('policy-document', new URL('../guest/policy-fuzz-worker.js', import.meta.url), data);
const out = (s: string): void => void process.stdout.write(s + '\n');
if (r.error) out(`fuzz policy-document: worker failed: ${r.error.stack ?? r.error.message}`);
const stats = r.stats;
if (stats) {
  out(`fuzz policy-document: ${stats.iterations} documents in ${stats.seconds.toFixed(1)} s (${Math.round(stats.iterations / stats.seconds)}/s), seed ${seed}`);
  out(`  accepted ${stats.accepted}, rejected ${stats.iterations - stats.accepted} naming ${Object.keys(stats.rejected).length} distinct fields`);
  out(`  top rejected fields: ${Object.entries(stats.rejected).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k || '(document)'}=${v}`).join(' ')}`);
  out(`  crashes: ${stats.crashes}, hangs: ${r.hung ? 1 : 0}`);
  for (const f of stats.findings) out(`  CRASH at input ${f.iteration}: ${f.detail}`);
}
const pass = !!stats && !r.hung && !r.error && stats.crashes === 0;
out(`fuzz policy-document: ${pass ? 'PASS' : 'FAIL'}`);
process.exitCode = pass ? 0 : 1;
