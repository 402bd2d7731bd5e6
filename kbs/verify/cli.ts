/**
 * `cocolet-kbs verify --tee <tee> ...`: verifies one piece of evidence offline and prints ONE
 * JSON object {"verified","tee","reason","claims"}. Exit 0 verified, 1 not verified, 2 usage.
 * Defaults are the library's strict ones (built-in vendor roots, collateral and a trusted TPM AK
 * required, VMPL 0); every --allow-* flag used is listed in the claims' `waivers`.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  isEvidenceError,
  loadTrustStore,
  parseAkPin,
  parseTcbSpec,
  verifyAzSnp,
  verifyAzTdx,
  verifyCca,
  verifySnp,
  verifyTdx,
  verifyTpm,
  type PcrValues,
  type TeeType,
  type TrustStore,
  type VerifyOptions,
  type VerifyResult,
} from '../../shared/attestation/index.js';
import { readCollateralDir } from './collateral-dir.js';

export const VERIFY_USAGE = `usage: cocolet-kbs verify --tee snp|tdx|tpm|az-snp-vtpm|az-tdx-vtpm|cca [options]
evidence:    --report FILE (snp)  --quote FILE (tdx quote, or TPMS_ATTEST for tpm/az-*)  --signature FILE
             --hcl FILE  --tdx-quote FILE  --token FILE (cca)  --pcrs FILE  --event-log FILE
             --cert FILE (leaf: DER, PEM, SPKI or TPMT_PUBLIC; for cca the CPAK, also as JWK JSON)
             --chain FILE (snp: ASK/ARK bundle, optional; tpm: the AK certificate's issuers)
             --collateral DIR (tdx: Intel PCS TCB info, QE identity, CRLs)
trust:       --trust-roots DIR|FILE  replaces the built-in AMD ARK/ASK and Intel SGX Root CA
             --ak-roots DIR|FILE  --ak-pin SHA256 (of the AK's DER SubjectPublicKeyInfo; repeatable)
expect:      --nonce HEX  --report-data HEX  --at ISO-8601
             --min-tcb bl=N,tee=N,snp=N,ucode=N[,fmc=N]  --vmpl N (default 0)
waivers:     --allow-debug  --allow-sha1  --allow-no-collateral  --allow-untrusted-ak
             (each one used is listed in the claims' "waivers")
output:      one JSON object; exit 0 verified, 1 not verified, 2 usage error`;

export const TEES: readonly TeeType[] = ['snp', 'tdx', 'tpm', 'az-snp-vtpm', 'az-tdx-vtpm', 'cca'];

export class UsageError extends Error {}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const OPTIONS = {
  tee: { type: 'string' },
  report: { type: 'string' },
  quote: { type: 'string' },
  signature: { type: 'string' },
  hcl: { type: 'string' },
  'tdx-quote': { type: 'string' },
  token: { type: 'string' },
  pcrs: { type: 'string' },
  'event-log': { type: 'string' },
  cert: { type: 'string' },
  chain: { type: 'string' },
  collateral: { type: 'string' },
  nonce: { type: 'string' },
  'report-data': { type: 'string' },
  at: { type: 'string' },
  'allow-debug': { type: 'boolean' },
  'allow-sha1': { type: 'boolean' },
  'trust-roots': { type: 'string' },
  'min-tcb': { type: 'string' },
  vmpl: { type: 'string' },
  'allow-no-collateral': { type: 'boolean' },
  'ak-roots': { type: 'string' },
  'ak-pin': { type: 'string', multiple: true },
  'allow-untrusted-ak': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
}

function file(v: Values, name: keyof Values, required: true): Uint8Array;
function file(v: Values, name: keyof Values, required?: false): Uint8Array | undefined;
function file(v: Values, name: keyof Values, required = false): Uint8Array | undefined {
  const p = v[name];
  if (typeof p !== 'string') {
    if (required) throw new UsageError(`--${name} is required for --tee ${String(v.tee)}`);
    return undefined;
  }
  try {
    return new Uint8Array(readFileSync(p));
  } catch (e) {
    throw new UsageError(`--${name}: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function hexArg(v: Values, name: 'nonce' | 'report-data'): Uint8Array | undefined {
  const s = v[name];
  if (s === undefined) return undefined;
  const t = s.replace(/^0x/i, '');
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) throw new UsageError(`--${name} must be an even-length hex string`);
  return new Uint8Array(Buffer.from(t, 'hex'));
}

function pcrsArg(v: Values): PcrValues | undefined {
  const b = file(v, 'pcrs');
  if (!b) return undefined;
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(b).toString('utf8'));
  } catch {
    throw new UsageError('--pcrs: not JSON');
  }
  const o = j as { hash?: unknown; pcrs?: unknown };
  if (typeof o.hash !== 'string' || typeof o.pcrs !== 'object' || o.pcrs === null) throw new UsageError('--pcrs: expected {"hash":"sha256","pcrs":{"0":"<hex>",...}}');
  if (!['sha1', 'sha256', 'sha384', 'sha512'].includes(o.hash)) throw new UsageError(`--pcrs: hash ${o.hash} is not sha1, sha256, sha384 or sha512`);
  return { hash: o.hash as PcrValues['hash'], pcrs: o.pcrs as Record<string, string> };
}

function options(v: Values): VerifyOptions {
  const opts: VerifyOptions = {};
  if (v.at !== undefined) {
    const at = new Date(v.at);
    if (Number.isNaN(at.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(v.at)) throw new UsageError('--at must be an ISO-8601 date-time');
    opts.at = at;
  }
  const nonce = hexArg(v, 'nonce');
  if (nonce) opts.nonce = nonce;
  const rd = hexArg(v, 'report-data');
  if (rd) opts.reportData = rd;
  if (v['allow-debug']) opts.allowDebug = true;
  if (v['allow-sha1']) opts.allowSha1 = true;
  if (v['allow-no-collateral']) opts.allowNoCollateral = true;
  if (v['allow-untrusted-ak']) opts.allowUntrustedAk = true;
  if (v['trust-roots'] !== undefined) opts.trustRoots = store(v['trust-roots'], 'trust-roots');
  if (v['ak-roots'] !== undefined) opts.akRoots = store(v['ak-roots'], 'ak-roots');
  if (v['ak-pin'] !== undefined) {
    opts.akPins = v['ak-pin'].map((p) => parseAkPin(p) ?? usage(`--ak-pin ${p} is not a SHA-256 (64 hex digits) of the AK's DER SubjectPublicKeyInfo`));
  }
  if (v['min-tcb'] !== undefined) {
    try {
      opts.minTcb = parseTcbSpec(v['min-tcb']);
    } catch (e) {
      usage(`--min-tcb: ${(e as Error).message}`);
    }
  }
  if (v.vmpl !== undefined) {
    if (!/^[0-3]$/.test(v.vmpl)) usage('--vmpl must be 0, 1, 2 or 3');
    opts.vmpl = Number(v.vmpl);
  }
  return opts;
}

function usage(message: string): never {
  throw new UsageError(message);
}

function store(path: string, flag: string): TrustStore {
  try {
    return loadTrustStore(path);
  } catch (e) {
    return usage(`--${flag}: ${isEvidenceError(e) ? e.message : String(e)}`);
  }
}

function collateral(v: Values) {
  if (v.collateral === undefined) return undefined;
  try {
    if (!statSync(v.collateral).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new UsageError(`--collateral: ${v.collateral} is not a directory`);
  }
  return readCollateralDir(v.collateral);
}

function vtpm(v: Values) {
  const quote = file(v, 'quote');
  if (!quote) return undefined;
  const pcrs = pcrsArg(v);
  return { quote, signature: file(v, 'signature', true), ...(pcrs ? { pcrs } : {}) };
}

/** A TDX quote carries its PCK chain; the root it must end at is the trust store's. */
function noChain(v: Values, tee: string): void {
  if (v.chain !== undefined) usage(`--chain is not used for --tee ${tee}: the quote carries its PCK chain, which must end at the built-in Intel SGX Root CA (replace it with --trust-roots)`);
}

