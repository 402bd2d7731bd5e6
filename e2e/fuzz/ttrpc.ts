/**
 * `npm run fuzz -- ttrpc [frames=1000000] [seed]`: random and mutated ttrpc frames against a live
 * cocolet ttrpc server process. Passes with zero crashes, zero hangs (every probe answered) and
 * the server's memory bounded (RSS growth under 256 MiB).
 */
import { runFuzz } from '../ttrpc/fuzz-engine.js';

const frames = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0x77a9c);
if (!Number.isSafeInteger(frames) || frames <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- ttrpc [frames] [seed]\n');
  process.exit(2);
}
const MAX_GROWTH = 256 * 1024 * 1024;

const stats = await runFuzz({ frames, seed, onProgress: (n) => process.stderr.write(`fuzz ttrpc: ${n}/${frames}\r`) });
const growth = stats.maxRssBytes - stats.startRssBytes;
const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
process.stderr.write('\n');
process.stdout.write(
  `fuzz ttrpc: ${stats.frames} frames, ${stats.connections} connections, ${mib(stats.bytes)} MiB sent, ${mib(stats.receivedBytes)} MiB answered in ${stats.seconds.toFixed(1)} s (seed ${seed}); ` +
    `crashes ${stats.crashes}, hangs ${stats.hangs}, probes answered ${stats.probes}; server RSS ${mib(stats.startRssBytes)} -> max ${mib(stats.maxRssBytes)} MiB\n`,
);
if (stats.failure) {
  process.stdout.write(`fuzz ttrpc: FAIL: ${stats.failure}\n`);
  process.exit(1);
}
if (growth > MAX_GROWTH) {
  process.stdout.write(`fuzz ttrpc: FAIL: server memory grew by ${mib(growth)} MiB\n`);
  process.exit(1);
}
process.stdout.write('fuzz ttrpc: PASS\n');
