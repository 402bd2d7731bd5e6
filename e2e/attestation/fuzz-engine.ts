/**
 * Mutation fuzzing of the attestation parsers (and, sometimes, full verification with a cached
 * chain): real samples as seeds, bit flips, interesting bytes, length-field smashing,
 * truncation and extension. The only failures allowed are CocoletErrors; anything else thrown
 * is a crash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpakFrom, verifyCca } from '../../shared/attestation/cca/verify.js';
import { CocoletError } from '../../shared/errors/errors.js';
import { parseHclReport } from '../../shared/attestation/azure/hcl.js';
import { parseEventLog } from '../../shared/attestation/eventlog.js';
import { parseSnpReport, SNP_REPORT_SIZE } from '../../shared/attestation/snp/report.js';
import { loadSnpTrust, verifySnpWithTrust, type SnpTrust } from '../../shared/attestation/snp/verify.js';
import { parseTdxQuote } from '../../shared/attestation/tdx/quote.js';
import { verifyTdx, type VerifiedPckChain } from '../../shared/attestation/tdx/verify.js';
import type { TdxCollateral } from '../../shared/attestation/tdx/collateral.js';
import { parseTpmsAttest, parseTpmtPublic, parseTpmtSignature } from '../../shared/attestation/tpm/structures.js';
import { attestationFixtures, ccaSamplesDir, fx } from '../../shared/attestation/testing/fixtures.js';
import { EvidenceError } from '../../shared/attestation/errors.js';
import { parseCertificate } from '../../shared/attestation/certs.js';
import { Rng } from '../../shared/testing/rng.js';

export interface Target {
  name: string;
  seeds: Uint8Array[];
  run: (input: Uint8Array) => unknown;
}

export interface Crash {
  target: string;
  error: string;
  inputHex: string;
}

export interface FuzzStats {
  iterations: number;
  accepted: number;
  rejected: Record<string, number>;
  perTarget: Record<string, number>;
  /** Milliseconds spent in each target. */
  timeMs: Record<string, number>;
  crashes: Crash[];
  crashCount: number;
}

/** xorshift32: deterministic, seedable. */

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x40];

export function mutate(seed: Uint8Array, rng: Rng): Uint8Array {
  let b = new Uint8Array(seed);
  const rounds = 1 + rng.below(4);
  for (let i = 0; i < rounds; i++) {
    const op = rng.below(10);
    if (b.length === 0) b = new Uint8Array(1 + rng.below(64));
    const at = rng.below(b.length);
    if (op <= 3) b[at] = b[at]! ^ (1 << rng.below(8));
    else if (op <= 5) b[at] = INTERESTING[rng.below(INTERESTING.length)]!;
    else if (op === 6) {
      // smash a 16/32-bit length-like field
      const w = rng.below(2) === 0 ? 2 : 4;
      for (let k = 0; k < w && at + k < b.length; k++) b[at + k] = rng.below(2) === 0 ? 0xff : rng.below(256);
    } else if (op === 7) b = b.subarray(0, rng.below(b.length + 1));
    else if (op === 8) {
      const ext = new Uint8Array(b.length + 1 + rng.below(64));
      ext.set(b);
      for (let k = b.length; k < ext.length; k++) ext[k] = rng.below(256);
      b = ext;
    } else {
      // copy a chunk within the buffer (structure-aware-ish splicing)
      const len = rng.below(32);
      const from = rng.below(b.length);
      b.copyWithin(at, from, Math.min(b.length, from + len));
    }
  }
  return b;
}

