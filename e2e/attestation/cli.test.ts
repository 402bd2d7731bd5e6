/**
 * `cocolet-kbs verify` as users run it: the compiled binary on the shared fixtures, asserting
 * exit codes and the one JSON object it prints.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitCertificates } from '../../shared/attestation/certs.js';
import { forgeSnp } from '../../shared/attestation/testing/forged-snp.js';
import { attestationFixtures, ccaSamplesDir, derToPem, FIXTURES_ABSENT, fx } from '../../shared/attestation/testing/fixtures.js';

const BIN = fileURLToPath(new URL('../../kbs/cmd/cocolet-kbs.js', import.meta.url));
const F = attestationFixtures();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cocolet-attest-cli-'));
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function f(rel: string): string {
  return join(F!, rel);
}

interface Case {
  name: string;
  args: () => string[];
  code: 0 | 1 | 2;
  reason?: string;
  /** Expected claim values; a function is called when the case runs (for values made at run time). */
  claims?: Record<string, unknown>;
  /** Needs the published CCA sample (COCOLET_CCA_SAMPLES). */
  cca?: boolean;
}

const TDX_ROOT = 'roots/intel/intel_sgx_root_ca.pem';
const MILAN_ARK_SHA256 = '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd';
/** SHA-256 of the AKs' DER SubjectPublicKeyInfo (`openssl pkey -pubin -outform DER | sha256sum`). */
const AZ_PIN = '891d22ab4aed49770d8ee205c0bcf8404877c918e151deb57a7f3f03b27c94c4';
const GCE_PIN = '6a114d75ad6e7b75f7da33dead50f2e29bf509108646ced2e588bebc35f0d5b6';
const VIRTEE_TCB = 'bl=3,tee=0,snp=8,ucode=115';
const VIRTEE = ['--tee', 'snp', '--report', 'snp/milan-v2-virtee/report.bin', '--cert', 'snp/milan-v2-virtee/vcek.der', '--chain', 'snp/milan-v2-virtee/ask_ark_milan.pem', '--at', '2024-01-01T00:00:00Z'].map((a) => (a.startsWith('snp/') && F ? join(F, a) : a));
const AZ_TPM = ['--tee', 'tpm', '--quote', 'tpm/azure-vtpm-kinvolk/quote.tpms_attest.bin', '--signature', 'tpm/azure-vtpm-kinvolk/quote.rsassa_sha256.sig', '--cert', 'tpm/azure-vtpm-kinvolk/ak_pub.pem'].map((a) => (a.startsWith('tpm/') && F ? join(F, a) : a));

interface ForgedFiles {
  report: string;
  vcek: string;
  chain: string;
  rootsDir: string;
  arkSha256: string;
}
let forgedFiles: ForgedFiles | undefined;

/** The review's forged evidence (testing/forged-snp.ts) written to files, once. */
function forged(): ForgedFiles {
  if (forgedFiles) return forgedFiles;
  const d = 'snp/milan-v2-go-sev-guest';
  const fe = forgeSnp(fx(`${d}/report.bin`), fx(`${d}/vcek.der`), fx(`${d}/ask_ark_milan.pem`));
  const dir = join(tmp, 'forged');
  const rootsDir = join(dir, 'roots');
  mkdirSync(rootsDir, { recursive: true });
  writeFileSync(join(dir, 'report.bin'), fe.report);
  writeFileSync(join(dir, 'vcek.der'), fe.vcek);
  writeFileSync(join(dir, 'chain.pem'), fe.chain);
  writeFileSync(join(rootsDir, 'ark.pem'), fe.arkPem);
  const arkSha256 = createHash('sha256').update(splitCertificates(fe.arkPem, 'ark')[0]!).digest('hex');
  forgedFiles = { report: join(dir, 'report.bin'), vcek: join(dir, 'vcek.der'), chain: join(dir, 'chain.pem'), rootsDir, arkSha256 };
  return forgedFiles;
}

function emptyDir(): string {
  const dir = join(tmp, 'empty');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'notes.txt'), 'not a certificate');
  return dir;
}

function gceRootDir(): string {
  const dir = join(tmp, 'gce-roots');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'root.der'), fx('roots/gce-tpm/tpm_ek_root_1.der'));
  return dir;
}
const hex = (s: string): string => Buffer.from(s).toString('hex');

