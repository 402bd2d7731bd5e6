/**
 * Locates the shared attestation fixtures for tests, benchmarks and fuzzing:
 * `$COCOLET_FIXTURES/attestation`, default `<repo root>/../shared/fixtures/attestation`.
 * Fixtures are read in place, never copied into the repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  if (process.env.COCOLET_ROOT) return process.env.COCOLET_ROOT;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 20; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

export function fixturesDir(): string {
  return resolve(process.env.COCOLET_FIXTURES ?? join(repoRoot(), '..', 'shared', 'fixtures'), 'attestation');
}

/** Null when the fixtures are absent; callers skip with a one-line reason. */
export function attestationFixtures(): string | null {
  const d = fixturesDir();
  return existsSync(join(d, 'manifest.json')) ? d : null;
}

/**
 * The published Arm CCA example token (trustee's `cca-example-token.cbor` + `cpak-pub.json`) is
 * third-party evidence: it is read from `$COCOLET_CCA_SAMPLES`, default
 * `<fixtures>/attestation/cca`, never from the repository. Null when absent.
 */
export function ccaSamplesDir(): string | null {
  const d = resolve(process.env.COCOLET_CCA_SAMPLES ?? join(fixturesDir(), 'cca'));
  return existsSync(join(d, 'cca-example-token.cbor')) && existsSync(join(d, 'cpak-pub.json')) ? d : null;
}

export const CCA_SAMPLES_ABSENT =
  'published CCA example token not found (set COCOLET_CCA_SAMPLES to a folder holding trustee\'s cca-example-token.cbor and cpak-pub.json)';

export const FIXTURES_ABSENT = 'attestation fixtures not found (set COCOLET_FIXTURES to the shared fixtures folder)';

export function fx(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(fixturesDir(), rel)));
}

export function fxText(rel: string): string {
  return readFileSync(join(fixturesDir(), rel), 'utf8');
}

export interface ManifestSample {
  id: string;
  dir: string;
  kind: string;
  expected: { verifies: boolean; verification_time?: string; [k: string]: unknown };
}

export function manifestSamples(): ManifestSample[] {
  return (JSON.parse(fxText('manifest.json')) as { samples: ManifestSample[] }).samples;
}

export function flip(b: Uint8Array, offset: number, xor = 0x01): Uint8Array {
  const c = new Uint8Array(b);
  c[offset] = c[offset]! ^ xor;
  return c;
}

export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.trim()}\n-----END CERTIFICATE-----\n`;
}
