/**
 * configfs-tsm attesters against a fake configfs (no SNP or TDX on this machine): the report
 * entry's life cycle (provider check, inblob padded to 64 bytes, generation race, cleanup), the
 * TDX and SNP evidence shapes, and, for SNP, that the JSON carries every signed byte of a real
 * report (re-encoded from the JSON, the report verifies against its real VCEK).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnpAttester, TdxAttester } from './attester.js';
import { tsmReport, type TsmFs } from './report.js';
import { snpCertChainJson, snpReportJson } from './snp-json.js';
import { detectAttester } from '../detect.js';
import { verify, X509Certificate } from 'node:crypto';

const ROOT = '/fake/tsm/report';

/** configfs semantics: mkdir makes an entry with `provider`; writing inblob makes a report. */
class FakeConfigfs implements TsmFs {
  entries = new Map<string, { inblob?: Buffer; generation: number }>();
  removed: string[] = [];
  constructor(
    private readonly provider: string,
    private readonly report: (inblob: Buffer) => Buffer,
    private readonly aux?: Buffer,
    private readonly extraWrites = 0,
  ) {}
  exists(p: string): boolean {
    return p === ROOT;
  }
  mkdir(p: string): Promise<void> {
    this.entries.set(p, { generation: 0 });
    return Promise.resolve();
  }
  rmdir(p: string): Promise<void> {
    this.entries.delete(p);
    this.removed.push(p);
    return Promise.resolve();
  }
  private entry(p: string): { inblob?: Buffer; generation: number } {
    const e = this.entries.get(p.slice(0, p.lastIndexOf('/')));
    if (!e) return Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })) as never;
    return e;
  }
  readFile(p: string): Promise<Buffer> {
    const e = this.entry(p);
    const attr = p.slice(p.lastIndexOf('/') + 1);
    if (attr === 'provider') return Promise.resolve(Buffer.from(`${this.provider}\n`));
    if (attr === 'generation') return Promise.resolve(Buffer.from(`${e.generation}\n`));
    if (attr === 'outblob') return Promise.resolve(this.report(e.inblob!));
    if (attr === 'auxblob') return Promise.resolve(this.aux ?? Buffer.alloc(0));
    return Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
  }
  writeFile(p: string, d: Uint8Array | string): Promise<void> {
    const e = this.entry(p);
    if (p.endsWith('/inblob')) {
      e.inblob = Buffer.from(d);
      e.generation += 1 + this.extraWrites;
    }
    return Promise.resolve();
  }
}

const fakeQuote = (inblob: Buffer) => Buffer.concat([Buffer.from('QUOTE'), inblob]);

test('TDX evidence: the quote over the zero-padded report data, in trustee\'s shape; the entry is removed', async () => {
  const fs = new FakeConfigfs('tdx_guest', fakeQuote);
  const att = new TdxAttester({ root: ROOT, fs, ccelPath: '/nonexistent/CCEL' });
  const ev = await att.evidence(Buffer.from('abc'));
  assert.deepEqual(Object.keys(ev).sort(), ['cc_eventlog', 'quote']);
  assert.equal(ev.cc_eventlog, null);
  const q = Buffer.from(ev.quote, 'base64');
  assert.deepEqual(q, Buffer.concat([Buffer.from('QUOTE'), Buffer.from('abc'), Buffer.alloc(61)]));
  assert.equal(fs.entries.size, 0);
  assert.equal(fs.removed.length, 1);
});

const refusals: { name: string; fs: FakeConfigfs; data?: Buffer; code: string; msg: RegExp }[] = [
  { name: 'another provider', fs: new FakeConfigfs('sev_guest', fakeQuote), code: 'COCOLET_UNAVAILABLE', msg: /provider is "sev_guest", not tdx_guest/ },
  { name: 'a racing writer', fs: new FakeConfigfs('tdx_guest', fakeQuote, undefined, 1), code: 'COCOLET_UNAVAILABLE', msg: /generation is 2/ },
  { name: 'report data over 64 bytes', fs: new FakeConfigfs('tdx_guest', fakeQuote), data: Buffer.alloc(65), code: 'COCOLET_INVALID_ARGUMENT', msg: /65 bytes/ },
];
for (const c of refusals) {
  test(`a TSM report is refused with ${c.name}, and no entry is left`, async () => {
    await assert.rejects(tsmReport(c.data ?? Buffer.alloc(48), 'tdx_guest', { root: ROOT, fs: c.fs }), (e: Error & { code?: string }) => e.code === c.code && c.msg.test(e.message));
    assert.equal(c.fs.entries.size, 0);
  });
}

test('no configfs-tsm tree: a clear error naming the path', async () => {
  await assert.rejects(tsmReport(Buffer.alloc(1), 'tdx_guest', { root: '/nonexistent/tsm' }), /\/nonexistent\/tsm does not exist/);
});

const FIX = process.env.COCOLET_FIXTURES ?? join(process.cwd(), '..', 'shared', 'fixtures');
const SNP = join(FIX, 'attestation', 'snp', 'milan-v2-virtee');

