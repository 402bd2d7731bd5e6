/**
 * Everything a hardware-TEE launch needs before QEMU runs, checked up front with clear errors:
 * the firmware (it must be able to start the TEE, and for SNP it must carry the kernel-hashes
 * table, else the kernel, initrd and command line would not be measured and the host could swap
 * them), the init-data digest for HOSTDATA / MRCONFIGID, the q35 command line, and for SNP the
 * launch digest the guest's attestation report will carry (logged, for the key broker's
 * reference values).
 */
import { readFileSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { confidentialCmdline } from '../../shared/snp-launch/cmdline.js';
import { snpLaunchDigest, vcpuSignatureOf } from '../../shared/snp-launch/digest.js';
import { findFirmware, readFirmware } from './firmware.js';
import { HOSTDATA_BYTES, initdataRegister, MRCONFIGID_BYTES } from './initdata-digest.js';

export type ConfidentialGuest = 'none' | 'snp' | 'tdx';

/** A hardware-TEE launch: QEMU's `sev-snp-guest` or `tdx-guest` object on a q35 machine. */
export type ConfidentialLaunch =
  | {
      tee: 'snp';
      /** OVMF image for `-bios` (must carry SNP metadata and, for kernel-hashes, the hashes table). */
      firmware: string;
      /** HOSTDATA: 32 bytes (the init-data digest); omitted = zeros. */
      hostData?: Uint8Array;
      /** QEMU CPU model of every vCPU (enters the launch digest through the VMSA). */
      cpu: string;
      /** Guest policy (default SNP_DEFAULT_POLICY: SMT allowed, no debug, no migration agent). */
      policy?: bigint;
      /** C-bit position and reduced physical address bits of the host CPU (51 and 1 on Milan/Genoa/Turin). */
      cbitpos?: number;
      reducedPhysBits?: number;
    }
  | {
      tee: 'tdx';
      /** TDVF (OVMF with TDX metadata) for `-bios`. */
      firmware: string;
      /** MRCONFIGID: 48 bytes (the init-data digest); omitted = zeros. */
      mrConfigId?: Uint8Array;
    };

/** SNP guest policy: bit 17 (reserved, must be 1) and bit 16 (SMT allowed); debug (19) and migration agent (18) off. */
export const SNP_DEFAULT_POLICY = 0x30000n;
export const SNP_DEFAULT_CBITPOS = 51;
export const SNP_DEFAULT_CPU = 'EPYC-v4';


export interface ConfidentialInput {
  tee: 'snp' | 'tdx';
  /** Configured firmware path (empty: `$COCOLET_OVMF`, then Debian's OVMF.fd). */
  firmware?: string;
  /** SNP vCPU model (default EPYC-v4). */
  snpCpu?: string;
  kernel: string;
  initramfs: string;
  cmdline: string;
  vcpus: number;
  initdata?: Uint8Array;
}

export interface PreparedLaunch {
  launch: ConfidentialLaunch;
  cmdline: string;
  /** SNP: the expected MEASUREMENT (hex). */
  expectedMeasurement?: string;
}

export function prepareConfidentialLaunch(i: ConfidentialInput): PreparedLaunch {
  const path = findFirmware(i.firmware);
  if (!path) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `confidential_guest = "${i.tee}" needs OVMF firmware: install Debian's ovmf package or set hypervisor.firmware`);
  }
  const fw = readFirmware(path);
  const cmdline = confidentialCmdline(i.cmdline);
  const fail = (why: string): CocoletError => new CocoletError(ErrorCode.FailedPrecondition, `firmware ${path}: ${why} (${fw.caps.summary})`, { context: { firmware: path } });
  if (i.tee === 'tdx') {
    if (!fw.caps.tdx) throw fail('cannot start a TDX guest (no TDVF metadata)');
    return { launch: { tee: 'tdx', firmware: path, ...(i.initdata ? { mrConfigId: initdataRegister(i.initdata, MRCONFIGID_BYTES) } : {}) }, cmdline };
  }
  if (!fw.caps.snp) throw fail('cannot start an SEV-SNP guest (no SEV metadata)');
  if (!fw.caps.snpKernelHashes) throw fail('has no SNP kernel-hashes table, so the kernel, initrd and command line would not be measured and the host could replace them; use an OVMF AmdSev build (OvmfPkg/AmdSev)');
  const cpu = i.snpCpu || SNP_DEFAULT_CPU;
  vcpuSignatureOf(cpu); // an unknown model is refused here, not by QEMU later
  const { measurement } = snpLaunchDigest({ ovmf: fw.bytes, vcpus: i.vcpus, vcpuType: cpu, kernel: readFileSync(i.kernel), initrd: readFileSync(i.initramfs), cmdline });
  return {
    launch: { tee: 'snp', firmware: path, cpu, ...(i.initdata ? { hostData: initdataRegister(i.initdata, HOSTDATA_BYTES) } : {}) },
    cmdline,
    expectedMeasurement: measurement,
  };
}
