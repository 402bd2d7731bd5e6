/**
 * `npm run fuzz -- tar [iterations=1000000] [seed]`: hostile and mutated image layers unpacked on
 * the real file system (tmpfs when /dev/shm exists) next to sentinel files. Passes with zero
 * crashes (anything but a CocoletError other than COCOLET_INTERNAL), zero escapes (any change
 * outside the unpack root) and zero hangs (the loop runs in a watched worker).
 */
import { runWatchedFuzz } from '../support/fuzz-worker.js';
import type { TarFuzzStats } from '../guest/malicious-layers-fuzz.js';

const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0x7a27a2);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- tar [iterations] [seed]\n');
  process.exit(2);
}

const r = await runWatchedFuzz<TarFuzzStats>('tar', new URL('../guest/malicious-layers-fuzz-worker.js', import.meta.url), { iterations, seed });
const out = (s: string): void => void process.stdout.write(s + '\n');
if (r.error) out(`fuzz tar: worker failed: ${r.error.stack ?? r.error.message}`);
const stats = r.stats;
if (stats) {
  out(`fuzz tar: ${stats.iterations} inputs in ${stats.seconds.toFixed(1)} s (${Math.round(stats.iterations / stats.seconds)}/s), seed ${seed}`);
  out(`  accepted: ${stats.accepted}`);
  out(`  rejected by code: ${Object.entries(stats.rejected).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out(`  rejected by reason:\n${Object.entries(stats.reasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `    ${v} ${k}`).join('\n')}`);
  out(`  crashes: ${stats.crashes}, escapes: ${stats.escapes}, hangs: ${r.hung ? 1 : 0}`);
  for (const f of stats.findings) out(`  ${f.kind.toUpperCase()} at input ${f.iteration}: ${f.detail}\n    layers: ${f.layersHex.map((h) => h.slice(0, 400)).join(' | ')}`);
}
const pass = !!stats && !r.hung && !r.error && stats.crashes === 0 && stats.escapes === 0;
out(`fuzz tar: ${pass ? 'PASS' : 'FAIL'}`);
process.exitCode = pass ? 0 : 1;
