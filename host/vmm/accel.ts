/**
 * Chooses QEMU's accelerator: KVM when /dev/kvm is usable and a short probe boot of the guest
 * kernel succeeds under it (nested KVM can exist yet hang or crash), else TCG. The probe result is
 * cached per host kernel + guest kernel in the image folder. `COCOLET_VMM_ACCEL=kvm|tcg`
 * overrides.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { release } from 'node:os';

export type Accel = 'kvm' | 'tcg';

export interface AccelChoice {
  accel: Accel;
  /** `-cpu` model for that accelerator. */
  cpu: string;
  reason: string;
}

const TCG: AccelChoice = { accel: 'tcg', cpu: 'max', reason: 'no usable /dev/kvm' };
const KVM_CPU = 'host,-arch-capabilities';
const PROBE_TIMEOUT_MS = 8000;

export function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Boots the kernel under KVM with a command line that powers off at once; true when it did. */
function probeKvm(qemu: string, kernel: string, initramfs: string, cmdline: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(qemu, [
      '-accel', 'kvm', '-M', 'microvm', '-cpu', KVM_CPU, '-smp', '1', '-m', '512',
      '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', kernel, '-initrd', initramfs, '-append', `${cmdline} cocolet_mode=hello`,
    ], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const t = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', () => resolve(false));
    child.once('exit', () => {
      clearTimeout(t);
      resolve(out.includes('COCOLET_NODE_HELLO'));
    });
  });
}

export async function chooseAccel(opts: { qemu: string; imageDir: string; kernel: string; initramfs: string; cmdline: string }): Promise<AccelChoice> {
  const forced = process.env.COCOLET_VMM_ACCEL;
  if (forced === 'tcg') return { ...TCG, reason: 'COCOLET_VMM_ACCEL=tcg' };
  if (forced === 'kvm') return { accel: 'kvm', cpu: KVM_CPU, reason: 'COCOLET_VMM_ACCEL=kvm' };
  if (!kvmUsable()) return TCG;
  const cacheFile = join(opts.imageDir, 'accel-probe.json');
  const key = `${release()}|${opts.kernel}|${existsSync(opts.kernel) ? readFileSync(join(opts.imageDir, 'manifest.json'), 'utf8').length : 0}`;
  try {
    const c = JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string; kvm: boolean };
    if (c.key === key) return c.kvm ? { accel: 'kvm', cpu: KVM_CPU, reason: 'kvm probe passed (cached)' } : { ...TCG, reason: 'kvm probe failed (cached)' };
  } catch {
    /* no cache */
  }
  const ok = await probeKvm(opts.qemu, opts.kernel, opts.initramfs, opts.cmdline);
  try {
    writeFileSync(cacheFile, JSON.stringify({ key, kvm: ok }));
  } catch {
    /* read-only image folder: probe again next time */
  }
  return ok ? { accel: 'kvm', cpu: KVM_CPU, reason: 'kvm probe passed' } : { ...TCG, reason: 'kvm probe failed (nested or unsupported KVM)' };
}
