/**
 * `npm run fuzz -- attestation [iterations=1000000] [seed]`: feeds mutated SNP reports, TDX
 * quotes, TPM structures, HCL reports and event logs to the parsers (and some to full
 * verification). Passes when nothing but CocoletError is thrown and no input hangs: the loop runs
 * in a worker whose progress the main thread watches; no progress for HANG_MS is a hang.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { FuzzStats } from '../attestation/fuzz-engine.js';

const HANG_MS = 10_000;
const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0xc0c01e7);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- attestation [iterations] [seed]\n');
  process.exit(2);
}

const progress = new SharedArrayBuffer(4);
const counter = new Int32Array(progress);
const started = performance.now();
const worker = new Worker(fileURLToPath(new URL('../attestation/fuzz-worker.js', import.meta.url)), { workerData: { iterations, seed, progress } });

let last = -1;
let lastChange = performance.now();
let hung = false;
const watch = setInterval(() => {
  const done = Atomics.load(counter, 0);
  const now = performance.now();
  if (done !== last) {
    last = done;
    lastChange = now;
    process.stderr.write(`fuzz attestation: ${done}/${iterations}\r`);
  } else if (now - lastChange > HANG_MS) {
    hung = true;
    process.stderr.write(`\nfuzz attestation: HANG: no progress for ${HANG_MS} ms after ${done} iterations (seed ${seed})\n`);
    void worker.terminate();
  }
}, 1000);

worker.on('message', (stats: FuzzStats) => {
  clearInterval(watch);
  const secs = (performance.now() - started) / 1000;
  const out = (s: string): void => void process.stdout.write(s + '\n');
  out(`\nfuzz attestation: ${stats.iterations} inputs in ${secs.toFixed(1)} s (${Math.round(stats.iterations / secs)}/s), seed ${seed}`);
  out(`  per target (inputs / seconds): ${Object.entries(stats.perTarget).map(([k, v]) => `${k}=${v}/${((stats.timeMs[k] ?? 0) / 1000).toFixed(1)}s`).join(' ')}`);
  out(`  accepted: ${stats.accepted}`);
  out(`  rejected by reason: ${Object.entries(stats.rejected).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out(`  crashes: ${stats.crashCount}, hangs: 0`);
  for (const c of stats.crashes) out(`  CRASH in ${c.target}: ${c.error}\n    input: ${c.inputHex.slice(0, 400)}`);
  process.exitCode = stats.crashCount === 0 ? 0 : 1;
  void worker.terminate();
});
worker.on('error', (e) => {
  clearInterval(watch);
  process.stderr.write(`fuzz attestation: worker failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
worker.on('exit', () => {
  clearInterval(watch);
  if (hung) process.exitCode = 1;
});