function syntheticSnp(): Uint8Array {
  const r = new Uint8Array(SNP_REPORT_SIZE);
  r[0] = 2;
  r[0x34] = 1;
  return r;
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

export function buildTargets(): Target[] {
  const F = attestationFixtures();
  const get = (rel: string): Uint8Array[] => (F && existsSync(`${F}/${rel}`) ? [fx(rel)] : []);
  const snpSeeds = [...get('snp/milan-v2-virtee/report.bin'), ...get('snp/milan-v2-go-sev-guest/report.bin'), syntheticSnp()];
  const tdxSeeds = [...get('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin'), ...get('tdx/v5-tdx15-go-tdx-guest/quote.bin')];
  const tpmDirs = ['tpm/gce-vtpm-cos85-nonce9009-go-tpm-tools', 'tpm/gce-vtpm-cos85-no-nonce-go-tpm-tools'];
  const attestSeeds = [...tpmDirs.flatMap((d) => get(`${d}/quote_sha256.tpms_attest.bin`)), ...get('tpm/azure-vtpm-kinvolk/quote.tpms_attest.bin')];
  const sigSeeds = tpmDirs.flatMap((d) => get(`${d}/quote_sha256.tpmt_signature.bin`));
  const pubSeeds = get('tpm/gce-vtpm-cos85-nonce9009-go-tpm-tools/ak_pub.tpmt_public.bin');
  const hclSeeds = get('snp/azure-hcl-milan-kinvolk/hcl-report-snp.bin');
  // keep event-log seeds short so each iteration stays cheap: the first events of the real log
  const logSeeds = get('tpm/gce-vtpm-cos85-nonce9009-go-tpm-tools/event_log.bin').map((b) => b.subarray(0, 2048));
  const targets: Target[] = [
    { name: 'snp-report', seeds: snpSeeds, run: parseSnpReport },
    { name: 'tpms-attest', seeds: attestSeeds.length ? attestSeeds : [new Uint8Array([0xff, 0x54, 0x43, 0x47, 0x80, 0x18])], run: parseTpmsAttest },
    { name: 'tpmt-signature', seeds: sigSeeds.length ? sigSeeds : [new Uint8Array([0, 0x14, 0, 0x0b, 0, 2, 1, 2])], run: parseTpmtSignature },
    { name: 'tpmt-public', seeds: pubSeeds.length ? pubSeeds : [new Uint8Array([0, 1, 0, 0x0b, 0, 0, 0, 0, 0, 0])], run: parseTpmtPublic },
    { name: 'event-log', seeds: logSeeds.length ? logSeeds : [new Uint8Array(64)], run: (b) => parseEventLog(b) },
  ];
  targets.push({ name: 'tdx-quote', seeds: tdxSeeds.length ? tdxSeeds : [new Uint8Array([4, 0, 2, 0, 0x81, 0, 0, 0])], run: parseTdxQuote });
  targets.push({
    name: 'hcl-report',
    seeds: hclSeeds.length ? hclSeeds : [new Uint8Array([...new TextEncoder().encode('HCLA'), ...new Uint8Array(28 + 1184), ...u32le(0)])],
    run: parseHclReport,
  });
  const ccaDir = ccaSamplesDir();
  if (ccaDir) {
    const cpak = cpakFrom(new Uint8Array(readFileSync(join(ccaDir, 'cpak-pub.json'))));
    targets.push({ name: 'cca-token', seeds: [new Uint8Array(readFileSync(join(ccaDir, 'cca-example-token.cbor')))], run: (b) => verifyCca({ token: b, platformKey: cpak }) });
  }
  const vcek = get('snp/milan-v2-virtee/vcek.der');
  if (vcek.length) targets.push({ name: 'x509', seeds: vcek, run: (b) => parseCertificate(b, 'fuzz') });
  const C = 'tdx/v4-tdx10-spr-e4-go-tdx-guest/collateral';
  const tcbInfo = get(`${C}/tcb_info.json`);
  const v4 = get('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin')[0];
  if (tcbInfo.length && v4 && F) {
    // Complete collateral (no waiver needed), one piece replaced by the mutated input.
    const text = (n: string): string => Buffer.from(fx(`${C}/${n}`)).toString('latin1');
    const col: TdxCollateral = {
      tcbInfo: text('tcb_info.json'),
      tcbInfoIssuerChain: text('tcb_info_issuer_chain.pem'),
      qeIdentity: text('qe_identity.json'),
      qeIdentityIssuerChain: text('qe_identity_issuer_chain.pem'),
      pckCrl: fx(`${C}/pck_crl_platform.der`),
      rootCrl: fx(`${C}/root_ca_crl.der`),
    };
    const chainCache = new Map<string, VerifiedPckChain>();
    const o = { at: new Date('2023-07-01T01:00:00Z'), chainCache, cacheQeReports: true };
    targets.push({
      name: 'tcb-info-verify',
      seeds: tcbInfo,
      run: (b) => verifyTdx({ quote: v4, collateral: { ...col, tcbInfo: Buffer.from(b).toString('latin1') } }, o),
    });
    targets.push({
      name: 'crl-verify',
      seeds: [col.pckCrl!],
      run: (b) => verifyTdx({ quote: v4, collateral: { ...col, pckCrl: b } }, o),
    });
  }
  // Full verification with a cached chain: exercises the signature paths on mutated input.
  if (F) {
    let trust: SnpTrust | undefined;
    try {
      trust = loadSnpTrust(fx('snp/milan-v2-virtee/vcek.der'), fx('snp/milan-v2-virtee/ask_ark_milan.pem'), new Date('2024-01-01T00:00:00Z'));
    } catch {
      trust = undefined;
    }
    if (trust) {
      const t = trust;
      targets.push({ name: 'snp-verify', seeds: snpSeeds.slice(0, 1), run: (b) => verifySnpWithTrust(b, t) });
    }
    // Chain building against the built-in roots: mutated VCEKs (names, keys, extensions, signatures).
    const askArk = get('snp/milan-v2-virtee/ask_ark_milan.pem')[0];
    if (vcek.length && askArk) {
      const at = new Date('2024-01-01T00:00:00Z');
      targets.push({ name: 'snp-chain-verify', seeds: vcek, run: (b) => loadSnpTrust(b, askArk, at) });
    }
    if (tdxSeeds.length) {
      targets.push({ name: 'tdx-verify', seeds: tdxSeeds.slice(0, 1), run: (b) => verifyTdx({ quote: b }, { at: new Date('2023-07-01T01:00:00Z'), allowNoCollateral: true }) });
    }
  }
  return targets;
}

/** Relative frequency of each target: full verifications cost ~100x a parse. */
function weight(t: Target): number {
  return t.name.endsWith('-verify') || t.name === 'cca-token' ? 1 : t.name === 'x509' ? 1 : 30;
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  /** Called every `progressEvery` iterations with the count done so far. */
  onProgress?: (done: number, current: string) => void;
  progressEvery?: number;
  maxCrashesKept?: number;
}

export function fuzz(targets: Target[], opts: FuzzOptions): FuzzStats {
  const rng = new Rng(opts.seed);
  const stats: FuzzStats = { iterations: 0, accepted: 0, rejected: {}, perTarget: {}, timeMs: {}, crashes: [], crashCount: 0 };
  const table: Target[] = [];
  for (const t of targets) for (let i = 0; i < weight(t); i++) table.push(t);
  const every = opts.progressEvery ?? 1000;
  for (let i = 0; i < opts.iterations; i++) {
    const t = table[rng.below(table.length)]!;
    const input = mutate(t.seeds[rng.below(t.seeds.length)]!, rng);
    if (opts.onProgress && i % every === 0) opts.onProgress(i, t.name);
    stats.perTarget[t.name] = (stats.perTarget[t.name] ?? 0) + 1;
    const t0 = performance.now();
    try {
      const r = t.run(input) as { verified?: boolean; reasonCode?: string } | undefined;
      if (r && r.verified === false) stats.rejected[r.reasonCode ?? 'unknown'] = (stats.rejected[r.reasonCode ?? 'unknown'] ?? 0) + 1;
      else stats.accepted++;
    } catch (e) {
      if (e instanceof CocoletError) {
        const k = e instanceof EvidenceError ? e.reason : e.code;
        stats.rejected[k] = (stats.rejected[k] ?? 0) + 1;
      } else {
        stats.crashCount++;
        if (stats.crashes.length < (opts.maxCrashesKept ?? 10)) {
          stats.crashes.push({ target: t.name, error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e), inputHex: Buffer.from(input).toString('hex') });
        }
      }
    }
    stats.timeMs[t.name] = (stats.timeMs[t.name] ?? 0) + (performance.now() - t0);
    stats.iterations++;
  }
  opts.onProgress?.(opts.iterations, 'done');
  return stats;
}
