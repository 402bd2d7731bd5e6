/**
 * cocolet's SEV-SNP launch digest against the `sev-snp-measure` tool for the same inputs: the
 * installed OVMF (Debian's has SNP metadata but no kernel-hashes table, so only firmware + VMSAs
 * are compared on it) and an AmdSev-shaped synthetic firmware with the guest image's kernel,
 * initramfs and command line (the kernel-hashes page).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { confidentialCmdline, snpLaunchDigest } from '../../shared/snp-launch/index.js';
import { buildTestFirmware } from '../../shared/snp-launch/testing.js';
import { findFirmware } from '../../host/vmm/firmware.js';
import { loadGuestImage } from '../../host/vmm/image.js';
import { peerMeasure, sevSnpMeasure } from '../support/sev-snp-measure.js';

const peer = sevSnpMeasure();
const dir = mkdtempSync(join(tmpdir(), 'cocolet-snp-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The guest image's kernel, initramfs and cmdline; else the host's newest /boot kernel. */
function bootFiles(): { kernel: string; initrd: string; cmdline: string } | undefined {
  try {
    const img = loadGuestImage();
    return { kernel: img.kernel, initrd: img.initramfs, cmdline: img.cmdline };
  } catch {
    const k = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).sort().pop();
    const i = k && readdirSync('/boot').find((n) => n === k.replace('vmlinuz-', 'initrd.img-'));
    return k && i ? { kernel: join('/boot', k), initrd: join('/boot', i), cmdline: 'console=ttyS0 quiet panic=-1' } : undefined;
  }
}

describe('SNP launch digest vs sev-snp-measure', { skip: 'skip' in peer ? peer.skip : false }, () => {
  const bin = 'bin' in peer ? peer.bin : '';
  const ovmf = findFirmware();

  test('installed OVMF, firmware and VMSAs only (no kernel-hashes table), several vCPU counts and types', { skip: ovmf ? false : 'needs the ovmf package (/usr/share/ovmf/OVMF.fd) or $COCOLET_OVMF' }, () => {
    const image = readFileSync(ovmf!);
    for (const [vcpus, vcpuType] of [[1, 'EPYC-v4'], [2, 'EPYC-Milan'], [4, 'EPYC-Genoa'], [3, 'EPYC-Turin']] as const) {
      const ours = snpLaunchDigest({ ovmf: image, vcpus, vcpuType });
      assert.equal(ours.kernelMeasured, false);
      assert.equal(ours.measurement, peerMeasure(bin, ['--ovmf', ovmf!, '--vcpus', String(vcpus), '--vcpu-type', vcpuType]), `${vcpus} x ${vcpuType}`);
    }
  });

  test('installed OVMF with a kernel: both refuse, the firmware has no SNP kernel-hashes section', { skip: ovmf ? false : 'needs the ovmf package' }, () => {
    const files = bootFiles();
    const image = readFileSync(ovmf!);
    if (!files) return;
    assert.throws(() => snpLaunchDigest({ ovmf: image, vcpus: 1, kernel: readFileSync(files.kernel) }), /no SNP kernel-hashes table/);
    assert.throws(() => peerMeasure(bin, ['--ovmf', ovmf!, '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--kernel', files.kernel]), /SNP_KERNEL_HASHES/);
  });

  test('AmdSev-shaped firmware with the guest kernel, initramfs and cmdline (kernel-hashes page)', { skip: bootFiles() ? false : 'no guest image and no /boot kernel' }, () => {
    const files = bootFiles()!;
    const fwPath = join(dir, 'amdsev-like.fd');
    const fw = buildTestFirmware({ size: 1024 * 1024, hashTable: { gpa: 0x80f400, size: 0x400 } });
    writeFileSync(fwPath, fw);
    const kernel = readFileSync(files.kernel);
    const initrd = readFileSync(files.initrd);
    for (const [vcpus, vcpuType] of [[1, 'EPYC-v4'], [2, 'EPYC-Milan']] as const) {
      const ours = snpLaunchDigest({ ovmf: fw, vcpus, vcpuType, kernel, initrd, cmdline: files.cmdline });
      assert.equal(ours.kernelMeasured, true);
      const theirs = peerMeasure(bin, ['--ovmf', fwPath, '--vcpus', String(vcpus), '--vcpu-type', vcpuType, '--kernel', files.kernel, '--initrd', files.initrd, '--append', files.cmdline]);
      assert.equal(ours.measurement, theirs, `${vcpus} x ${vcpuType}`);
    }
    // `npm run guest-image`'s SNP line: the image's files and its cmdline as a q35 launch boots it
    const img = join(dir, 'image');
    mkdirSync(img);
    copyFileSync(files.kernel, join(img, 'vmlinuz'));
    copyFileSync(files.initrd, join(img, 'initramfs.cpio'));
    const imageCmdline = `${files.cmdline} pci=off`;
    writeFileSync(join(img, 'manifest.json'), JSON.stringify({ cmdline: imageCmdline, files: { kernel: 'vmlinuz', initramfs: 'initramfs.cpio' } }));
    const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'guest', 'image', 'snp-measure.js');
    const r = spawnSync(process.execPath, [cli, '--ovmf', fwPath, '--vcpus', '2', '--cpu', 'EPYC-Milan', '--json'], { encoding: 'utf8', env: { ...process.env, COCOLET_GUEST_DIR: img } });
    assert.equal(r.status, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as { measurement?: string; cmdline: string };
    assert.equal(printed.cmdline, confidentialCmdline(imageCmdline));
    assert.doesNotMatch(printed.cmdline, /pci=off/);
    assert.equal(printed.measurement, peerMeasure(bin, ['--ovmf', fwPath, '--vcpus', '2', '--vcpu-type', 'EPYC-Milan', '--kernel', files.kernel, '--initrd', files.initrd, '--append', printed.cmdline]));
    // no initrd and an empty command line hash as QEMU does (empty data, a lone NUL)
    assert.equal(
      snpLaunchDigest({ ovmf: fw, vcpus: 1, kernel }).measurement,
      peerMeasure(bin, ['--ovmf', fwPath, '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--kernel', files.kernel]),
    );
  });
});