const cases: Case[] = [
  {
    name: 'snp milan-v2-virtee verifies',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-virtee/report.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der'), '--chain', f('snp/milan-v2-virtee/ask_ark_milan.pem'), '--at', '2024-01-01T00:00:00Z'],
    code: 0,
    claims: { measurement: '7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f', product: 'Milan' },
  },
  {
    name: 'snp milan-v2-go-sev-guest is debug-enabled: refused without --allow-debug',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-go-sev-guest/report.bin'), '--cert', f('snp/milan-v2-go-sev-guest/vcek.der'), '--chain', f('snp/milan-v2-go-sev-guest/ask_ark_milan.pem'), '--at', '2024-01-01T00:00:00Z'],
    code: 1,
    reason: 'snp.debug',
  },
  {
    name: 'snp milan-v2-go-sev-guest verifies with --allow-debug and its report data',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-go-sev-guest/report.bin'), '--cert', f('snp/milan-v2-go-sev-guest/vcek.der'), '--chain', f('snp/milan-v2-go-sev-guest/ask_ark_milan.pem'), '--at', '2024-01-01T00:00:00Z', '--allow-debug', '--report-data', '0102030405'],
    code: 0,
    claims: { waivers: ['allow-debug'] },
  },
  {
    name: 'snp forged ARK -> ASK -> VCEK chain, report re-signed, debug cleared: untrusted root',
    args: () => ['--tee', 'snp', '--report', forged().report, '--cert', forged().vcek, '--chain', forged().chain, '--at', '2024-01-01T00:00:00Z'],
    code: 1,
    reason: 'cert.untrusted-root',
  },
  {
    name: 'snp forged evidence verifies with --trust-roots at the forged ARK (the option replaces the built-in roots)',
    args: () => ['--tee', 'snp', '--report', forged().report, '--cert', forged().vcek, '--chain', forged().chain, '--trust-roots', forged().rootsDir, '--at', '2024-01-01T00:00:00Z'],
    code: 0,
    claims: { trust_anchor: () => ({ subject: 'ARK-Milan', sha256: forged().arkSha256, source: forged().rootsDir }) },
  },
  {
    name: 'snp genuine evidence under --trust-roots at the forged ARK: untrusted root',
    args: () => [...VIRTEE, '--trust-roots', forged().rootsDir],
    code: 1,
    reason: 'cert.untrusted-root',
  },
  {
    name: 'snp genuine VCEK alone: chain completed from the built-in ASK/ARK',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-virtee/report.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der'), '--at', '2024-01-01T00:00:00Z'],
    code: 0,
    claims: { trust_anchor: { subject: 'ARK-Milan', sha256: MILAN_ARK_SHA256, source: 'built-in' }, min_tcb: 'unchecked', waivers: [] },
  },
  {
    name: 'snp --trust-roots FILE (one KDS bundle: its ARK anchors, its ASK stays an intermediate)',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-virtee/report.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der'), '--trust-roots', f('roots/amd/ask_ark_milan.pem'), '--at', '2024-01-01T00:00:00Z'],
    code: 0,
    claims: { trust_anchor: () => ({ subject: 'ARK-Milan', sha256: MILAN_ARK_SHA256, source: f('roots/amd/ask_ark_milan.pem') }) },
  },
  {
    name: 'snp --trust-roots FILE of another product',
    args: () => [...VIRTEE, '--trust-roots', f('roots/amd/ask_ark_genoa.pem')],
    code: 1,
    reason: 'cert.untrusted-root',
  },
  { name: 'snp --min-tcb at the reported TCB', args: () => [...VIRTEE, '--min-tcb', VIRTEE_TCB], code: 0, claims: { min_tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } } },
  { name: 'snp --min-tcb with snp one above the reported TCB', args: () => [...VIRTEE, '--min-tcb', 'bl=3,tee=0,snp=9,ucode=115'], code: 1, reason: 'snp.min-tcb' },
  { name: 'snp --vmpl 0 matches', args: () => [...VIRTEE, '--vmpl', '0'], code: 0 },
  { name: 'snp --vmpl 1: the report is VMPL 0', args: () => [...VIRTEE, '--vmpl', '1'], code: 1, reason: 'snp.vmpl' },
  {
    name: 'snp azure sample: leaf from a PEM bundle, wrong chip',
    args: () => ['--tee', 'snp', '--report', f('snp/azure-hcl-milan-kinvolk/report.bin'), '--cert', f('snp/azure-hcl-milan-kinvolk/certs.pem'), '--at', '2024-01-01T00:00:00Z'],
    code: 1,
    reason: 'snp.signature',
  },
  {
    name: 'snp against the Genoa chain',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-virtee/report.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der'), '--chain', f('roots/amd/ask_ark_genoa.pem'), '--at', '2024-01-01T00:00:00Z'],
    code: 1,
    reason: 'snp.product',
  },
  {
    name: 'snp VCEK expired',
    args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-virtee/report.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der'), '--chain', f('snp/milan-v2-virtee/ask_ark_milan.pem'), '--at', '2031-01-01T00:00:00Z'],
    code: 1,
    reason: 'cert.expired',
  },
  {
    name: 'az-snp-vtpm kinvolk HCL report',
    args: () => ['--tee', 'az-snp-vtpm', '--hcl', f('snp/azure-hcl-milan-kinvolk/hcl-report-snp.bin'), '--cert', f('snp/azure-hcl-milan-kinvolk/certs.pem'), '--at', '2024-01-01T00:00:00Z'],
    code: 1,
    reason: 'snp.signature',
  },
  {
    name: 'tdx v4 without collateral, waived (39 trailing bytes)',
    args: () => ['--tee', 'tdx', '--quote', f('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin'), '--at', '2023-07-01T01:00:00Z', '--allow-no-collateral'],
    code: 0,
    claims: { fmspc: '50806f000000', quote_version: 4, tcb_status: 'unchecked', waivers: ['allow-no-collateral'] },
  },
  {
    name: 'tdx v4 without collateral: refused by default',
    args: () => ['--tee', 'tdx', '--quote', f('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin'), '--at', '2023-07-01T01:00:00Z'],
    code: 1,
    reason: 'tdx.collateral-missing',
  },
  {
    name: 'tdx v4 with collateral: no matching TCB level',
    args: () => ['--tee', 'tdx', '--quote', f('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin'), '--collateral', f('tdx/v4-tdx10-spr-e4-go-tdx-guest/collateral'), '--at', '2023-07-01T01:00:00Z'],
    code: 1,
    reason: 'tdx.tcb-level',
    claims: { qe_identity_status: 'UpToDate' },
  },
  {
    name: 'tdx v4 at 2053: PCK expired',
    args: () => ['--tee', 'tdx', '--quote', f('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin'), '--at', '2053-07-01T00:00:00Z'],
    code: 1,
    reason: 'cert.expired',
  },
  {
    name: 'tdx v5 (TDX 1.5 body) verifies',
    args: () => ['--tee', 'tdx', '--tdx-quote', f('tdx/v5-tdx15-go-tdx-guest/quote.bin'), '--at', '2026-02-03T01:00:00Z', '--allow-no-collateral'],
    code: 0,
    claims: { fmspc: '90c06f000000', quote_version: 5, body_type: 'td15' },
  },
  {
    name: 'tdx GCE quote in a zero-padded buffer with its CC event log',
    args: () => ['--tee', 'tdx', '--quote', f('tdx/v4-gce-cos113-ccel-go-tdx-guest/quote.bin'), '--event-log', f('tdx/v4-gce-cos113-ccel-go-tdx-guest/ccel_data.bin'), '--report-data', '00'.repeat(64), '--at', '2025-01-01T00:00:00Z', '--allow-no-collateral'],
    code: 0,
  },
  {
    name: 'tpm azure vTPM quote with nonce "challenge"',
    args: () => [...AZ_TPM, '--pcrs', f('tpm/azure-vtpm-kinvolk/pcrs_sha256.json'), '--nonce', hex('challenge'), '--ak-pin', AZ_PIN],
    code: 0,
    claims: { ak_trust: 'pinned', ak_spki_sha256: AZ_PIN, waivers: [] },
  },
  { name: 'tpm azure vTPM quote, AK not pinned: refused', args: () => [...AZ_TPM, '--nonce', hex('challenge')], code: 1, reason: 'tpm.ak-untrusted', claims: { ak_spki_sha256: AZ_PIN } },
  { name: 'tpm azure vTPM quote, wrong AK pin', args: () => [...AZ_TPM, '--nonce', hex('challenge'), '--ak-pin', 'ab'.repeat(32)], code: 1, reason: 'tpm.ak-untrusted' },
  {
    name: 'tpm azure vTPM quote, --allow-untrusted-ak',
    args: () => [...AZ_TPM, '--nonce', hex('challenge'), '--allow-untrusted-ak'],
    code: 0,
    claims: { ak_trust: 'unchecked', waivers: ['allow-untrusted-ak'] },
  },
  {
    name: 'tpm azure vTPM quote with the wrong nonce',
    args: () => ['--tee', 'tpm', '--quote', f('tpm/azure-vtpm-kinvolk/quote.tpms_attest.bin'), '--signature', f('tpm/azure-vtpm-kinvolk/quote.rsassa_sha256.sig'), '--cert', f('tpm/azure-vtpm-kinvolk/ak_pub.pem'), '--nonce', '01020304', '--ak-pin', AZ_PIN],
    code: 1,
    reason: 'tpm.nonce',
  },
  {
    name: 'tpm GCE quote, AK certificate chain, event log',
    args: () => {
      const d = 'tpm/gce-vtpm-cos85-nonce9009-go-tpm-tools';
      const chain = join(tmp, 'gce-chain.pem');
      writeFileSync(chain, derToPem(fx('roots/gce-tpm/tpm_ek_intermediate_2.der')));
      return ['--tee', 'tpm', '--quote', f(`${d}/quote_sha256.tpms_attest.bin`), '--signature', f(`${d}/quote_sha256.tpmt_signature.bin`), '--cert', f(`${d}/ak_cert.der`), '--chain', chain, '--ak-roots', gceRootDir(), '--pcrs', f(`${d}/pcrs_sha256.json`), '--event-log', f(`${d}/event_log.bin`), '--nonce', '9009'];
    },
    code: 0,
    claims: { ak_trust: 'certificate' },
  },
  {
    name: 'tpm GCE quote, AK certificate chain to roots that are not its own',
    args: () => {
      const d = 'tpm/gce-vtpm-cos85-nonce9009-go-tpm-tools';
      return ['--tee', 'tpm', '--quote', f(`${d}/quote_sha256.tpms_attest.bin`), '--signature', f(`${d}/quote_sha256.tpmt_signature.bin`), '--cert', f(`${d}/ak_cert.der`), '--ak-roots', f('roots/intel'), '--nonce', '9009'];
    },
    code: 1,
    reason: 'cert.untrusted-root',
  },
  {
    name: 'tpm GCE SHA-1 bank refused without --allow-sha1',
    args: () => {
      const d = 'tpm/gce-vtpm-cos85-no-nonce-go-tpm-tools';
      return ['--tee', 'tpm', '--quote', f(`${d}/quote_sha1.tpms_attest.bin`), '--signature', f(`${d}/quote_sha1.tpmt_signature.bin`), '--cert', f(`${d}/ak_pub.tpmt_public.bin`), '--pcrs', f(`${d}/pcrs_sha1.json`), '--ak-pin', GCE_PIN];
    },
    code: 1,
    reason: 'tpm.sha1-not-allowed',
  },
  {
    name: 'tpm GCE SHA-1 bank accepted with --allow-sha1',
    args: () => {
      const d = 'tpm/gce-vtpm-cos85-no-nonce-go-tpm-tools';
      return ['--tee', 'tpm', '--quote', f(`${d}/quote_sha1.tpms_attest.bin`), '--signature', f(`${d}/quote_sha1.tpmt_signature.bin`), '--cert', f(`${d}/ak_pub.tpmt_public.bin`), '--pcrs', f(`${d}/pcrs_sha1.json`), '--allow-sha1', '--ak-pin', GCE_PIN];
    },
    code: 0,
    claims: { waivers: ['allow-sha1'], ak_trust: 'pinned' },
  },
  {
    name: 'cca trustee example token with its CPAK',
    cca: true,
    args: () => ['--tee', 'cca', '--token', join(ccaSamplesDir()!, 'cca-example-token.cbor'), '--cert', join(ccaSamplesDir()!, 'cpak-pub.json')],
    code: 0,
  },
  {
    name: 'cca token with the wrong expected challenge',
    cca: true,
    args: () => ['--tee', 'cca', '--token', join(ccaSamplesDir()!, 'cca-example-token.cbor'), '--cert', join(ccaSamplesDir()!, 'cpak-pub.json'), '--report-data', '00'],
    code: 1,
    reason: 'cca.challenge',
  },
  { name: 'usage: --chain for tdx (its root is --trust-roots)', args: () => ['--tee', 'tdx', '--quote', f('tdx/v4-tdx10-spr-e4-go-tdx-guest/quote.bin'), '--chain', f(TDX_ROOT)], code: 2 },
  { name: 'usage: --trust-roots that does not exist', args: () => [...VIRTEE, '--trust-roots', join(tmp, 'no-such-dir')], code: 2 },
  { name: 'usage: --trust-roots directory without certificates', args: () => [...VIRTEE, '--trust-roots', emptyDir()], code: 2 },
  { name: 'usage: bad --min-tcb', args: () => [...VIRTEE, '--min-tcb', 'bl=3,tee=0'], code: 2 },
  { name: 'usage: bad --vmpl', args: () => [...VIRTEE, '--vmpl', '4'], code: 2 },
  { name: 'usage: bad --ak-pin', args: () => [...AZ_TPM, '--ak-pin', 'abc'], code: 2 },
  { name: 'usage: no --tee', args: () => ['--report', f('snp/milan-v2-virtee/report.bin')], code: 2 },
  { name: 'usage: unknown tee', args: () => ['--tee', 'sgx'], code: 2 },
  { name: 'usage: unknown option', args: () => ['--tee', 'snp', '--bogus', 'x'], code: 2 },
  { name: 'usage: missing evidence file', args: () => ['--tee', 'snp', '--report', join(tmp, 'nope.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der')], code: 2 },
  { name: 'usage: bad --at', args: () => ['--tee', 'snp', '--report', f('snp/milan-v2-virtee/report.bin'), '--cert', f('snp/milan-v2-virtee/vcek.der'), '--at', 'yesterday'], code: 2 },
  { name: 'usage: bad --nonce', args: () => ['--tee', 'tpm', '--quote', f('tpm/azure-vtpm-kinvolk/quote.tpms_attest.bin'), '--signature', f('tpm/azure-vtpm-kinvolk/quote.rsassa_sha256.sig'), '--cert', f('tpm/azure-vtpm-kinvolk/ak_pub.pem'), '--nonce', 'xyz'], code: 2 },
];

