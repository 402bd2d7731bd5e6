/**
 * `npm run fuzz -- initdata [iterations=1000000] [seed]`: generated and mutated init-data TOML
 * (raw and in the gzip block layout) through the guest's parser. Passes when nothing but
 * CocoletError is thrown and no input hangs: the loop runs in a worker whose progress the main
 * thread watches (e2e/support/fuzz-worker.ts); no progress for HANG_MS is a hang.
 */
import { runWatchedFuzz } from '../support/fuzz-worker.js';
import type { InitdataFuzzStats } from '../initdata/fuzz-engine.js';

const HANG_MS = 10_000;
const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0x1d17da7a);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- initdata [iterations] [seed]\n');
  process.exit(2);
}

const started = performance.now();
const r = await runWatchedFuzz<InitdataFuzzStats>('initdata', new URL('../initdata/fuzz-worker.js', import.meta.url), { iterations, seed }, HANG_MS);
const out = (s: string): void => void process.stdout.write(s + '\n');
if (r.error) out(`fuzz initdata: worker failed: ${r.error.stack ?? r.error.message}`);
const stats = r.stats;
if (stats) {
  const secs = (performance.now() - started) / 1000;
  out(`fuzz initdata: ${stats.iterations} inputs in ${secs.toFixed(1)} s (${Math.round(stats.iterations / secs)}/s), seed ${seed}`);
  out(`  per target: ${Object.entries(stats.perTarget).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out(`  accepted: ${stats.accepted}; slowest input ${stats.slowestMs.toFixed(1)} ms (${stats.slowestTarget})`);
  out(`  rejected by reason: ${Object.entries(stats.rejected).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' | ')}`);
  out(`  crashes: ${stats.crashCount}, hangs: ${r.hung ? 1 : 0}`);
  for (const c of stats.crashes) out(`  CRASH in ${c.target}: ${c.error}\n    input: ${c.inputHex.slice(0, 400)}`);
}
process.exitCode = stats && !r.hung && !r.error && stats.crashCount === 0 ? 0 : 1;
