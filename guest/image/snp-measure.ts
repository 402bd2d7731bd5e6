/**
 * The SEV-SNP launch measurement of the built guest image: what the attestation report's
 * MEASUREMENT must be when the shim launches it with `confidential_guest = "snp"` (same
 * firmware, the image's kernel and initramfs, its command line as a q35 launch boots it, the
 * vCPU count and CPU model). A key broker pins this value.
 *
 * CLI (run by `npm run guest-image` after the build):
 *   node dist/guest/image/snp-measure.js [--ovmf PATH] [--vcpus N] [--cpu MODEL] [--json]
 * Firmware: --ovmf, else `$COCOLET_OVMF`, else Debian's /usr/share/ovmf/OVMF.fd. Debian's OVMF
 * has no SNP kernel-hashes table: then no measurement covers the kernel, and this says so (the
 * shim refuses that launch) and prints the firmware-only digest for reference.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { confidentialCmdline } from '../../shared/snp-launch/cmdline.js';
import { snpLaunchDigest } from '../../shared/snp-launch/digest.js';
import { findFirmware } from '../../shared/snp-launch/firmware.js';
import { describeOvmf, parseOvmf } from '../../shared/snp-launch/ovmf.js';
import { guestImageDir, IMAGE_FILES } from './paths.js';

export interface SnpImageMeasurement {
  firmware?: string;
  vcpus: number;
  cpu: string;
  cmdline: string;
  /** The launch measurement covering firmware, kernel, initramfs and cmdline (hex). */
  measurement?: string;
  /** Firmware + VMSAs only (when the firmware cannot measure the kernel). */
  firmwareOnly?: string;
  /** Why there is no full measurement. */
  reason?: string;
}

export function measureImageForSnp(o: { imageDir?: string; ovmf?: string; vcpus?: number; cpu?: string } = {}): SnpImageMeasurement {
  const dir = o.imageDir ?? guestImageDir();
  const manifest = JSON.parse(readFileSync(join(dir, IMAGE_FILES.manifest), 'utf8')) as { cmdline: string; files: { kernel: string; initramfs: string } };
  const vcpus = o.vcpus ?? 1;
  const cpu = o.cpu ?? 'EPYC-v4';
  const cmdline = confidentialCmdline(manifest.cmdline);
  const firmware = findFirmware(o.ovmf);
  if (!firmware) return { vcpus, cpu, cmdline, reason: 'no OVMF firmware (install the ovmf package, or pass --ovmf / set COCOLET_OVMF)' };
  const ovmf = readFileSync(firmware);
  const caps = describeOvmf(parseOvmf(ovmf));
  if (!caps.snp) return { firmware, vcpus, cpu, cmdline, reason: `the firmware cannot start an SEV-SNP guest (${caps.summary})` };
  if (!caps.snpKernelHashes) {
    return {
      firmware, vcpus, cpu, cmdline,
      firmwareOnly: snpLaunchDigest({ ovmf, vcpus, vcpuType: cpu }).measurement,
      reason: 'the firmware has no SNP kernel-hashes table, so no measurement covers the kernel, initramfs and cmdline (the shim refuses this launch; use an OVMF AmdSev build)',
    };
  }
  const { measurement } = snpLaunchDigest({
    ovmf, vcpus, vcpuType: cpu, cmdline,
    kernel: readFileSync(join(dir, manifest.files.kernel)), initrd: readFileSync(join(dir, manifest.files.initramfs)),
  });
  return { firmware, vcpus, cpu, cmdline, measurement };
}

export function formatSnpMeasurement(m: SnpImageMeasurement): string {
  const what = `${m.vcpus} vCPU ${m.cpu}${m.firmware ? `, firmware ${m.firmware}` : ''}`;
  if (m.measurement) return `  SNP launch measurement (${what}) ${m.measurement}\n`;
  return `  SNP launch measurement: none: ${m.reason}\n` + (m.firmwareOnly ? `  SNP firmware-only digest (${what}; does NOT cover the kernel) ${m.firmwareOnly}\n` : '');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const vcpus = arg('--vcpus');
    if (vcpus !== undefined && !/^[1-9]\d*$/.test(vcpus)) throw new Error(`--vcpus must be a positive integer (got ${vcpus})`);
    const m = measureImageForSnp({ ...(arg('--ovmf') ? { ovmf: arg('--ovmf')! } : {}), ...(vcpus ? { vcpus: Number(vcpus) } : {}), ...(arg('--cpu') ? { cpu: arg('--cpu')! } : {}) });
    process.stdout.write(process.argv.includes('--json') ? JSON.stringify(m, null, 2) + '\n' : formatSnpMeasurement(m));
  } catch (e) {
    process.stderr.write(`snp-measure: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
