/**
 * Where the firmware of a confidential launch is found (the host launching it and the image
 * build printing its SNP measurement must pick the same file): a configured path, else
 * `$COCOLET_OVMF`, else Debian's combined OVMF image (package `ovmf`).
 */
import { existsSync } from 'node:fs';

export const DEFAULT_FIRMWARE_PATHS = ['/usr/share/ovmf/OVMF.fd', '/usr/share/qemu/OVMF.fd'];

/** The firmware path to use, or undefined when none is configured or installed. */
export function findFirmware(configured?: string): string | undefined {
  if (configured) return configured;
  if (process.env.COCOLET_OVMF) return process.env.COCOLET_OVMF;
  return DEFAULT_FIRMWARE_PATHS.find((p) => existsSync(p));
}