test('cocolet-kbs verify on the shared fixtures', { skip: F === null && FIXTURES_ABSENT }, async (t) => {
  for (const c of cases) {
    await t.test(c.name, { skip: c.cca === true && ccaSamplesDir() === null && 'published CCA example token not found (COCOLET_CCA_SAMPLES)' }, async () => {
      const r = await run(['verify', ...c.args()]);
      assert.equal(r.code, c.code, `exit ${r.code}; stdout ${r.stdout.slice(0, 400)}; stderr ${r.stderr.slice(0, 400)}`);
      if (c.code === 2) {
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /usage: cocolet-kbs verify/);
        return;
      }
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 1, 'exactly one JSON line');
      const out = JSON.parse(lines[0]!) as { verified: boolean; tee: string; reason?: string; claims: Record<string, unknown> };
      assert.equal(out.verified, c.code === 0);
      assert.equal(typeof out.tee, 'string');
      if (c.reason) assert.equal(out.reason?.split(':')[0], c.reason, out.reason);
      else assert.equal(out.reason, undefined);
      for (const [k, v] of Object.entries(c.claims ?? {})) assert.deepEqual(out.claims[k], typeof v === 'function' ? (v as () => unknown)() : v, k);
    });
  }
});

test('cocolet-kbs without a command prints usage and exits 2', async () => {
  const r = await run([]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage: cocolet-kbs <command>/);
});
