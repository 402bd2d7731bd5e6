import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { splitCertificates, type Cert } from '../certs.js';
import { EcdsaPublicKey } from '../ecdsa.js';
import { attestationFixtures, derToPem, FIXTURES_ABSENT, flip, fx, manifestSamples } from '../testing/fixtures.js';
import { trustStoreFrom } from '../trust.js';
import { forgeSnp } from '../testing/forged-snp.js';
import { loadSnpTrust, parseTcbSpec, verifySnp, verifySnpWithTrust, type SnpTrust } from './verify.js';
import { parseSnpReport, SNP_REPORT_SIZE, type TcbVersion } from './report.js';

const have = attestationFixtures() !== null;
const AT = new Date('2024-01-01T00:00:00Z');
const MILAN_ARK_SHA256 = '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd';
const TEST_ANCHOR = { subject: 'test', sha256: '00', source: 'test' };

interface Sample {
  dir: string;
  report: Uint8Array;
  leaf: Uint8Array;
  chain?: Uint8Array;
}

function sample(dir: string): Sample {
  if (dir.includes('azure')) return { dir, report: fx(`${dir}/report.bin`), leaf: fx(`${dir}/certs.pem`) };
  return { dir, report: fx(`${dir}/report.bin`), leaf: fx(`${dir}/vcek.der`), chain: fx(`${dir}/ask_ark_milan.pem`) };
}

test('every SNP fixture sample has the outcome the manifest gives', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  for (const s of manifestSamples().filter((m) => m.kind.includes('sev-snp-report'))) {
    await t.test(s.id, () => {
      const ev = sample(s.dir);
      // The go-sev-guest sample's policy allows debugging; its upstream expectation ignores that.
      const r = verifySnp({ report: ev.report, leaf: ev.leaf, ...(ev.chain ? { chain: ev.chain } : {}) }, { at: AT, allowDebug: true });
      assert.equal(r.verified, s.expected.verifies, r.reason);
      if (!s.expected.verifies) assert.equal(r.reasonCode, 'snp.signature');
      if (typeof s.expected.measurement_hex === 'string') assert.equal(r.claims.measurement, s.expected.measurement_hex);
      if (typeof s.expected.report_data_hex === 'string') assert.equal(r.claims.report_data, s.expected.report_data_hex);
      if (s.expected.reported_tcb) assert.deepEqual(r.claims.reported_tcb, s.expected.reported_tcb);
      assert.equal(r.claims.product, 'Milan');
    });
  }
});

interface NegCase {
  name: string;
  code: string;
  make: (s: Sample) => { report?: Uint8Array; leaf?: Uint8Array | string; chain?: Uint8Array | string; at?: Date; reportData?: Uint8Array; allowDebug?: boolean };
}

function chainParts(s: Sample): [Uint8Array, Uint8Array] {
  const [ask, ark] = splitCertificates(s.chain!, 'chain');
  return [ask!, ark!];
}

