/**
 * The `sev-snp-measure` tool (PyPI) as a real peer for the SNP launch digest: installed once
 * into a venv under `<repo>/.cache/sev-snp-measure` (pinned version). `sevSnpMeasure()` returns
 * its path, or the one-line reason it cannot be had (no python3 venv, pip cannot reach PyPI).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../host/vmm/image.js';

export const SEV_SNP_MEASURE_VERSION = '0.0.13';

export function sevSnpMeasure(): { bin: string } | { skip: string } {
  const venv = join(repoRoot(), '.cache', 'sev-snp-measure');
  const bin = join(venv, 'bin', 'sev-snp-measure');
  if (existsSync(bin)) return { bin };
  const mk = spawnSync('python3', ['-m', 'venv', venv], { encoding: 'utf8' });
  if (mk.status !== 0) return { skip: `needs python3 with venv for sev-snp-measure (${(mk.stderr || mk.error?.message || '').trim().split('\n').pop()})` };
  const pip = spawnSync(join(venv, 'bin', 'pip'), ['install', '-q', `sev-snp-measure==${SEV_SNP_MEASURE_VERSION}`], { encoding: 'utf8', timeout: 300_000 });
  if (pip.status !== 0 || !existsSync(bin)) return { skip: `pip cannot install sev-snp-measure==${SEV_SNP_MEASURE_VERSION} (${(pip.stderr || '').trim().split('\n').pop()})` };
  return { bin };
}

/** Runs the peer; returns the hex measurement. */
export function peerMeasure(bin: string, args: string[]): string {
  const r = spawnSync(bin, ['--mode', 'snp', '--output-format', 'hex', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sev-snp-measure ${args.join(' ')} failed: ${r.stderr.trim()}`);
  const m = /([0-9a-f]{96})\s*$/.exec(r.stdout.trim());
  if (!m) throw new Error(`sev-snp-measure printed no measurement: ${r.stdout.trim()}`);
  return m[1]!;
}
