import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCertificates } from '../certs.js';
import { trustStoreFrom, type TrustStore } from '../trust.js';
import { attestationFixtures, FIXTURES_ABSENT, flip, fx, fxText, manifestSamples } from '../testing/fixtures.js';
import { evaluateTdxTcb, type TdxCollateral, type TdxTcbInfo } from './collateral.js';
import { pckInfo } from './pck.js';
import { parseTdxQuote } from './quote.js';
import { verifyTdx, type TdxVerifyOptions } from './verify.js';

const have = attestationFixtures() !== null;
const V4 = 'tdx/v4-tdx10-spr-e4-go-tdx-guest';
const V5 = 'tdx/v5-tdx15-go-tdx-guest';
const GCE = 'tdx/v4-gce-cos113-ccel-go-tdx-guest';
const AT_V4 = new Date('2023-07-01T01:00:00Z');
const AT_V5 = new Date('2026-02-03T01:00:00Z');
const AT_GCE = new Date('2025-01-01T00:00:00Z');
const INTEL_ROOT_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

/** Most cases check the quote itself; the collateral rule has its own cases below. */
const NO_COL = { allowNoCollateral: true } as const;

function v4Collateral(): TdxCollateral {
  const c = `${V4}/collateral`;
  return {
    tcbInfo: fxText(`${c}/tcb_info.json`),
    tcbInfoIssuerChain: fxText(`${c}/tcb_info_issuer_chain.pem`),
    qeIdentity: fxText(`${c}/qe_identity.json`),
    qeIdentityIssuerChain: fxText(`${c}/qe_identity_issuer_chain.pem`),
    pckCrl: fx(`${c}/pck_crl_platform.der`),
    pckCrlIssuerChain: fxText(`${c}/pck_crl_issuer_chain.pem`),
    rootCrl: fx(`${c}/root_ca_crl.der`),
  };
}

test('every TDX fixture sample has the outcome the manifest gives', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  for (const s of manifestSamples().filter((m) => m.kind.startsWith('tdx-quote'))) {
    await t.test(s.id, () => {
      const at = s.expected.verification_time ? new Date(s.expected.verification_time) : AT_GCE;
      const r = verifyTdx({ quote: fx(`${s.dir}/quote.bin`) }, { at, ...NO_COL });
      assert.equal(r.verified, s.expected.verifies, r.reason);
      assert.equal(r.claims.fmspc, s.expected.fmspc);
      if (typeof s.expected.report_data_hex === 'string') assert.equal(r.claims.report_data, s.expected.report_data_hex);
      assert.equal(r.claims.debug, false);
    });
  }
});

test('TDX upstream negative mutations (go-tdx-guest TestNegativeVerification)', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const codes: Record<number, string> = {
    0: 'tdx.version',
    30: 'tdx.quote-signature',
    60: 'tdx.quote-signature',
    2935: 'cert.signature',
    3935: 'cert.signature',
    4905: 'cert.signature',
    4931: 'cert.malformed',
    632: 'tdx.cert-data',
  };
  const manifest = manifestSamples().find((m) => m.dir === V4)!;
  const quote = fx(`${V4}/quote.bin`);
  for (const m of manifest.expected.negative_mutations as { byte: number; set: number; expect: string }[]) {
    await t.test(`byte ${m.byte} := ${m.set} (${m.expect})`, () => {
      const q = new Uint8Array(quote);
      q[m.byte] = m.set;
      const r = verifyTdx({ quote: q }, { at: AT_V4, ...NO_COL });
      assert.equal(r.verified, false);
      assert.equal(r.reasonCode, codes[m.byte], r.reason);
    });
  }
});

interface Case {
  name: string;
  code: string | null;
  quote?: () => Uint8Array;
  trustRoots?: () => TrustStore;
  collateral?: () => TdxCollateral;
  eventLog?: () => Uint8Array;
  opts?: TdxVerifyOptions;
  check?: (claims: Record<string, unknown>) => void;
}

