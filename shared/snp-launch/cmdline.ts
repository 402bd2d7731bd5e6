/**
 * The kernel command line a hardware-TEE launch boots: the guest image's line is tuned for QEMU
 * microvm, whose `pci=off` would hide every device of the q35 machine SNP and TDX need. The host
 * (launching) and the image build (printing the expected SNP measurement, which covers the
 * command line) both derive it here, so they agree byte for byte.
 */
const MICROVM_ONLY = new Set(['pci=off']);

export function confidentialCmdline(cmdline: string): string {
  return cmdline.split(/\s+/).filter((w) => w && !MICROVM_ONLY.has(w)).join(' ');
}
