/**
 * What an OVMF firmware image tells a confidential-VM launcher, read from the GUIDed table that
 * edk2's reset vector places just below the last 32 bytes of the image:
 *
 *   ... [entry data][u16 size][GUID] ... [u16 table size][footer GUID 96b582de-…][32 bytes]
 *
 * Each entry's `size` counts its data plus the 18-byte header; entries are walked from the end.
 * The SEV metadata entry holds the offset (from the end of the image) of an `ASEV` block listing
 * the pages the SEV-SNP launch must add besides the image itself (zeroed SEC memory, the secrets
 * page, the CPUID page, the SVSM calling area, and the kernel-hashes page of AmdSev builds).
 * The TDVF metadata entry marks a TDX-capable build. Layouts and GUIDs from edk2's
 * OvmfPkg/ResetVector and AMD's SEV-SNP firmware ABI.
 */
import { CocoletError, ErrorCode } from '../errors/index.js';

export const OVMF_TABLE_FOOTER_GUID = '96b582de-1fb2-45f7-baea-a366c55a082d';
export const SEV_HASH_TABLE_RV_GUID = '7255371f-3a3b-4b04-927b-1da6efa8d454';
export const SEV_ES_RESET_BLOCK_GUID = '00f771de-1a7e-4fcb-890e-68c77e2fb44e';
export const OVMF_SEV_METADATA_GUID = 'dc886566-984a-4798-a75e-5585a7bf67cc';
export const TDVF_METADATA_GUID = 'e47a6535-984a-4798-865e-4685a7bf8ec2';

/** Section types of the `ASEV` metadata block. */
export const SnpSection = {
  SecMemory: 1,
  Secrets: 2,
  Cpuid: 3,
  SvsmCaa: 4,
  KernelHashes: 0x10,
} as const;
export type SnpSectionType = (typeof SnpSection)[keyof typeof SnpSection];

export interface SnpMetadataSection {
  gpa: number;
  size: number;
  type: SnpSectionType;
}

export interface OvmfInfo {
  size: number;
  /** Guest-physical address of the image's first byte (the image ends at 4 GiB). */
  gpa: number;
  /** GUID → entry data. */
  table: Map<string, Buffer>;
  /** SEV-SNP metadata sections (empty: the build cannot launch as an SNP guest). */
  snpSections: SnpMetadataSection[];
  /** AP reset vector (SEV-ES reset block), 0 when absent. */
  sevEsResetEip: number;
  /** Guest-physical address of the SEV hashes table (0: the build does not verify kernel hashes). */
  sevHashTableGpa: number;
  sevHashTableSize: number;
  /** The build carries TDVF metadata (can be a TDX guest's firmware). */
  tdx: boolean;
}

const FOUR_GIB = 0x1_0000_0000;
const ENTRY_HEADER = 18;

function ovmfError(message: string): CocoletError {
  return new CocoletError(ErrorCode.InvalidArgument, `OVMF image: ${message}`);
}

