/**
 * `npm run bench -- verify`: attestation signature verification throughput with a cached chain.
 *   - SEV-SNP report verifications/s (ECDSA P-384 / SHA-384) via node:crypto and @noble/curves
 *   - TDX quote verifications/s (two ECDSA P-256 checks per quote: QE report and quote) likewise
 *   - the raw ECDSA verify rate of each backend
 * Peer: `openssl speed -seconds 2 ecdsap384|ecdsap256` verify/s, measured in the same run. A TDX
 * quote needs two verifications, so its peer value is OpenSSL's verify/s divided by two.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { BenchReport } from '../report.js';
import { EcdsaPublicKey, type EcdsaBackend } from '../../shared/attestation/ecdsa.js';
import { loadSnpTrust, verifySnpWithTrust } from '../../shared/attestation/snp/verify.js';
import { verifyTdx, type VerifiedPckChain } from '../../shared/attestation/tdx/verify.js';
import { attestationFixtures, fx } from '../../shared/attestation/testing/fixtures.js';

const SECONDS = Number(process.env.COCOLET_BENCH_SECONDS ?? 2);

function opensslVerifyPerSec(alg: 'ecdsap384' | 'ecdsap256'): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('openssl', ['speed', '-seconds', '2', alg], { timeout: 60_000 }, (err, stdout) => {
      if (err) return reject(err);
      const line = stdout.split('\n').find((l) => /bits ecdsa/.test(l));
      const nums = line?.trim().split(/\s+/).map(Number).filter((n) => !Number.isNaN(n));
      const v = nums?.[nums.length - 1];
      if (!v) return reject(new Error(`cannot parse openssl speed output for ${alg}`));
      resolve(v);
    });
  });
}

/** Runs `fn` for about `seconds` (bounded by a hard iteration cap) and returns calls per second. */
function rate(fn: () => void, seconds = SECONDS): number {
  for (let i = 0; i < 50; i++) fn(); // warm-up
  const cap = 10_000_000;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let n = 0;
  while (n < cap) {
    for (let k = 0; k < 20; k++) fn();
    n += 20;
    if (performance.now() >= deadline) break;
  }
  return n / ((performance.now() - start) / 1000);
}

function assertOk(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench verify: ${what} did not verify; refusing to measure a failing path`);
}

async function main(): Promise<void> {
  const F = attestationFixtures();
  const report = new BenchReport('verify');
  // One at a time: the peer must not compete with itself (or with us) for the cores.
  const peers = (async () => [await opensslVerifyPerSec('ecdsap384'), await opensslVerifyPerSec('ecdsap256')] as const)();
  const [p384, p256] = await peers.catch((e: unknown) => {
    process.stderr.write(`bench verify: openssl speed failed (${String(e)}); is openssl installed?\n`);
    process.exit(1);
  });
  const backends: EcdsaBackend[] = ['node', 'noble'];

  // Raw ECDSA verification with each backend.
  for (const [curve, peer] of [['P-384', p384], ['P-256', p256]] as const) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const msg = new Uint8Array(curve === 'P-384' ? 672 : 632).fill(7);
    const sig = new Uint8Array(sign(curve === 'P-384' ? 'sha384' : 'sha256', msg, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    const key = EcdsaPublicKey.fromKeyObject(publicKey, 'bench');
    for (const b of backends) {
      assertOk(key.verify(msg, sig, b), `${curve} ${b}`);
      const r = rate(() => void key.verify(msg, sig, b));
      report.add({ figure: `ecdsa_${curve === 'P-384' ? 'p384' : 'p256'}_verify_per_s_${b}`, unit: 'verify/s', value: r, peer: 'openssl-speed', peer_value: peer, better: 'higher' });
    }
  }

  if (!F) {
    report.note('attestation fixtures absent: SNP/TDX evidence figures skipped (set COCOLET_FIXTURES)');
  } else {
    const trust = loadSnpTrust(fx('snp/milan-v2-virtee/vcek.der'), fx('snp/milan-v2-virtee/ask_ark_milan.pem'), new Date('2024-01-01T00:00:00Z'));
    const snp = fx('snp/milan-v2-virtee/report.bin');
    for (const b of backends) {
      assertOk(verifySnpWithTrust(snp, trust, { ecdsaBackend: b }).verified, `SNP report (${b})`);
      const r = rate(() => void verifySnpWithTrust(snp, trust, { ecdsaBackend: b }));
      report.add({ figure: `snp_report_verify_per_s_${b}`, unit: 'report/s', value: r, peer: 'openssl-speed', peer_value: p384, better: 'higher' });
    }
    const quote = fx('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin');
    const at = new Date('2023-07-01T01:00:00Z');
    for (const b of backends) {
      const cache = new Map<string, VerifiedPckChain>();
      assertOk(verifyTdx({ quote }, { at, chainCache: cache, ecdsaBackend: b, allowNoCollateral: true }).verified, `TDX quote (${b})`);
      const r = rate(() => void verifyTdx({ quote }, { at, chainCache: cache, ecdsaBackend: b, allowNoCollateral: true }));
      report.add({ figure: `tdx_quote_verify_per_s_${b}`, unit: 'quote/s', value: r, peer: 'openssl-speed', peer_value: p256 / 2, better: 'higher' });
    }
    for (const b of backends) {
      const cache = new Map<string, VerifiedPckChain>();
      const o = { at, chainCache: cache, cacheQeReports: true, ecdsaBackend: b, allowNoCollateral: true };
      assertOk(verifyTdx({ quote }, o).verified, `TDX quote, QE report cached (${b})`);
      const r = rate(() => void verifyTdx({ quote }, o));
      report.add({ figure: `tdx_quote_verify_qe_cached_per_s_${b}`, unit: 'quote/s', value: r, peer: 'openssl-speed', peer_value: p256, better: 'higher' });
    }
    report.note('SNP: one ECDSA P-384 verification per report, chain cached (loadSnpTrust once); peer = openssl speed ecdsap384 verify/s');
    report.note('TDX figures are signature throughput: collateral is waived (allowNoCollateral), the PCK chain ends at the built-in Intel root');
    report.note('TDX: two ECDSA P-256 verifications per quote (QE report by PCK, quote by attestation key), PCK chain cached; peer = openssl speed ecdsap256 verify/s / 2');
    report.note('TDX qe_cached: QE report signature also cached (same QE, same attestation key): one ECDSA P-256 verification per quote; peer = openssl speed ecdsap256 verify/s');
  }
  report.print();
}

void main();
