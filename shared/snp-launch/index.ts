/** shared/snp-launch: OVMF firmware tables and the SEV-SNP launch digest of a QEMU guest. */
export * from './ovmf.js';
export * from './vmsa.js';
export * from './digest.js';
export * from './cmdline.js';
export * from './firmware.js';
