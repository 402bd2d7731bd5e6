import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../shared/errors/index.js';
import { snpLaunchDigest } from '../../shared/snp-launch/digest.js';
import { SnpSection } from '../../shared/snp-launch/ovmf.js';
import { buildTestFirmware } from '../../shared/snp-launch/testing.js';
import { prepareConfidentialLaunch, type ConfidentialInput } from './confidential.js';

const dir = mkdtempSync(join(tmpdir(), 'cocolet-cgs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: Uint8Array): string => {
  writeFileSync(join(dir, name), data);
  return join(dir, name);
};
const amdsev = file('amdsev.fd', buildTestFirmware({ hashTable: { gpa: 0x80f400, size: 0x400 }, tdx: true }));
const generic = file('generic.fd', buildTestFirmware({ sections: [{ gpa: 0x800000, size: 0x9000, type: SnpSection.SecMemory }, { gpa: 0x80d000, size: 0x1000, type: SnpSection.Secrets }, { gpa: 0x80e000, size: 0x1000, type: SnpSection.Cpuid }] }));
const nothing = file('plain.fd', Buffer.alloc(64 * 1024));
const kernel = file('vmlinuz', Buffer.from('kernel bytes'));
const initramfs = file('initramfs', Buffer.from('initramfs bytes'));
const initdata = Buffer.from('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n');
const base: ConfidentialInput = { tee: 'snp', firmware: amdsev, kernel, initramfs, cmdline: 'console=ttyS0 pci=off quiet', vcpus: 2, initdata };

test('SNP: HOSTDATA = init-data digest, the q35 cmdline, and the expected measurement of exactly what is booted', () => {
  const p = prepareConfidentialLaunch(base);
  assert.equal(p.cmdline, 'console=ttyS0 quiet');
  assert.equal(p.launch.tee, 'snp');
  if (p.launch.tee !== 'snp') return;
  assert.equal(p.launch.cpu, 'EPYC-v4');
  assert.deepEqual(p.launch.hostData, createHash('sha384').update(initdata).digest().subarray(0, 32));
  const ovmf = buildTestFirmware({ hashTable: { gpa: 0x80f400, size: 0x400 }, tdx: true });
  assert.equal(p.expectedMeasurement, snpLaunchDigest({ ovmf, vcpus: 2, vcpuType: 'EPYC-v4', kernel: Buffer.from('kernel bytes'), initrd: Buffer.from('initramfs bytes'), cmdline: 'console=ttyS0 quiet' }).measurement);
});

test('TDX: MRCONFIGID = init-data digest zero-padded to 48 bytes', () => {
  const p = prepareConfidentialLaunch({ ...base, tee: 'tdx' });
  assert.equal(p.launch.tee, 'tdx');
  if (p.launch.tee !== 'tdx') return;
  assert.deepEqual(p.launch.mrConfigId, createHash('sha384').update(initdata).digest());
  assert.equal(p.expectedMeasurement, undefined);
});

const refusals: { name: string; input: ConfidentialInput; code: string; message: RegExp }[] = [
  { name: 'SNP on firmware without the kernel-hashes table (Debian OVMF.fd-like)', input: { ...base, firmware: generic }, code: ErrorCode.FailedPrecondition, message: /no SNP kernel-hashes table, so the kernel, initrd and command line would not be measured/ },
  { name: 'SNP on firmware without SEV metadata', input: { ...base, firmware: nothing }, code: ErrorCode.FailedPrecondition, message: /cannot start an SEV-SNP guest/ },
  { name: 'TDX on firmware without TDVF metadata', input: { ...base, tee: 'tdx', firmware: generic }, code: ErrorCode.FailedPrecondition, message: /cannot start a TDX guest/ },
  { name: 'a firmware path that does not exist', input: { ...base, firmware: join(dir, 'missing.fd') }, code: ErrorCode.FailedPrecondition, message: /cannot be read/ },
  { name: 'an unknown SNP CPU model', input: { ...base, snpCpu: 'Skylake' }, code: ErrorCode.InvalidArgument, message: /unknown vCPU type "Skylake"/ },
  { name: 'init-data with an unknown algorithm', input: { ...base, initdata: Buffer.from('algorithm = "sha1"') }, code: ErrorCode.InvalidArgument, message: /init-data algorithm must be/ },
];
for (const tc of refusals) {
  test(`refused before QEMU runs: ${tc.name}`, () => {
    assert.throws(() => prepareConfidentialLaunch(tc.input), (e: { code?: string; message: string }) => e.code === tc.code && tc.message.test(e.message));
  });
}
