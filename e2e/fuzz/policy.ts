/**
 * `npm run fuzz -- policy [iterations=1000000] [seed]`: agent requests of every method (hostile
 * dictionary values and byte-mutated, decoded protobuf) through the real policy gate under the
 * confidential default and a generated 20-container policy. Passes with zero crashes (a throw other
 * than a policy denial), zero unsafe allowances (an allowed CreateContainer the independent oracle
 * or the sanitised runc config shows beyond an ordinary pod) and zero hangs (watched worker).
 */
import { runWatchedFuzz } from '../support/fuzz-worker.js';
import type { PolicyFuzzStats } from '../guest/policy-fuzz.js';

const iterations = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 0x9011c7);
if (!Number.isSafeInteger(iterations) || iterations <= 0 || !Number.isSafeInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- policy [iterations] [seed]\n');
  process.exit(2);
}

const data = { iterations, seed, target: 'requests' };
const r = await runWatchedFuzz<PolicyFuzzStats>('policy', new URL('../guest/policy-fuzz-worker.js', import.meta.url), data);
const out = (s: string): void => void process.stdout.write(s + '\n');
if (r.error) out(`fuzz policy: worker failed: ${r.error.stack ?? r.error.message}`);
const stats = r.stats;
if (stats) {
  const sum = (suffix: string): number => Object.entries(stats.outcomes).filter(([k]) => k.endsWith(suffix)).reduce((a, [, v]) => a + v, 0);
  out(`fuzz policy: ${stats.iterations} requests in ${stats.seconds.toFixed(1)} s (${Math.round(stats.iterations / stats.seconds)}/s), seed ${seed}; slowest decision ${stats.maxDecisionMs.toFixed(2)} ms`);
  out(`  allowed ${sum(':allowed')} (CreateContainer ${stats.outcomes['CreateContainer:allowed'] ?? 0}), denied ${sum(':denied')}, undecodable ${stats.outcomes.undecodable ?? 0}`);
  out(`  denials by rule: ${Object.entries(stats.rules).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out(`  crashes: ${stats.crashes}, unsafe allowances: ${stats.unsafe}, hangs: ${r.hung ? 1 : 0}`);
  for (const f of stats.findings) out(`  ${f.kind.toUpperCase()} at input ${f.iteration}: ${f.detail}`);
}
const pass = !!stats && !r.hung && !r.error && stats.crashes === 0 && stats.unsafe === 0;
out(`fuzz policy: ${pass ? 'PASS' : 'FAIL'}`);
process.exitCode = pass ? 0 : 1;
