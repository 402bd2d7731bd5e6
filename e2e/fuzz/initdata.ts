/**
 * `npm run fuzz -- initdata [iterations=1000000] [seed]`: generated and mutated init-data TOML
 * (raw and in the gzip block layout) through the guest's parser. Passes when nothing but
 * CocoletError is thrown and no input hangs: the loop runs in a worker whose progress the main
 * thread watches; no progress for HANG_MS is a hang.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { InitdataFuzzStats } from '../initdata/fuzz-engine.js';

const HANG_MS = 10_000;
const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0x1d17da7a);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- initdata [iterations] [seed]\n');
  process.exit(2);
}

const progress = new SharedArrayBuffer(4);
const counter = new Int32Array(progress);
const started = performance.now();
const worker = new Worker(fileURLToPath(new URL('../initdata/fuzz-worker.js', import.meta.url)), { workerData: { iterations, seed, progress } });

let last = -1;
let lastChange = performance.now();
let hung = false;
const watch = setInterval(() => {
  const done = Atomics.load(counter, 0);
  const now = performance.now();
  if (done !== last) {
    last = done;
    lastChange = now;
    process.stderr.write(`fuzz initdata: ${done}/${iterations}\r`);
  } else if (now - lastChange > HANG_MS) {
    hung = true;
    process.stderr.write(`\nfuzz initdata: HANG: no progress for ${HANG_MS} ms after ${done} inputs (seed ${seed})\n`);
    void worker.terminate();
  }
}, 1000);

worker.on('message', (stats: InitdataFuzzStats) => {
  clearInterval(watch);
  const secs = (performance.now() - started) / 1000;
  const out = (s: string): void => void process.stdout.write(s + '\n');
  out(`\nfuzz initdata: ${stats.iterations} inputs in ${secs.toFixed(1)} s (${Math.round(stats.iterations / secs)}/s), seed ${seed}`);
  out(`  per target: ${Object.entries(stats.perTarget).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out(`  accepted: ${stats.accepted}; slowest input ${stats.slowestMs.toFixed(1)} ms (${stats.slowestTarget})`);
  out(`  rejected by reason: ${Object.entries(stats.rejected).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' | ')}`);
  out(`  crashes: ${stats.crashCount}, hangs: 0`);
  for (const c of stats.crashes) out(`  CRASH in ${c.target}: ${c.error}\n    input: ${c.inputHex.slice(0, 400)}`);
  process.exitCode = stats.crashCount === 0 ? 0 : 1;
  void worker.terminate();
});
worker.on('error', (e) => {
  clearInterval(watch);
  process.stderr.write(`fuzz initdata: worker failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
worker.on('exit', () => {
  clearInterval(watch);
  if (hung) process.exitCode = 1;
});