/** Runs the verification the arguments describe; throws UsageError for bad arguments. */
export function verifyFromArgs(v: Values): VerifyResult {
  const tee = v.tee;
  if (tee === undefined) throw new UsageError('--tee is required');
  if (!(TEES as readonly string[]).includes(tee)) {
    throw new UsageError(`--tee ${tee} is not one of ${TEES.join(', ')}`);
  }
  const opts = options(v);
  if (v.nonce !== undefined && (tee === 'snp' || tee === 'tdx')) {
    throw new UsageError(`--nonce is checked against TPM qualifying data or a CCA challenge; for --tee ${tee} give the expected report data with --report-data`);
  }
  const col = collateral(v);
  const log = file(v, 'event-log');
  switch (tee as TeeType) {
    case 'snp': {
      const chain = file(v, 'chain');
      return verifySnp({ report: file(v, 'report', true), leaf: file(v, 'cert', true), ...(chain ? { chain } : {}) }, opts);
    }
    case 'tdx': {
      noChain(v, tee);
      const quote = file(v, 'quote') ?? file(v, 'tdx-quote', true);
      return verifyTdx({ quote, ...(col ? { collateral: col } : {}), ...(log ? { eventLog: log } : {}) }, opts);
    }
    case 'tpm': {
      const pcrs = pcrsArg(v);
      const chain = file(v, 'chain');
      return verifyTpm(
        { quote: file(v, 'quote', true), signature: file(v, 'signature', true), ak: file(v, 'cert', true), ...(chain ? { akChain: chain } : {}), ...(pcrs ? { pcrs } : {}), ...(log ? { eventLog: log } : {}) },
        opts,
      );
    }
    case 'az-snp-vtpm': {
      const chain = file(v, 'chain');
      const q = vtpm(v);
      return verifyAzSnp({ hcl: file(v, 'hcl', true), leaf: file(v, 'cert', true), ...(chain ? { chain } : {}), ...(q ? { vtpm: q } : {}) }, opts);
    }
    case 'az-tdx-vtpm': {
      noChain(v, tee);
      const q = vtpm(v);
      return verifyAzTdx(
        { hcl: file(v, 'hcl', true), tdQuote: file(v, 'tdx-quote', true), ...(col ? { collateral: col } : {}), ...(q ? { vtpm: q } : {}) },
        opts,
      );
    }
    case 'cca':
      return verifyCca({ token: file(v, 'token', true), platformKey: file(v, 'cert', true) }, opts);
    default:
      throw new UsageError(`--tee ${tee} is not supported`);
  }
}

export function runVerify(argv: string[], io: CliIo): number {
  let values: Values;
  try {
    values = parse(argv).values;
  } catch (e) {
    io.err(`cocolet-kbs verify: ${e instanceof Error ? e.message : String(e)}\n${VERIFY_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(VERIFY_USAGE);
    return 0;
  }
  let result: VerifyResult;
  try {
    result = verifyFromArgs(values);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`cocolet-kbs verify: ${e.message}\n${VERIFY_USAGE}`);
      return 2;
    }
    throw e;
  }
  const out: Record<string, unknown> = { verified: result.verified, tee: result.tee };
  if (!result.verified) out.reason = result.reason;
  out.claims = result.claims;
  io.out(JSON.stringify(out, (_k, val: unknown) => (typeof val === 'bigint' ? val.toString() : val)));
  return result.verified ? 0 : 1;
}