const negatives: NegCase[] = [
  { name: 'flipped byte in report_data', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x50) }) },
  { name: 'flipped byte in measurement', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x90) }) },
  { name: 'flipped byte in host_data', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0xc0) }) },
  { name: 'flipped byte in policy', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x08) }) },
  { name: 'flipped byte in reported_tcb', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x180) }) },
  { name: 'flipped byte in chip_id', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x1a0) }) },
  { name: 'upstream virtee mutation (byte 21 ^ 0x80)', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 21, 0x80) }) },
  { name: 'flipped byte in signature r', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x2a0) }) },
  { name: 'flipped byte in signature s', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x2a0 + 72) }) },
  { name: 'signature r wider than 384 bits', code: 'snp.signature', make: (s) => ({ report: flip(s.report, 0x2a0 + 60) }) },
  { name: 'signature algorithm changed', code: 'snp.signature-algo', make: (s) => ({ report: flip(s.report, 0x34) }) },
  { name: 'unsupported report version', code: 'snp.version', make: (s) => ({ report: flip(s.report, 0x00, 0x0f) }) },
  { name: 'truncated report', code: 'evidence.truncated', make: (s) => ({ report: s.report.subarray(0, 1000) }) },
  { name: 'upstream virtee chain mutation (VCEK byte 40 ^ 0xff)', code: 'cert.signature', make: (s) => ({ leaf: flip(s.leaf, 40, 0xff) }) },
  { name: 'flipped byte in VCEK signature', code: 'cert.signature', make: (s) => ({ leaf: flip(s.leaf, s.leaf.length - 1) }) },
  {
    name: 'flipped byte in ASK signature',
    code: 'cert.signature',
    make: (s) => {
      const [ask, ark] = chainParts(s);
      return { chain: derToPem(flip(ask, ask.length - 1)) + derToPem(ark) };
    },
  },
  {
    name: 'flipped byte in ASK body',
    code: 'cert.signature',
    make: (s) => {
      const [ask, ark] = chainParts(s);
      return { chain: derToPem(flip(ask, 300)) + derToPem(ark) };
    },
  },
  {
    name: 'flipped byte in ARK signature',
    code: 'cert.signature',
    make: (s) => {
      const [ask, ark] = chainParts(s);
      return { chain: derToPem(ask) + derToPem(flip(ark, ark.length - 1)) };
    },
  },
  { name: 'Milan report against the Genoa chain', code: 'snp.product', make: () => ({ chain: fx('roots/amd/ask_ark_genoa.pem') }) },
  { name: 'Milan report against the Turin chain', code: 'snp.product', make: () => ({ chain: fx('roots/amd/ask_ark_turin_vcek.pem') }) },
  { name: 'VCEK against the Milan VLEK chain (ASVK)', code: 'cert.issuer', make: () => ({ chain: fx('roots/amd/ask_ark_milan_vlek.pem') }) },
  { name: 'VCEK expired (at 2031)', code: 'cert.expired', make: () => ({ at: new Date('2031-01-01T00:00:00Z') }) },
  { name: 'VCEK not yet valid (at 2022)', code: 'cert.not-yet-valid', make: () => ({ at: new Date('2022-01-01T00:00:00Z') }) },
  { name: 'report_data mismatch', code: 'snp.report-data', make: () => ({ reportData: new Uint8Array([1, 2, 3]) }) },
];

test('SNP negative cases from the real virtee Milan sample', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const s = sample('snp/milan-v2-virtee');
  for (const c of negatives) {
    await t.test(c.name, () => {
      const m = c.make(s);
      const chain = 'chain' in m ? m.chain : s.chain;
      const r = verifySnp({ report: m.report ?? s.report, leaf: m.leaf ?? s.leaf, ...(chain ? { chain } : {}) }, { at: m.at ?? AT, ...(m.reportData ? { reportData: m.reportData } : {}) });
      assert.equal(r.verified, false);
      assert.equal(r.reasonCode, c.code, r.reason);
    });
  }
});

test('SNP policy and claims checks', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const gs = sample('snp/milan-v2-go-sev-guest');
  await t.test('chain ending at the one ARK given as trust roots verifies', () => {
    const v = sample('snp/milan-v2-virtee');
    const [, ark] = chainParts(v);
    const r = verifySnp({ report: v.report, leaf: v.leaf, chain: v.chain! }, { at: AT, trustRoots: trustStoreFrom(ark, 'milan-ark') });
    assert.equal(r.verified, true, r.reason);
    assert.deepEqual(r.claims.trust_anchor, { subject: 'ARK-Milan', sha256: MILAN_ARK_SHA256, source: 'milan-ark' });
  });
  await t.test('chain ending at an ARK that is not in the trust roots', () => {
    const v = sample('snp/milan-v2-virtee');
    const genoaArk = splitCertificates(fx('roots/amd/ask_ark_genoa.pem'), 'genoa')[1]!;
    assert.equal(verifySnp({ report: v.report, leaf: v.leaf, chain: v.chain! }, { at: AT, trustRoots: trustStoreFrom(genoaArk, 'genoa') }).reasonCode, 'cert.untrusted-root');
  });
  await t.test('VCEK alone: the chain is completed from the built-in ASK', () => {
    const v = sample('snp/milan-v2-virtee');
    const r = verifySnp({ report: v.report, leaf: v.leaf }, { at: AT });
    assert.equal(r.verified, true, r.reason);
    assert.deepEqual(r.claims.trust_anchor, { subject: 'ARK-Milan', sha256: MILAN_ARK_SHA256, source: 'built-in' });
  });
  await t.test('VCEK alone with only the ARK trusted (no ASK to complete the chain)', () => {
    const v = sample('snp/milan-v2-virtee');
    const [, ark] = chainParts(v);
    assert.equal(verifySnp({ report: v.report, leaf: v.leaf }, { at: AT, trustRoots: trustStoreFrom(ark, 'ark') }).reasonCode, 'cert.untrusted-root');
  });
  await t.test('debug-enabled guest policy is rejected unless allowed', () => {
    const r = verifySnp({ report: gs.report, leaf: gs.leaf, chain: gs.chain! }, { at: AT });
    assert.equal(r.reasonCode, 'snp.debug');
    assert.equal((r.claims.policy as { debug: boolean }).debug, true);
  });
  await t.test('expected report_data matches (zero-padded)', () => {
    const r = verifySnp({ report: gs.report, leaf: gs.leaf, chain: gs.chain! }, { at: AT, allowDebug: true, reportData: new Uint8Array([1, 2, 3, 4, 5]) });
    assert.equal(r.verified, true, r.reason);
  });
  await t.test('reported TCB differing from the VCEK TCB is rejected', () => {
    const v = sample('snp/milan-v2-virtee');
    const trust = loadSnpTrust(v.leaf, v.chain, AT);
    const r = verifySnpWithTrust(v.report, { ...trust, info: { ...trust.info, tcb: { ...trust.info.tcb!, snp: trust.info.tcb!.snp + 1 } } }, {});
    assert.equal(r.reasonCode, 'snp.tcb', r.reason);
  });
  await t.test('chip id differing from the VCEK hwID is rejected', () => {
    const v = sample('snp/milan-v2-virtee');
    const trust = loadSnpTrust(v.leaf, v.chain, AT);
    const r = verifySnpWithTrust(v.report, { ...trust, info: { ...trust.info, hwId: new Uint8Array(64).fill(7) } }, {});
    assert.equal(r.reasonCode, 'snp.chip-id', r.reason);
  });
  await t.test('VLEK-signed report against a VCEK is rejected', () => {
    const v = sample('snp/milan-v2-virtee');
    const trust = loadSnpTrust(v.leaf, v.chain, AT);
    const rep = new Uint8Array(v.report);
    rep[0x48] = rep[0x48]! | (1 << 2);
    const r = verifySnpWithTrust(rep, trust, {});
    assert.equal(r.reasonCode, 'snp.signing-key', r.reason);
  });
});