const cases: Case[] = [
  { name: 'flipped byte in MRTD', code: 'tdx.quote-signature', quote: () => flip(fx(`${V4}/quote.bin`), 48 + 136) },
  { name: 'flipped byte in report_data', code: 'tdx.quote-signature', quote: () => flip(fx(`${V4}/quote.bin`), 48 + 520) },
  { name: 'flipped byte in quote signature', code: 'tdx.quote-signature', quote: () => flip(fx(`${V4}/quote.bin`), 636) },
  { name: 'flipped byte in attestation key', code: 'tdx.ak-binding', quote: () => flip(fx(`${V4}/quote.bin`), 636 + 64) },
  { name: 'flipped byte in QE report', code: 'tdx.qe-report-signature', quote: () => flip(fx(`${V4}/quote.bin`), 636 + 128 + 6 + 10) },
  { name: 'flipped byte in QE report signature', code: 'tdx.qe-report-signature', quote: () => flip(fx(`${V4}/quote.bin`), 636 + 128 + 6 + 384) },
  { name: 'flipped byte in QE auth data', code: 'tdx.ak-binding', quote: () => flip(fx(`${V4}/quote.bin`), 636 + 128 + 6 + 384 + 64 + 2) },
  { name: 'truncated quote', code: 'evidence.truncated', quote: () => fx(`${V4}/quote.bin`).subarray(0, 2000) },
  { name: 'SGX v3 quote (version 3, tee_type 0)', code: 'tdx.sgx-quote', quote: () => { const q = new Uint8Array(fx(`${V4}/quote.bin`)); q[0] = 3; q[4] = 0; return q; } },
  { name: 'SGX quote (tee_type 0)', code: 'tdx.sgx-quote', quote: () => { const q = new Uint8Array(fx(`${V4}/quote.bin`)); q[4] = 0; return q; } },
  { name: 'PCK expired (at 2053)', code: 'cert.expired', opts: { at: new Date('2053-07-01T00:00:00Z') } },
  { name: 'PCK not yet valid (at 2020)', code: 'cert.not-yet-valid', opts: { at: new Date('2020-01-01T00:00:00Z') } },
  { name: 'chain to an untrusted root (trust roots replaced by the AMD Milan ones)', code: 'cert.untrusted-root', trustRoots: () => trustStoreFrom(fx('roots/amd/ask_ark_milan.pem'), 'milan') },
  {
    name: 'trusted roots given as a bundle with an intermediate first',
    code: null,
    trustRoots: () => trustStoreFrom(fxText(`${V4}/collateral/pck_crl_issuer_chain.pem`), 'bundle'),
    check: (c) => assert.deepEqual(c.trust_anchor, { subject: 'Intel SGX Root CA', sha256: INTEL_ROOT_SHA256, source: 'bundle' }),
  },
  {
    name: 'verifies with the built-in Intel SGX Root CA',
    code: null,
    check: (c) => assert.deepEqual(c.trust_anchor, { subject: 'Intel SGX Root CA', sha256: INTEL_ROOT_SHA256, source: 'built-in' }),
  },
  { name: 'no collateral: refused by default', code: 'tdx.collateral-missing', opts: { allowNoCollateral: false } },
  {
    name: 'no collateral, waived: tcb_status unchecked, waiver listed',
    code: null,
    check: (c) => {
      assert.equal(c.tcb_status, 'unchecked');
      assert.equal(c.qe_identity_status, 'unchecked');
      assert.equal(c.crl_status, 'unchecked');
      assert.deepEqual(c.waivers, ['allow-no-collateral']);
    },
  },
  { name: 'TCB info alone: refused (no QE identity, no CRLs)', code: 'tdx.collateral-missing', collateral: () => ({ tcbInfo: v4Collateral().tcbInfo!, tcbInfoIssuerChain: v4Collateral().tcbInfoIssuerChain! }), opts: { allowNoCollateral: false } },
  {
    name: 'complete collateral needs no waiver (CRLs and QE identity checked, TCB level does not match)',
    code: 'tdx.tcb-level',
    collateral: v4Collateral,
    opts: { allowNoCollateral: false },
    check: (c) => {
      assert.equal(c.crl_status, 'checked');
      assert.equal(c.qe_identity_status, 'UpToDate');
      assert.deepEqual(c.waivers, []);
    },
  },
  { name: 'accepting an extra TCB status is listed as a waiver', code: null, opts: { acceptedTcbStatuses: ['UpToDate', 'OutOfDate'] }, check: (c) => assert.deepEqual(c.waivers, ['allow-no-collateral', 'accept-tcb-status:OutOfDate']) },
  { name: 'report_data mismatch', code: 'tdx.report-data', opts: { reportData: new Uint8Array([1]) } },
  {
    name: 'expected report_data matches',
    code: null,
    opts: { reportData: Buffer.from('6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113', 'hex') },
  },
  {
    name: 'collateral: signatures and CRLs verify, QE identity UpToDate, real TCB levels do not match',
    code: 'tdx.tcb-level',
    collateral: v4Collateral,
    check: (c) => assert.equal(c.qe_identity_status, 'UpToDate'),
  },
  { name: 'collateral past nextUpdate (at 2023-08-01)', code: 'tdx.collateral-expired', collateral: v4Collateral, opts: { at: new Date('2023-08-01T00:00:00Z') } },
  {
    name: 'TCB info with a flipped signature',
    code: 'tdx.collateral-signature',
    collateral: () => {
      const c = v4Collateral();
      return { ...c, tcbInfo: c.tcbInfo!.replace(/"signature":"(.)/, (_m, ch: string) => `"signature":"${ch === '0' ? '1' : '0'}`) };
    },
  },
  {
    name: 'TCB info body altered',
    code: 'tdx.collateral-signature',
    collateral: () => {
      const c = v4Collateral();
      return { ...c, tcbInfo: c.tcbInfo!.replace('"tcbStatus":"UpToDate"', '"tcbStatus":"UpToDatf"') };
    },
  },
  {
    name: 'PCK CRL signed by someone else',
    code: 'cert.signature',
    collateral: () => ({ ...v4Collateral(), pckCrl: fx(`${V4}/collateral/root_ca_crl.der`) }),
  },
  {
    name: 'v5 TCB info with the expired 2025 signing certificate',
    code: 'cert.expired',
    quote: () => fx(`${V5}/quote.bin`),
    collateral: () => ({ tcbInfo: fxText(`${V5}/collateral/tcb_info.json`), tcbInfoIssuerChain: fxText(`${V4}/collateral/tcb_info_issuer_chain.pem`) }),
    opts: { at: AT_V5 },
  },
  { name: 'TCB info without its issuer chain', code: 'tdx.collateral', quote: () => fx(`${V5}/quote.bin`), collateral: () => ({ tcbInfo: fxText(`${V5}/collateral/tcb_info.json`) }), opts: { at: AT_V5 } },
  {
    name: 'GCE quote: CC event log replays to RTMR0-3',
    code: null,
    quote: () => fx(`${GCE}/quote.bin`),
    eventLog: () => fx(`${GCE}/ccel_data.bin`),
    opts: { at: AT_GCE, reportData: fx(`${GCE}/nonce.bin`) },
    check: (c) => assert.deepEqual(c.event_log, { events: 43, replayed_rtmrs: [0, 1, 2, 3] }),
  },
  {
    name: 'GCE quote: tampered CC event log',
    code: 'tdx.event-log',
    quote: () => fx(`${GCE}/quote.bin`),
    eventLog: () => {
      // flip one byte of the second event's SHA-384 digest (well past the Spec ID header)
      const log = new Uint8Array(fx(`${GCE}/ccel_data.bin`));
      const headerSize = 32 + new DataView(log.buffer).getUint32(28, true);
      return flip(log, headerSize + 8 + 4 + 2 + 5);
    },
    opts: { at: AT_GCE },
  },
];

test('TDX verification checks', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = verifyTdx(
        { quote: c.quote ? c.quote() : fx(`${V4}/quote.bin`), ...(c.collateral ? { collateral: c.collateral() } : {}), ...(c.eventLog ? { eventLog: c.eventLog() } : {}) },
        { at: AT_V4, ...NO_COL, ...(c.trustRoots ? { trustRoots: c.trustRoots() } : {}), ...c.opts },
      );
      if (c.code === null) assert.equal(r.verified, true, r.reason);
      else assert.equal(r.reasonCode, c.code, r.reason);
      c.check?.(r.claims);
    });
  }
});

test('TDX TCB level evaluation', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const evalFor = (dir: string, info: TdxTcbInfo) => {
    const q = parseTdxQuote(fx(`${dir}/quote.bin`));
    const pck = loadCertificates(Buffer.from(q.pckChainPem).toString('latin1'), ['PCK'], 'chain')[0]!;
    return evaluateTdxTcb(info, pckInfo(pck), q.body);
  };
  await t.test('v5 TDX 1.5 quote against its TCB info: first level, UpToDate', () => {
    const info = (JSON.parse(fxText(`${V5}/collateral/tcb_info.json`)) as { tcbInfo: TdxTcbInfo }).tcbInfo;
    const ev = evalFor(V5, info);
    assert.equal(ev.status, 'UpToDate');
    assert.equal(ev.tcbDate, info.tcbLevels[0]!.tcbDate);
  });
  await t.test('v4 quote with level SVNs zeroed (as upstream does): matches', () => {
    const info = (JSON.parse(fxText(`${V4}/collateral/tcb_info.json`)) as { tcbInfo: TdxTcbInfo }).tcbInfo;
    for (const l of info.tcbLevels) {
      l.tcb.sgxtcbcomponents.forEach((c) => (c.svn = 0));
      l.tcb.tdxtcbcomponents.forEach((c) => (c.svn = 0));
      l.tcb.pcesvn = 0;
    }
    assert.equal(evalFor(V4, info).status, info.tcbLevels[0]!.tcbStatus);
  });
  await t.test('TCB info for another FMSPC', () => {
    const info = (JSON.parse(fxText(`${V5}/collateral/tcb_info.json`)) as { tcbInfo: TdxTcbInfo }).tcbInfo;
    assert.throws(() => evalFor(V4, info), (e: { reason?: string }) => e.reason === 'tdx.fmspc');
  });
});

test('TDX PCK chain cache: hits skip signatures but still check dates', { skip: !have && FIXTURES_ABSENT }, () => {
  const cache = new Map();
  const quote = fx(`${V4}/quote.bin`);
  assert.equal(verifyTdx({ quote }, { at: AT_V4, chainCache: cache, ...NO_COL }).verified, true);
  assert.equal(cache.size, 1);
  assert.equal(verifyTdx({ quote }, { at: AT_V4, chainCache: cache, ...NO_COL }).verified, true);
  assert.equal(verifyTdx({ quote }, { at: new Date('2053-07-01T00:00:00Z'), chainCache: cache, ...NO_COL }).reasonCode, 'cert.expired');
  assert.equal(verifyTdx({ quote: flip(quote, 636) }, { at: AT_V4, chainCache: cache, ...NO_COL }).reasonCode, 'tdx.quote-signature');
  assert.equal(cache.size, 1);
});

test('TDX QE report cache: only exact, verified QE reports are remembered', { skip: !have && FIXTURES_ABSENT }, () => {
  const cache = new Map();
  const quote = fx(`${V4}/quote.bin`);
  const opts = { at: AT_V4, chainCache: cache, cacheQeReports: true, ...NO_COL };
  assert.equal(verifyTdx({ quote }, opts).verified, true);
  assert.equal(verifyTdx({ quote }, opts).verified, true);
  assert.equal(verifyTdx({ quote: flip(quote, 636 + 128 + 6 + 384) }, opts).reasonCode, 'tdx.qe-report-signature');
  assert.equal(verifyTdx({ quote: flip(quote, 636 + 128 + 6 + 10) }, opts).reasonCode, 'tdx.qe-report-signature');
  assert.equal(verifyTdx({ quote: flip(quote, 636) }, opts).reasonCode, 'tdx.quote-signature');
});
