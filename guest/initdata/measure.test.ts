import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../shared/errors/index.js';
import { createLogger } from '../../shared/log/logger.js';
import { parseSnpReport } from '../../shared/attestation/snp/report.js';
import { attestationFixtures, FIXTURES_ABSENT, fx } from '../../shared/attestation/testing/fixtures.js';
import { parseInitdata } from './initdata.js';
import { cpuinfoFlags, measureInitdata, type MeasureOptions, type TpmPort } from './measure.js';

const sha256 = (...b: Buffer[]): Buffer => b.reduce((h, x) => h.update(x), createHash('sha256')).digest();
const toml = Buffer.from('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"policy.json" = \'\'\'{"version":1}\'\'\'\n');
const BUILTIN = sha256(Buffer.from('builtin policy'));

/** An in-memory TPM with PCR 8 (SHA-256 bank) and optional faults. */
function fakeTpm(o: { initial?: Buffer; failExtend?: boolean; ignoreExtend?: boolean } = {}): TpmPort & { pcr: Buffer } {
  const t = {
    device: '/dev/fake-tpm',
    pcr: o.initial ?? Buffer.alloc(32),
    read: () => Buffer.from(t.pcr),
    extend: (_p: number, d: Buffer) => {
      if (o.failExtend) throw new Error('TPM command 0x182 failed with rc 0x101');
      if (!o.ignoreExtend) t.pcr = sha256(t.pcr, d);
    },
  };
  return t;
}

function logs(): { lines: Record<string, unknown>[]; logger: MeasureOptions['logger'] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'test', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { lines, logger };
}

const noProvider = (): never => {
  throw Object.assign(new Error('mkdir'), { code: 'ENXIO' });
};

function withTsmRoot<T>(f: (root: string) => T): T {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-tsm-'));
  try {
    return f(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('development TEE: configfs-tsm without provider is said in one line, then PCR 8 takes sha256(init-data)', () => {
  withTsmRoot((root) => {
    const { lines, logger } = logs();
    const tpm = fakeTpm();
    const m = measureInitdata(parseInitdata(toml), { builtinPolicyDigest: BUILTIN, logger, tsmRoot: root, tsmMkdir: noProvider, tpm: () => tpm, cpuFlags: () => new Set(['fpu']) });
    assert.deepEqual({ tee: m.tee, register: m.register, initdata: m.initdata }, { tee: 'dev', register: 'PCR8', initdata: true });
    assert.equal(m.digest, sha256(toml).toString('hex'), 'sha384 init-data is measured as sha256 of the TOML');
    assert.equal(m.pcr8, sha256(Buffer.alloc(32), sha256(toml)).toString('hex'));
    const probe = lines.filter((l) => String(l.msg).startsWith('configfs-tsm'));
    assert.equal(probe.length, 1);
    assert.match(String(probe[0]!.msg), /no provider answers.*falling back to the development TEE vTPM/);
    assert.ok(lines.some((l) => /can forge PCR 8/.test(String(l.msg))), 'the development TEE says what it does not protect');
  });
});

test('no init-data: PCR 8 takes the built-in policy digest', () => {
  const tpm = fakeTpm();
  const m = measureInitdata(undefined, { builtinPolicyDigest: BUILTIN, logger: logs().logger, tsmRoot: '/nonexistent/tsm', tpm: () => tpm, cpuFlags: () => new Set() });
  assert.equal(m.initdata, false);
  assert.equal(m.pcr8, sha256(Buffer.alloc(32), BUILTIN).toString('hex'));
});

const refusals: { name: string; opts: () => Partial<MeasureOptions>; want: RegExp }[] = [
  { name: 'no TPM and no provider', opts: () => ({ tsmMkdir: noProvider, tpm: () => undefined }), want: /no TEE register: configfs-tsm has no provider and no TPM/ },
  { name: 'no TPM and no configfs-tsm', opts: () => ({ tsmRoot: '/nonexistent/tsm', tpm: () => undefined }), want: /configfs-tsm absent and no TPM/ },
  { name: 'PCR 8 already extended', opts: () => ({ tsmMkdir: noProvider, tpm: () => fakeTpm({ initial: Buffer.alloc(32, 1) }) }), want: /PCR 8 is not zero/ },
  { name: 'the TPM fails the extend', opts: () => ({ tsmMkdir: noProvider, tpm: () => fakeTpm({ failExtend: true }) }), want: /TPM \/dev\/fake-tpm: TPM command 0x182 failed/ },
  { name: 'PCR 8 does not move', opts: () => ({ tsmMkdir: noProvider, tpm: () => fakeTpm({ ignoreExtend: true }) }), want: /did not take the digest/ },
  { name: 'a TDX CPU whose configfs-tsm has no provider', opts: () => ({ tsmMkdir: noProvider, tpm: () => fakeTpm(), cpuFlags: () => new Set(['tdx_guest']) }), want: /CPU reports tdx_guest/ },
  { name: 'configfs-tsm that cannot create a report', opts: () => ({ tsmMkdir: () => { throw Object.assign(new Error('x'), { code: 'EIO' }); }, tpm: () => fakeTpm() }), want: /configfs-tsm: creating the report entry .* failed \(EIO\)/ },
];

for (const tc of refusals) {
  test(`refuses (fail closed): ${tc.name}`, () => {
    withTsmRoot((root) => {
      assert.throws(
        () => measureInitdata(parseInitdata(toml), { builtinPolicyDigest: BUILTIN, logger: logs().logger, tsmRoot: root, cpuFlags: () => new Set(), ...tc.opts() }),
        (e: { code?: string; message: string }) => e.code === ErrorCode.FailedPrecondition && tc.want.test(e.message),
      );
    });
  });
}

const snp = attestationFixtures() === null ? FIXTURES_ABSENT : false;

test('SEV-SNP: HOSTDATA must hold the init-data digest; without init-data it must be zero', { skip: snp }, () => {
  const report = fx('snp/milan-v2-go-sev-guest/report.bin');
  const hostData = Buffer.from(parseSnpReport(report).hostData);
  const provider = (dir: string): void => {
    rmSync(dir, { recursive: true, force: true }); // a plain folder keeps the files configfs would drop with the entry
    mkdirSync(dir);
    writeFileSync(join(dir, 'provider'), 'sev_guest\n');
    writeFileSync(join(dir, 'outblob'), report);
  };
  withTsmRoot((root) => {
    const base = { builtinPolicyDigest: BUILTIN, logger: logs().logger, tsmRoot: root, tsmMkdir: provider, tpm: () => fakeTpm() };
    // an init-data whose digest is the report's HOSTDATA: measureInitdata only compares digests
    const id = { ...parseInitdata(toml), digest: hostData };
    assert.deepEqual(measureInitdata(id, base).register, 'HOSTDATA');
    const other = { ...id, digest: Buffer.alloc(32, 7) };
    assert.throws(() => measureInitdata(other, base), /init-data digest does not match the snp HOSTDATA/);
    if (!hostData.equals(Buffer.alloc(32))) {
      assert.throws(() => measureInitdata(undefined, base), /no init-data was delivered but the TEE report's init-data field is not zero/);
    }
  });
});

test('cpuinfo flags are read from the first flags line', () => {
  assert.deepEqual([...cpuinfoFlags('processor: 0\nflags\t\t: fpu vme tdx_guest\n')], ['fpu', 'vme', 'tdx_guest']);
  assert.equal(cpuinfoFlags('nothing').size, 0);
});