/** A synthetic report of `version` for `product`, signed by a fresh P-384 key. */
function synthetic(version: number, family: number, model: number, tcb: bigint, chip: Uint8Array, keyInfo = 0): { report: Uint8Array; trust: SnpTrust } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const rep = new Uint8Array(SNP_REPORT_SIZE);
  const dv = new DataView(rep.buffer);
  dv.setUint32(0, version, true);
  dv.setBigUint64(0x08, 0x30000n, true);
  dv.setUint32(0x34, 1, true);
  dv.setUint32(0x48, keyInfo, true);
  dv.setBigUint64(0x180, tcb, true);
  rep[0x188] = family;
  rep[0x189] = model;
  rep[0x18a] = 1;
  rep.set(chip, 0x1a0);
  const sig = sign('sha384', rep.subarray(0, 0x2a0), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  for (let i = 0; i < 48; i++) {
    rep[0x2a0 + i] = sig[47 - i]!;
    rep[0x2a0 + 72 + i] = sig[95 - i]!;
  }
  const leaf = { role: 'VCEK', cn: 'SEV-VCEK' } as unknown as Cert;
  return { report: rep, trust: { leaf, info: { kind: 'vcek' }, key: EcdsaPublicKey.fromKeyObject(publicKey, 'test key'), chain: [], anchor: TEST_ANCHOR } };
}

