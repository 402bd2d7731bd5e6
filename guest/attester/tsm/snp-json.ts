/**
 * SEV-SNP evidence in the shape trustee's SNP verifier deserialises (guest-components' SNP
 * attester serialises the `sev` crate's AttestationReport and CertTableEntry with serde):
 *
 *   { "attestation_report": { version, guest_svn, policy, family_id: [16 numbers], image_id,
 *       vmpl, sig_algo, current_tcb: {fmc, bootloader, tee, snp, microcode}, plat_info,
 *       key_info, report_data: [64], measurement: [48], host_data: [32], id_key_digest: [48],
 *       author_key_digest: [48], report_id: [32], report_id_ma: [32], reported_tcb,
 *       cpuid_fam_id, cpuid_mod_id, cpuid_step, chip_id: [64], committed_tcb,
 *       current: {major, minor, build}, committed, launch_tcb, launch_mit_vector,
 *       current_mit_vector, signature: {r: [72], s: [72]} },
 *     "cert_chain": [{ "cert_type": "ARK"|"ASK"|"VCEK"|"VLEK"|"CRL"|{"OTHER": uuid}, "data": [bytes] }] | null }
 *
 * Byte arrays are JSON arrays of numbers, bitfield newtypes (policy, plat_info, key_info) plain
 * numbers, absent optional fields null. TCB fields are decoded per processor generation
 * (Turin has an FMC byte). Offsets: AMD SEV-SNP ABI, ATTESTATION_REPORT.
 */
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';
import { decodeTcb, productFromCpuid, SNP_REPORT_SIZE, type SnpProduct } from '../../../shared/attestation/snp/report.js';

const CERT_GUIDS: Record<string, string> = {
  'c0b406a4-a803-4952-9743-3fb6014cd0ae': 'ARK',
  '4ab7b379-bbac-4fe4-a02f-05aef327c782': 'ASK',
  '63da758d-e664-4564-adc5-f4b93be8accd': 'VCEK',
  'a8074bc2-a25a-483e-aae6-39c045a0b8a1': 'VLEK',
  '92f81bc3-5811-4d3d-97ff-d19f88dc67ea': 'CRL',
};

const arr = (b: Buffer, off: number, n: number): number[] => [...b.subarray(off, off + n)];

function u64(b: Buffer, off: number): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CocoletError(ErrorCode.Unimplemented, `SNP report field at 0x${off.toString(16)} does not fit a JSON number`);
  return Number(v);
}

function tcb(b: Buffer, off: number, product: SnpProduct | undefined): Record<string, number | null> {
  const t = decodeTcb(b.readBigUInt64LE(off), product);
  return { fmc: t.fmc ?? null, bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode };
}

export function snpReportJson(report: Uint8Array): Record<string, unknown> {
  if (report.length < SNP_REPORT_SIZE) throw new CocoletError(ErrorCode.EvidenceMalformed, `SNP report is ${report.length} bytes, expected ${SNP_REPORT_SIZE}`);
  const b = Buffer.from(report.buffer, report.byteOffset, SNP_REPORT_SIZE);
  const version = b.readUInt32LE(0);
  const v3 = version >= 3;
  const product = v3 ? productFromCpuid(b[0x188]!, b[0x189]!) : undefined;
  const ver = (off: number) => ({ major: b[off + 2]!, minor: b[off + 1]!, build: b[off]! });
  return {
    version,
    guest_svn: b.readUInt32LE(0x04),
    policy: u64(b, 0x08),
    family_id: arr(b, 0x10, 16),
    image_id: arr(b, 0x20, 16),
    vmpl: b.readUInt32LE(0x30),
    sig_algo: b.readUInt32LE(0x34),
    current_tcb: tcb(b, 0x38, product),
    plat_info: u64(b, 0x40),
    key_info: b.readUInt32LE(0x48),
    report_data: arr(b, 0x50, 64),
    measurement: arr(b, 0x90, 48),
    host_data: arr(b, 0xc0, 32),
    id_key_digest: arr(b, 0xe0, 48),
    author_key_digest: arr(b, 0x110, 48),
    report_id: arr(b, 0x140, 32),
    report_id_ma: arr(b, 0x160, 32),
    reported_tcb: tcb(b, 0x180, product),
    cpuid_fam_id: v3 ? b[0x188]! : null,
    cpuid_mod_id: v3 ? b[0x189]! : null,
    cpuid_step: v3 ? b[0x18a]! : null,
    chip_id: arr(b, 0x1a0, 64),
    committed_tcb: tcb(b, 0x1e0, product),
    current: ver(0x1e8),
    committed: ver(0x1ec),
    launch_tcb: tcb(b, 0x1f0, product),
    launch_mit_vector: version >= 5 ? u64(b, 0x1f8) : null,
    current_mit_vector: version >= 5 ? u64(b, 0x200) : null,
    signature: { r: arr(b, 0x2a0, 72), s: arr(b, 0x2e8, 72) },
  };
}

function guidString(g: Buffer): string {
  const h = g.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The SNP certificate table (configfs-tsm auxblob): {guid, offset, length} entries up to an all-zero one. */
export function snpCertChainJson(table: Uint8Array): { cert_type: unknown; data: number[] }[] {
  const b = Buffer.from(table.buffer, table.byteOffset, table.length);
  const out: { cert_type: unknown; data: number[] }[] = [];
  for (let off = 0; off + 24 <= b.length; off += 24) {
    const guid = b.subarray(off, off + 16);
    const offset = b.readUInt32LE(off + 16);
    const length = b.readUInt32LE(off + 20);
    if (guid.every((x) => x === 0) && offset === 0 && length === 0) return out;
    if (offset + length > b.length) throw new CocoletError(ErrorCode.EvidenceMalformed, `SNP certificate table entry ${out.length} points past the table (${offset}+${length} > ${b.length})`);
    const id = guidString(guid);
    out.push({ cert_type: CERT_GUIDS[id] ?? { OTHER: id }, data: [...b.subarray(offset, offset + length)] });
  }
  throw new CocoletError(ErrorCode.EvidenceMalformed, 'SNP certificate table has no terminating entry');
}
