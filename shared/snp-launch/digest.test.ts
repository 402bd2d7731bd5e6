import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ErrorCode } from '../errors/index.js';
import { describeOvmf, guidFromBytes, guidToBytes, parseOvmf, SnpSection } from './ovmf.js';
import { cpuSignature, vmsaPage } from './vmsa.js';
import { kernelHashes, sevHashesTable, snpLaunchDigest, SnpLaunchDigest } from './digest.js';
import { buildTestFirmware } from './testing.js';

const sha384 = (b: Uint8Array): Buffer => createHash('sha384').update(b).digest();

test('GUIDs round-trip in EFI byte order (first three fields little-endian)', () => {
  const b = guidToBytes('96b582de-1fb2-45f7-baea-a366c55a082d');
  assert.equal(b.toString('hex'), 'de82b596b21ff745baeaa366c55a082d');
  assert.equal(guidFromBytes(b), '96b582de-1fb2-45f7-baea-a366c55a082d');
});

test('the firmware table gives the SNP sections, the AP reset vector and the hashes table', () => {
  const fw = parseOvmf(buildTestFirmware({ hashTable: { gpa: 0x80f400, size: 0x400 }, resetEip: 0x80b004, tdx: true }));
  assert.equal(fw.gpa, 0x1_0000_0000 - 256 * 1024);
  assert.equal(fw.sevEsResetEip, 0x80b004);
  assert.equal(fw.sevHashTableGpa, 0x80f400);
  assert.deepEqual(fw.snpSections.map((s) => s.type), [1, 1, 2, 3, 0x10, 1]);
  assert.deepEqual(describeOvmf(fw), { snp: true, snpKernelHashes: true, tdx: true, summary: 'SEV-SNP metadata (6 sections); SNP kernel-hashes table; TDVF metadata' });
  const generic = describeOvmf(parseOvmf(buildTestFirmware({ sections: [{ gpa: 0x800000, size: 0x1000, type: SnpSection.Secrets }] })));
  assert.equal(generic.snp, true);
  assert.equal(generic.snpKernelHashes, false);
  assert.equal(describeOvmf(parseOvmf(Buffer.alloc(8192))).snp, false);
});

const badImages: { name: string; image: Buffer }[] = [
  { name: 'not whole pages', image: Buffer.alloc(5000) },
  { name: 'a section of unknown type', image: buildTestFirmware({ sections: [{ gpa: 0x800000, size: 0x1000, type: 9 as 1 }] }) },
  { name: 'a section not page aligned', image: buildTestFirmware({ sections: [{ gpa: 0x800010, size: 0x1000, type: 1 }] }) },
];
for (const tc of badImages) {
  test(`a firmware image with ${tc.name} is refused with a clear error`, () => {
    assert.throws(() => parseOvmf(tc.image), (e: { code?: string; message: string }) => e.code === ErrorCode.InvalidArgument && /^OVMF image: /.test(e.message));
  });
}

test('CPUID signatures of the EPYC models (Milan 0x00a00f11, Naples 0x00800f12, Genoa 0x00a10f10)', () => {
  assert.equal(cpuSignature(25, 1, 1), 0x00a00f11);
  assert.equal(cpuSignature(23, 1, 2), 0x00800f12);
  assert.equal(cpuSignature(25, 17, 0), 0x00a10f10);
});

test('VMSA: real-mode reset state, CS base from the reset EIP, RDX = CPUID signature, SEV features', () => {
  const p = vmsaPage(0x80b004, 0x00a00f11, 0x1n);
  assert.equal(p.length, 4096);
  assert.equal(p.readUInt16LE(0x10), 0xf000);
  assert.equal(p.readBigUInt64LE(0x18), 0x800000n);
  assert.equal(p.readBigUInt64LE(0x178), 0xb004n);
  assert.equal(p.readBigUInt64LE(0x310), 0xa00f11n);
  assert.equal(p.readBigUInt64LE(0x3b0), 1n);
  assert.equal(vmsaPage(0xfffffff0, 1).readBigUInt64LE(0x18), 0xffff0000n);
});

test('one PAGE_INFO step: SHA-384 of digest | contents | 0x70 | type | 0s | gpa', () => {
  const page = Buffer.alloc(4096, 7);
  const ld = new SnpLaunchDigest();
  ld.normalPages(0xfffff000, page);
  const info = Buffer.concat([Buffer.alloc(48), sha384(page), Buffer.from([0x70, 0, 1, 0, 0, 0, 0, 0]), Buffer.from('00f0ffff00000000', 'hex')]);
  assert.equal(info.length, 112);
  assert.deepEqual(ld.value, sha384(info));
});

test('the SEV hashes table: 168-byte table padded to 176, cmdline hash includes the NUL', () => {
  const h = kernelHashes(Buffer.from('kernel'), undefined, 'console=ttyS0');
  const t = sevHashesTable(h);
  assert.equal(t.length, 176);
  assert.equal(t.readUInt16LE(16), 168);
  assert.deepEqual(t.subarray(18 + 18, 18 + 50), createHash('sha256').update('console=ttyS0\0').digest());
  assert.deepEqual(t.subarray(68 + 18, 68 + 50), createHash('sha256').update('').digest());
});

test('the digest covers firmware, kernel, initrd, cmdline and vCPU count; each change moves it', () => {
  const base = { ovmf: buildTestFirmware({ hashTable: { gpa: 0x80f400, size: 0x400 } }), vcpus: 1, vcpuType: 'EPYC-v4', kernel: Buffer.from('k'), initrd: Buffer.from('i'), cmdline: 'c' };
  const d = snpLaunchDigest(base);
  assert.match(d.measurement, /^[0-9a-f]{96}$/);
  assert.equal(d.kernelMeasured, true);
  assert.equal(snpLaunchDigest(base).measurement, d.measurement);
  const variants = [
    { ...base, ovmf: buildTestFirmware({ hashTable: { gpa: 0x80f400, size: 0x400 }, seed: 2 }) },
    { ...base, kernel: Buffer.from('K') }, { ...base, initrd: Buffer.from('I') }, { ...base, cmdline: 'C' },
    { ...base, vcpus: 2 }, { ...base, vcpuType: 'EPYC-Milan' }, { ...base, kernel: undefined },
  ];
  const all = new Set([d.measurement, ...variants.map((v) => snpLaunchDigest(v).measurement)]);
  assert.equal(all.size, variants.length + 1);
});

test('a kernel with firmware that has no kernel-hashes table is refused (it would not be measured)', () => {
  assert.throws(
    () => snpLaunchDigest({ ovmf: buildTestFirmware({ sections: [{ gpa: 0x800000, size: 0x1000, type: SnpSection.Secrets }] }), vcpus: 1, kernel: Buffer.from('k') }),
    (e: { code?: string; message: string }) => e.code === ErrorCode.FailedPrecondition && /no SNP kernel-hashes table/.test(e.message),
  );
  assert.throws(() => snpLaunchDigest({ ovmf: buildTestFirmware(), vcpus: 1, vcpuType: 'Pentium' }), /unknown vCPU type "Pentium"/);
});