test('SNP report versions and products (synthetic, self-signed)', async (t) => {
  await t.test('v5 Turin: FMC-first TCB layout and 8-byte chip id', () => {
    const chip = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    // Turin TCB_VERSION: fmc=1 bl=2 tee=3 snp=4 ... ucode=0x55 (byte 7)
    const tcb = 0x5500000004030201n;
    const { report, trust } = synthetic(5, 0x1a, 0x02, tcb, chip);
    trust.info = { kind: 'vcek', product: 'Turin', hwId: chip, tcb: { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 0x55 } };
    const r = verifySnpWithTrust(report, trust, {});
    assert.equal(r.verified, true, r.reason);
    assert.equal(r.claims.product, 'Turin');
    assert.equal(r.claims.chip_id, '0102030405060708');
    assert.deepEqual(r.claims.reported_tcb, { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 0x55 });
    assert.equal(parseSnpReport(report).launchMitVector, 0n);
  });
  await t.test('v3 Genoa: product from CPUID, Milan/Genoa TCB layout', () => {
    const chip = new Uint8Array(64).fill(9);
    const tcb = 0x1516000000000a03n;
    const { report, trust } = synthetic(3, 0x19, 0x11, tcb, chip);
    trust.info = { kind: 'vcek', hwId: chip, tcb: { bootloader: 3, tee: 10, snp: 0x16, microcode: 0x15 } };
    const r = verifySnpWithTrust(report, trust, {});
    assert.equal(r.verified, true, r.reason);
    assert.equal(r.claims.product, 'Genoa');
    assert.deepEqual(r.claims.cpuid, { family: 0x19, model: 0x11, stepping: 1 });
  });
  await t.test('v3 report whose CPUID product differs from the VCEK product', () => {
    const { report, trust } = synthetic(3, 0x19, 0x11, 0n, new Uint8Array(64));
    trust.info = { kind: 'vcek', product: 'Milan' };
    assert.equal(verifySnpWithTrust(report, trust, {}).reasonCode, 'snp.product');
  });
  await t.test('VLEK-signed report (signing_key 1) with a VLEK', () => {
    const { report, trust } = synthetic(2, 0, 0, 0n, new Uint8Array(64), 1 << 2);
    const vlek = { ...trust, leaf: { role: 'VLEK', cn: 'SEV-VLEK' } as unknown as Cert, info: { kind: 'vlek' as const } };
    const r = verifySnpWithTrust(report, vlek, {});
    assert.equal(r.verified, true, r.reason);
    assert.equal(r.claims.signing_key, 'vlek');
    assert.equal(verifySnpWithTrust(report, { ...trust, info: { kind: 'vcek' } }, {}).reasonCode, 'snp.signing-key');
    const unsigned = synthetic(2, 0, 0, 0n, new Uint8Array(64), 7 << 2);
    assert.equal(verifySnpWithTrust(unsigned.report, unsigned.trust, {}).reasonCode, 'snp.signing-key');
  });
  await t.test('version 4 is not a published version', () => {
    const { report, trust } = synthetic(4, 0x19, 0x01, 0n, new Uint8Array(64));
    assert.equal(verifySnpWithTrust(report, trust, {}).reasonCode, 'snp.version');
  });
  await t.test('both ECDSA backends accept the same report', () => {
    const { report, trust } = synthetic(2, 0, 0, 0n, new Uint8Array(64));
    assert.equal(verifySnpWithTrust(report, trust, { ecdsaBackend: 'noble' }).verified, true);
    assert.equal(verifySnpWithTrust(report, trust, { ecdsaBackend: 'node' }).verified, true);
    assert.equal(verifySnpWithTrust(flip(report, 0x50), trust, { ecdsaBackend: 'noble' }).reasonCode, 'snp.signature');
  });
});

test('forged ARK -> ASK -> VCEK chain (the review\'s attack)', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const gs = sample('snp/milan-v2-go-sev-guest');
  const forged = forgeSnp(gs.report, gs.leaf, gs.chain!);
  const genuine = sample('snp/milan-v2-virtee');
  await t.test('refused with cert.untrusted-root under the built-in roots', () => {
    const r = verifySnp({ report: forged.report, leaf: forged.vcek, chain: forged.chain }, { at: AT });
    assert.equal(r.reasonCode, 'cert.untrusted-root', r.reason);
    assert.equal((r.claims.policy as { debug: boolean }).debug, false);
  });
  await t.test('refused when the forged VCEK comes alone (the built-in ASK did not sign it)', () => {
    assert.equal(verifySnp({ report: forged.report, leaf: forged.vcek }, { at: AT }).reasonCode, 'cert.untrusted-root');
  });
  await t.test('forged chain with the genuine ARK appended: the forged ASK is not signed by it', () => {
    const [, ark] = chainParts(gs);
    const askOnly = forged.chain.slice(0, forged.chain.indexOf('-----END CERTIFICATE-----') + 26);
    const r = verifySnp({ report: forged.report, leaf: forged.vcek, chain: askOnly + derToPem(ark) }, { at: AT });
    assert.equal(r.reasonCode, 'cert.signature', r.reason);
  });
  await t.test('verifies when the forged ARK replaces the trust roots (the option works)', () => {
    const r = verifySnp({ report: forged.report, leaf: forged.vcek, chain: forged.chain }, { at: AT, trustRoots: trustStoreFrom(forged.arkPem, 'forged') });
    assert.equal(r.verified, true, r.reason);
    assert.equal((r.claims.trust_anchor as { source: string }).source, 'forged');
  });
  await t.test('a trusted VCEK without TCB extensions is refused (nothing to compare the reported TCB with)', () => {
    const bare = forgeSnp(gs.report, gs.leaf, gs.chain!, { bareVcek: true });
    const r = verifySnp({ report: bare.report, leaf: bare.vcek, chain: bare.chain }, { at: AT, trustRoots: trustStoreFrom(bare.arkPem, 'forged') });
    assert.equal(r.reasonCode, 'snp.tcb', r.reason);
  });
  await t.test('the genuine evidence fails under the forged root', () => {
    const r = verifySnp({ report: genuine.report, leaf: genuine.leaf, chain: genuine.chain! }, { at: AT, trustRoots: trustStoreFrom(forged.arkPem, 'forged') });
    assert.equal(r.reasonCode, 'cert.untrusted-root', r.reason);
  });
});