/** Writes the JSON report back into the ABI layout (the fields trustee's deserialiser keeps). */
function encodeSnp(j: Record<string, unknown>): Buffer {
  const b = Buffer.alloc(0x4a0);
  const put = (off: number, v: unknown) => Buffer.from(v as number[]).copy(b, off);
  const tcb = (off: number, t: Record<string, number>) => {
    b[off] = t.bootloader!;
    b[off + 1] = t.tee!;
    b[off + 6] = t.snp!;
    b[off + 7] = t.microcode!;
  };
  b.writeUInt32LE(j.version as number, 0);
  b.writeUInt32LE(j.guest_svn as number, 4);
  b.writeBigUInt64LE(BigInt(j.policy as number), 8);
  put(0x10, j.family_id);
  put(0x20, j.image_id);
  b.writeUInt32LE(j.vmpl as number, 0x30);
  b.writeUInt32LE(j.sig_algo as number, 0x34);
  tcb(0x38, j.current_tcb as Record<string, number>);
  b.writeBigUInt64LE(BigInt(j.plat_info as number), 0x40);
  b.writeUInt32LE(j.key_info as number, 0x48);
  put(0x50, j.report_data);
  put(0x90, j.measurement);
  put(0xc0, j.host_data);
  put(0xe0, j.id_key_digest);
  put(0x110, j.author_key_digest);
  put(0x140, j.report_id);
  put(0x160, j.report_id_ma);
  tcb(0x180, j.reported_tcb as Record<string, number>);
  put(0x1a0, j.chip_id);
  tcb(0x1e0, j.committed_tcb as Record<string, number>);
  for (const [off, k] of [[0x1e8, 'current'], [0x1ec, 'committed']] as const) {
    const v = j[k] as Record<string, number>;
    b[off] = v.build!;
    b[off + 1] = v.minor!;
    b[off + 2] = v.major!;
  }
  tcb(0x1f0, j.launch_tcb as Record<string, number>);
  const sig = j.signature as { r: number[]; s: number[] };
  put(0x2a0, sig.r);
  put(0x2e8, sig.s);
  return b;
}

test('SNP evidence of a real report carries every signed byte (re-encoded, it verifies with the real VCEK)', { skip: existsSync(SNP) ? false : 'SNP fixture absent' }, async () => {
  const report = readFileSync(join(SNP, 'report.bin'));
  const vcek = readFileSync(join(SNP, 'vcek.der'));
  // certificate table: VCEK, then terminator
  const table = Buffer.alloc(48 + vcek.length);
  Buffer.from('63da758de6644564adc5f4b93be8accd', 'hex').copy(table, 0);
  table.writeUInt32LE(48, 16);
  table.writeUInt32LE(vcek.length, 20);
  vcek.copy(table, 48);
  const fs = new FakeConfigfs('sev_guest', () => report, table);
  const ev = await new SnpAttester({ root: ROOT, fs }).evidence(Buffer.alloc(48, 7));
  assert.equal(ev.attestation_report.version, 2);
  assert.equal(ev.attestation_report.cpuid_fam_id, null);
  assert.deepEqual(ev.cert_chain, [{ cert_type: 'VCEK', data: [...vcek] }]);
  const again = encodeSnp(JSON.parse(JSON.stringify(ev.attestation_report)) as Record<string, unknown>);
  assert.deepEqual(again.subarray(0, 0x2a0), report.subarray(0, 0x2a0));
  // ECDSA P-384 / SHA-384 over bytes 0..0x2a0; r and s are little-endian in 72-byte fields
  const le = (o: number) => Buffer.from(again.subarray(o, o + 48)).reverse();
  const key = new X509Certificate(vcek).publicKey;
  assert.equal(verify('sha384', again.subarray(0, 0x2a0), { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([le(0x2a0), le(0x2e8)])), true);
});

test('SNP certificate tables: unknown GUIDs are OTHER, entries past the end are refused', () => {
  const t = Buffer.alloc(72 + 3);
  Buffer.from('00112233445566778899aabbccddeeff', 'hex').copy(t, 0);
  t.writeUInt32LE(72, 16);
  t.writeUInt32LE(3, 20);
  assert.deepEqual(snpCertChainJson(t), [{ cert_type: { OTHER: '00112233-4455-6677-8899-aabbccddeeff' }, data: [0, 0, 0] }]);
  t.writeUInt32LE(70, 20);
  assert.throws(() => snpCertChainJson(t), /points past the table/);
});

test('detection: SNP, TDX by provider; no TSM and no TPM device is a clear error', async () => {
  assert.equal((await detectAttester({ tsm: { root: ROOT, fs: new FakeConfigfs('sev_guest', fakeQuote) } })).tee, 'snp');
  assert.equal((await detectAttester({ tsm: { root: ROOT, fs: new FakeConfigfs('tdx_guest', fakeQuote) } })).tee, 'tdx');
  await assert.rejects(detectAttester({ tsm: { root: '/nonexistent/tsm' }, tpmDevices: ['/nonexistent/tpmrm0'] }), (e: Error & { code?: string }) => e.code === 'COCOLET_FAILED_PRECONDITION' && /no TEE found/.test(e.message));
});

test('SNP JSON of a version 5 Turin report: CPUID fields, FMC in the TCB, mitigation vectors', () => {
  const r = Buffer.alloc(0x4a0);
  r.writeUInt32LE(5, 0);
  r[0x188] = 0x1a; // Turin family
  r[0x189] = 0x02;
  r[0x18a] = 0x01;
  Buffer.from([9, 1, 2, 3, 0, 0, 0, 7]).copy(r, 0x38); // current_tcb: fmc, bootloader, tee, snp, ..., microcode
  r.writeBigUInt64LE(3n, 0x1f8);
  r.writeBigUInt64LE(4n, 0x200);
  const j = snpReportJson(r);
  assert.deepEqual([j.cpuid_fam_id, j.cpuid_mod_id, j.cpuid_step], [0x1a, 0x02, 0x01]);
  assert.deepEqual(j.current_tcb, { fmc: 9, bootloader: 1, tee: 2, snp: 3, microcode: 7 });
  assert.deepEqual([j.launch_mit_vector, j.current_mit_vector], [3, 4]);
  r.writeUInt32LE(2, 0);
  const v2 = snpReportJson(r);
  assert.deepEqual([v2.cpuid_fam_id, v2.launch_mit_vector, (v2.current_tcb as { fmc: unknown }).fmc], [null, null, null]);
});
