/**
 * The initial VMSA (VM save area, one 4 KiB page per vCPU) that QEMU + KVM hand to the SEV-SNP
 * firmware at launch: real-mode reset state with the boot vCPU at 0xfffffff0 and the others at
 * the firmware's AP reset vector. Its SHA-384 enters the launch digest, so every byte matters.
 * Field offsets from AMD's APM vol. 2 (VMSA layout, SEV-ES save area); values are QEMU/KVM's
 * reset state.
 */

/** CPUID signature (leaf 1 EAX) from family, model and stepping (AMD CPUID spec #25481). */
export function cpuSignature(family: number, model: number, stepping: number): number {
  const baseFamily = family > 0xf ? 0xf : family;
  const extFamily = family > 0xf ? (family - 0xf) & 0xff : 0;
  return ((extFamily << 20) | (((model >> 4) & 0xf) << 16) | (baseFamily << 8) | ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

/** QEMU CPU models an SNP guest is launched with, and their family/model/stepping. */
export const SNP_VCPU_TYPES: Record<string, [family: number, model: number, stepping: number]> = {
  'EPYC': [23, 1, 2], 'EPYC-v1': [23, 1, 2], 'EPYC-v2': [23, 1, 2], 'EPYC-IBPB': [23, 1, 2], 'EPYC-v3': [23, 1, 2], 'EPYC-v4': [23, 1, 2],
  'EPYC-Rome': [23, 49, 0], 'EPYC-Rome-v1': [23, 49, 0], 'EPYC-Rome-v2': [23, 49, 0], 'EPYC-Rome-v3': [23, 49, 0],
  'EPYC-Milan': [25, 1, 1], 'EPYC-Milan-v1': [25, 1, 1], 'EPYC-Milan-v2': [25, 1, 1],
  'EPYC-Genoa': [25, 17, 0], 'EPYC-Genoa-v1': [25, 17, 0],
  'EPYC-Turin': [26, 0, 0],
};

/** SEV_FEATURES bit 0: SNPActive (what QEMU 10 asks for unless told otherwise). */
export const SNP_FEATURES_DEFAULT = 0x1n;

/** VMSA field offsets used by the reset state (bytes into the page). */
const OFF = {
  es: 0x00, cs: 0x10, ss: 0x20, ds: 0x30, fs: 0x40, gs: 0x50, gdtr: 0x60, ldtr: 0x70, idtr: 0x80, tr: 0x90,
  efer: 0xd0, cr4: 0x148, cr0: 0x158, dr7: 0x160, dr6: 0x168, rflags: 0x170, rip: 0x178,
  gPat: 0x268, rdx: 0x310, sevFeatures: 0x3b0, xcr0: 0x3e8, mxcsr: 0x408, x87Fcw: 0x410,
} as const;

export const BSP_RESET_EIP = 0xfffffff0;

function seg(p: Buffer, at: number, selector: number, attrib: number, limit: number, base: bigint): void {
  p.writeUInt16LE(selector, at);
  p.writeUInt16LE(attrib, at + 2);
  p.writeUInt32LE(limit, at + 4);
  p.writeBigUInt64LE(base, at + 8);
}

/** One vCPU's VMSA page as QEMU/KVM build it, starting at `eip`. */
export function vmsaPage(eip: number, cpuSig: number, sevFeatures: bigint = SNP_FEATURES_DEFAULT): Buffer {
  const p = Buffer.alloc(4096);
  const data = 0x93; // present, writable data segment
  seg(p, OFF.es, 0, data, 0xffff, 0n);
  seg(p, OFF.cs, 0xf000, 0x9b, 0xffff, BigInt(eip & 0xffff0000) & 0xffffffffn);
  seg(p, OFF.ss, 0, data, 0xffff, 0n);
  seg(p, OFF.ds, 0, data, 0xffff, 0n);
  seg(p, OFF.fs, 0, data, 0xffff, 0n);
  seg(p, OFF.gs, 0, data, 0xffff, 0n);
  seg(p, OFF.gdtr, 0, 0, 0xffff, 0n);
  seg(p, OFF.idtr, 0, 0, 0xffff, 0n);
  seg(p, OFF.ldtr, 0, 0x82, 0xffff, 0n); // LDT
  seg(p, OFF.tr, 0, 0x8b, 0xffff, 0n); // busy 32-bit TSS
  p.writeBigUInt64LE(0x1000n, OFF.efer); // EFER.SVME (KVM)
  p.writeBigUInt64LE(0x40n, OFF.cr4); // CR4.MCE (KVM)
  p.writeBigUInt64LE(0x10n, OFF.cr0); // CR0.ET
  p.writeBigUInt64LE(0x400n, OFF.dr7);
  p.writeBigUInt64LE(0xffff0ff0n, OFF.dr6);
  p.writeBigUInt64LE(0x2n, OFF.rflags);
  p.writeBigUInt64LE(BigInt(eip & 0xffff), OFF.rip);
  p.writeBigUInt64LE(0x0007040600070406n, OFF.gPat); // power-on PAT
  p.writeBigUInt64LE(BigInt(cpuSig >>> 0), OFF.rdx); // RDX holds the CPUID signature at reset
  p.writeBigUInt64LE(sevFeatures, OFF.sevFeatures);
  p.writeBigUInt64LE(0x1n, OFF.xcr0);
  p.writeUInt32LE(0x1f80, OFF.mxcsr);
  p.writeUInt16LE(0x37f, OFF.x87Fcw);
  return p;
}
