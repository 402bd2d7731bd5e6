/**
 * Firmware for confidential launches (`-bios`): `hypervisor.firmware` in the shim config, else
 * `$COCOLET_OVMF`, else Debian's combined OVMF image (package `ovmf`). Debian bookworm's
 * `/usr/share/ovmf/OVMF.fd` (edk2 2022.11) carries SEV-SNP metadata and TDVF metadata but no SNP
 * kernel-hashes table, and its OVMF_CODE_4M.fd carries neither (trixie's 2025.02 4M build has
 * both, still without the hashes table): see README.md "Firmware".
 */
import { readFileSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { describeOvmf, parseOvmf, type OvmfInfo } from '../../shared/snp-launch/ovmf.js';
import { DEFAULT_FIRMWARE_PATHS, findFirmware } from '../../shared/snp-launch/firmware.js';

export { DEFAULT_FIRMWARE_PATHS, findFirmware };

export interface FirmwareInfo {
  path: string;
  bytes: Buffer;
  info: OvmfInfo;
  caps: ReturnType<typeof describeOvmf>;
}

export function readFirmware(path: string): FirmwareInfo {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `firmware ${path} cannot be read: ${(e as Error).message}`, { cause: e, context: { firmware: path } });
  }
  const info = parseOvmf(bytes);
  return { path, bytes, info, caps: describeOvmf(info) };
}
