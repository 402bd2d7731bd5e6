/**
 * Builds small synthetic firmware images with a real OVMF GUIDed table and SEV metadata, for
 * tests of the parser and the launch digest (Debian's OVMF has no SNP kernel-hashes table, so
 * the kernel-hashes path is checked on an image shaped like an AmdSev build).
 */
import { guidToBytes, OVMF_SEV_METADATA_GUID, OVMF_TABLE_FOOTER_GUID, SEV_ES_RESET_BLOCK_GUID, SEV_HASH_TABLE_RV_GUID, SnpSection, TDVF_METADATA_GUID, type SnpMetadataSection } from './ovmf.js';

export interface TestFirmwareOptions {
  /** Image size in bytes (default 256 KiB). */
  size?: number;
  sections?: SnpMetadataSection[];
  resetEip?: number;
  /** SEV hashes table GPA and size (0: none, like Debian's generic builds). */
  hashTable?: { gpa: number; size: number };
  tdx?: boolean;
  /** Seed of the filler bytes (different seeds give different images). */
  seed?: number;
}

/** An AmdSev-like layout: SEC memory, secrets, CPUID, the kernel-hashes page, more SEC memory. */
export const AMDSEV_LIKE_SECTIONS: SnpMetadataSection[] = [
  { gpa: 0x800000, size: 0x9000, type: SnpSection.SecMemory },
  { gpa: 0x80a000, size: 0x3000, type: SnpSection.SecMemory },
  { gpa: 0x80d000, size: 0x1000, type: SnpSection.Secrets },
  { gpa: 0x80e000, size: 0x1000, type: SnpSection.Cpuid },
  { gpa: 0x80f000, size: 0x1000, type: SnpSection.KernelHashes },
  { gpa: 0x810000, size: 0x10000, type: SnpSection.SecMemory },
];

function entry(guid: string, data: Buffer): Buffer {
  const h = Buffer.alloc(18);
  h.writeUInt16LE(data.length + 18, 0);
  guidToBytes(guid).copy(h, 2);
  return Buffer.concat([data, h]);
}

const u32s = (...v: number[]): Buffer => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
  return b;
};

export function buildTestFirmware(o: TestFirmwareOptions = {}): Buffer {
  const size = o.size ?? 256 * 1024;
  const img = Buffer.alloc(size);
  let x = (o.seed ?? 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    img[i] = x >>> 24;
  }
  const sections = o.sections ?? AMDSEV_LIKE_SECTIONS;
  // the ASEV block 4 KiB before the end, as the reset vector page holds it
  const metaOffset = 0x1000;
  const meta = Buffer.concat([Buffer.from('ASEV', 'latin1'), u32s(16 + 12 * sections.length, 1, sections.length), ...sections.map((s) => u32s(s.gpa, s.size, s.type))]);
  meta.copy(img, size - metaOffset);
  const entries = [
    entry(SEV_ES_RESET_BLOCK_GUID, u32s(o.resetEip ?? 0x80b004)),
    entry(SEV_HASH_TABLE_RV_GUID, u32s(o.hashTable?.gpa ?? 0, o.hashTable?.size ?? 0)),
    ...(sections.length ? [entry(OVMF_SEV_METADATA_GUID, u32s(metaOffset))] : []),
    ...(o.tdx ? [entry(TDVF_METADATA_GUID, u32s(0))] : []),
  ];
  const table = Buffer.concat(entries);
  const footer = entry(OVMF_TABLE_FOOTER_GUID, Buffer.alloc(0));
  footer.writeUInt16LE(table.length + 18, 0);
  const tail = Buffer.concat([table, footer]);
  tail.copy(img, size - 32 - tail.length);
  return img;
}