/** Formats 16 bytes in EFI GUID byte order (first three fields little-endian). */
export function guidFromBytes(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  const rev = (s: string): string => s.match(/../g)!.reverse().join('');
  return `${rev(h.slice(0, 8))}-${rev(h.slice(8, 12))}-${rev(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The 16 bytes of a GUID string in EFI byte order. */
export function guidToBytes(guid: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw ovmfError(`not a GUID: ${JSON.stringify(guid)}`);
  const rev = (s: string): string => s.match(/../g)!.reverse().join('');
  return Buffer.from(rev(m[1]!) + rev(m[2]!) + rev(m[3]!) + m[4]! + m[5]!, 'hex');
}

function parseTable(d: Buffer): Map<string, Buffer> {
  const table = new Map<string, Buffer>();
  const footerAt = d.length - 32 - ENTRY_HEADER;
  if (footerAt < 0) return table;
  if (guidFromBytes(d.subarray(footerAt + 2, footerAt + ENTRY_HEADER)) !== OVMF_TABLE_FOOTER_GUID) return table;
  const tableSize = d.readUInt16LE(footerAt) - ENTRY_HEADER;
  if (tableSize < 0 || tableSize > footerAt) throw ovmfError(`footer table size ${tableSize} out of range`);
  let rest = d.subarray(footerAt - tableSize, footerAt);
  while (rest.length >= ENTRY_HEADER) {
    const hdr = rest.subarray(rest.length - ENTRY_HEADER);
    const size = hdr.readUInt16LE(0);
    if (size < ENTRY_HEADER || size > rest.length) throw ovmfError(`table entry size ${size} out of range`);
    table.set(guidFromBytes(hdr.subarray(2)), Buffer.from(rest.subarray(rest.length - size, rest.length - ENTRY_HEADER)));
    rest = rest.subarray(0, rest.length - size);
  }
  return table;
}

function u32(entry: Buffer | undefined, at = 0): number {
  return entry && entry.length >= at + 4 ? entry.readUInt32LE(at) : 0;
}

function parseSnpMetadata(d: Buffer, entry: Buffer | undefined): SnpMetadataSection[] {
  if (!entry) return [];
  const offset = u32(entry);
  const start = d.length - offset;
  if (offset === 0 || start < 0 || start + 16 > d.length) throw ovmfError(`SEV metadata offset ${offset} out of range`);
  if (d.toString('latin1', start, start + 4) !== 'ASEV') throw ovmfError('SEV metadata signature is not ASEV');
  const version = d.readUInt32LE(start + 8);
  if (version !== 1) throw ovmfError(`SEV metadata version ${version} (only 1 is known)`);
  const n = d.readUInt32LE(start + 12);
  if (start + 16 + n * 12 > d.length) throw ovmfError(`SEV metadata lists ${n} sections past the image end`);
  const known = new Set<number>(Object.values(SnpSection));
  const out: SnpMetadataSection[] = [];
  for (let i = 0; i < n; i++) {
    const o = start + 16 + i * 12;
    const s = { gpa: d.readUInt32LE(o), size: d.readUInt32LE(o + 4), type: d.readUInt32LE(o + 8) };
    if (!known.has(s.type)) throw ovmfError(`SEV metadata section ${i} has unknown type ${s.type}`);
    if (s.gpa % 4096 !== 0 || s.size % 4096 !== 0) throw ovmfError(`SEV metadata section ${i} is not page aligned`);
    out.push(s as SnpMetadataSection);
  }
  return out;
}

/** Reads an OVMF image (the whole file mapped to end at 4 GiB, as QEMU's `-bios` does). */
export function parseOvmf(image: Uint8Array): OvmfInfo {
  const d = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (d.length === 0 || d.length % 4096 !== 0 || d.length > FOUR_GIB) throw ovmfError(`image size ${d.length} is not a whole number of pages below 4 GiB`);
  const table = parseTable(d);
  const hashes = table.get(SEV_HASH_TABLE_RV_GUID);
  return {
    size: d.length,
    gpa: FOUR_GIB - d.length,
    table,
    snpSections: parseSnpMetadata(d, table.get(OVMF_SEV_METADATA_GUID)),
    sevEsResetEip: u32(table.get(SEV_ES_RESET_BLOCK_GUID)),
    sevHashTableGpa: u32(hashes),
    sevHashTableSize: u32(hashes, 4),
    tdx: table.has(TDVF_METADATA_GUID),
  };
}

/** What a launcher can do with this firmware, in words (for logs and `guest-image`). */
export function describeOvmf(o: OvmfInfo): { snp: boolean; snpKernelHashes: boolean; tdx: boolean; summary: string } {
  const snp = o.snpSections.length > 0 && o.sevEsResetEip !== 0;
  const snpKernelHashes = snp && o.sevHashTableGpa !== 0 && o.snpSections.some((s) => s.type === SnpSection.KernelHashes);
  const parts = [
    snp ? `SEV-SNP metadata (${o.snpSections.length} sections)` : 'no SEV-SNP metadata',
    snpKernelHashes ? 'SNP kernel-hashes table' : 'no SNP kernel-hashes table (kernel, initrd and cmdline would not be measured)',
    o.tdx ? 'TDVF metadata' : 'no TDVF metadata',
  ];
  return { snp, snpKernelHashes, tdx: o.tdx, summary: parts.join('; ') };
}