test('SNP minimum TCB, VMPL and waivers', { skip: !have && FIXTURES_ABSENT }, async (t) => {
  const v = sample('snp/milan-v2-virtee');
  const ev = { report: v.report, leaf: v.leaf, chain: v.chain! };
  const reported = verifySnp(ev, { at: AT }).claims.reported_tcb as TcbVersion;
  const at = (d: Partial<typeof reported>) => ({ ...reported, ...d });
  const rows: { name: string; opts: Parameters<typeof verifySnp>[1]; code: string | null; check?: (c: Record<string, unknown>) => void }[] = [
    { name: 'no minimum: min_tcb unchecked, no waivers', opts: {}, code: null, check: (c) => { assert.equal(c.min_tcb, 'unchecked'); assert.deepEqual(c.waivers, []); } },
    { name: 'minimum equal to the reported TCB', opts: { minTcb: reported }, code: null, check: (c) => assert.deepEqual(c.min_tcb, reported) },
    { name: 'minimum below in every component', opts: { minTcb: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } }, code: null },
    { name: 'minimum snp one above', opts: { minTcb: at({ snp: reported.snp + 1 }) }, code: 'snp.min-tcb' },
    { name: 'minimum microcode one above', opts: { minTcb: at({ microcode: reported.microcode + 1 }) }, code: 'snp.min-tcb' },
    { name: 'minimum bootloader one above', opts: { minTcb: at({ bootloader: reported.bootloader + 1 }) }, code: 'snp.min-tcb' },
    { name: 'fmc in the minimum is ignored on Milan', opts: { minTcb: at({ fmc: 255 }) }, code: null },
    { name: 'expected VMPL 0 (the default) matches', opts: { vmpl: 0 }, code: null },
    { name: 'expected VMPL 2: mismatch', opts: { vmpl: 2 }, code: 'snp.vmpl' },
    { name: 'allow-debug is listed even when the guest is not debuggable', opts: { allowDebug: true }, code: null, check: (c) => assert.deepEqual(c.waivers, ['allow-debug']) },
  ];
  for (const r of rows) {
    await t.test(r.name, () => {
      const res = verifySnp(ev, { at: AT, ...r.opts });
      if (r.code === null) assert.equal(res.verified, true, res.reason);
      else assert.equal(res.reasonCode, r.code, res.reason);
      r.check?.(res.claims);
    });
  }
  await t.test('the reported, committed and current TCB are claims', () => {
    const c = verifySnp(ev, { at: AT }).claims;
    for (const k of ['reported_tcb', 'committed_tcb', 'current_tcb']) assert.equal(typeof (c[k] as { snp: number }).snp, 'number', k);
  });
  await t.test('debug-enabled guest accepted with allow-debug: the waiver is in the claims', () => {
    const gs = sample('snp/milan-v2-go-sev-guest');
    const r = verifySnp({ report: gs.report, leaf: gs.leaf, chain: gs.chain! }, { at: AT, allowDebug: true });
    assert.equal(r.verified, true, r.reason);
    assert.deepEqual(r.claims.waivers, ['allow-debug']);
  });
});

test('minimum TCB specs', async (t) => {
  const ok: [string, unknown][] = [
    ['bl=3,tee=0,snp=8,ucode=115', { bootloader: 3, tee: 0, snp: 8, microcode: 115 }],
    ['ucode=0x73, snp=8 ,tee=0,bl=3,fmc=1', { bootloader: 3, tee: 0, snp: 8, microcode: 0x73, fmc: 1 }],
  ];
  for (const [spec, want] of ok) await t.test(spec, () => assert.deepEqual(parseTcbSpec(spec), want));
  for (const bad of ['bl=3,tee=0,snp=8', 'bl=3,tee=0,snp=8,ucode=256', 'bl=3,tee=0,snp=8,ucode=1,xyz=2', 'bl=3,bl=4,tee=0,snp=8,ucode=1', '']) {
    await t.test(`refused: "${bad}"`, () => assert.throws(() => parseTcbSpec(bad)));
  }
});
