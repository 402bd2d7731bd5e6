/**
 * The broker under benchmark, in its own process: `node server.js verify|noverify|sample <ak-pins> <pcr0s> <resource>` (comma-separated lists).
 * `noverify` replaces evidence verification by a parse of the PCR values (no signature, binding,
 * AK or init-data check): the broker's own overhead, the benchmark's peer. It exists only here.
 * `sample` is the unchanged broker accepting trustee's sample TEE (allowSample, allow-all policy):
 * the evidence trustee's kbs can verify here, for the trustee peer column.
 * Prints one JSON line {"url"} when listening; stops on SIGTERM.
 */
import { createHash } from 'node:crypto';
import { parseTpmEvidence } from '../../shared/kbs/evidence.js';
import { startTestBroker } from '../../kbs/testing/broker.js';
import type { VerifiedEvidence } from '../../kbs/attest/evidence.js';

async function main(): Promise<void> {
  const [mode, pins, pcr0s, resource] = process.argv.slice(2);
  if ((mode !== 'verify' && mode !== 'noverify' && mode !== 'sample') || !pins || !pcr0s || !resource) {
    process.stderr.write('usage: server.js verify|noverify|sample <ak-pin,...> <pcr0-hex,...> <resource-path>\n');
    process.exit(2);
  }
  const noVerify = (input: { primary: unknown }): VerifiedEvidence => ({ facts: { tee: 'tpm', pcrs: parseTpmEvidence(input.primary).pcrs }, teeClaims: {}, waivers: [] });
  const b = await startTestBroker({ tpmAkPins: pins.split(','), ...(mode === 'noverify' ? { verify: noVerify } : {}) });
  b.state.setReferenceValues('default', { allowDevelopmentTee: true, pcrs: { '0': pcr0s.split(',') }, ...(mode === 'sample' ? { allowSample: true } : {}) });
  if (mode === 'sample') b.state.setResourcePolicy(JSON.stringify({ rules: [{ resource: '*/*/*', allow: true }] }));
  b.state.setResource(resource, new Uint8Array(createHash('sha256').update('bench').digest()));
  process.stdout.write(JSON.stringify({ url: b.url }) + '\n');
  process.once('SIGTERM', () => void b.dispose().then(() => process.exit(0)));
}

void main();
