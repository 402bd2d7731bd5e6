/**
 * The SEV-SNP report from the JSON form trustee's SNP verifier deserialises (guest-components'
 * attester serialises the `sev` crate's AttestationReport with serde: byte arrays as JSON arrays,
 * bitfields as numbers, TCBs as {fmc, bootloader, tee, snp, microcode}, versions as
 * {major, minor, build}), back to the 1184 raw bytes the signature covers. Field offsets: AMD
 * SEV-SNP ABI, ATTESTATION_REPORT. Reserved bytes are zero, as the firmware writes them.
 */
import { KbsProtocolError } from './protocol.js';

export const SNP_REPORT_BYTES = 0x4a0;

type Json = Record<string, unknown>;

function num(o: Json, k: string, max: number): number {
  const v = o[k];
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > max) throw new KbsProtocolError(`attestation_report.${k} must be an integer 0..${max}`);
  return v as number;
}

function bytesAt(b: Buffer, off: number, o: Json, k: string, n: number): void {
  const v = o[k];
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => Number.isInteger(x) && x >= 0 && x < 256)) throw new KbsProtocolError(`attestation_report.${k} must be ${n} bytes`);
  b.set(v as number[], off);
}

function u64At(b: Buffer, off: number, o: Json, k: string, optional = false): void {
  if (optional && (o[k] === null || o[k] === undefined)) return;
  b.writeBigUInt64LE(BigInt(num(o, k, Number.MAX_SAFE_INTEGER)), off);
}

function tcbAt(b: Buffer, off: number, o: Json, k: string, turin: boolean): void {
  const t = o[k];
  if (typeof t !== 'object' || t === null) throw new KbsProtocolError(`attestation_report.${k} must be a TCB object`);
  const tt = t as Json;
  const put = (i: number, f: string): void => void (b[off + i] = num(tt, f, 255));
  if (turin) {
    put(0, 'fmc');
    put(1, 'bootloader');
    put(2, 'tee');
    put(3, 'snp');
  } else {
    put(0, 'bootloader');
    put(1, 'tee');
    put(6, 'snp');
  }
  put(7, 'microcode');
}

function versionAt(b: Buffer, off: number, o: Json, k: string): void {
  const v = o[k];
  if (typeof v !== 'object' || v === null) throw new KbsProtocolError(`attestation_report.${k} must be {major, minor, build}`);
  b[off] = num(v as Json, 'build', 255);
  b[off + 1] = num(v as Json, 'minor', 255);
  b[off + 2] = num(v as Json, 'major', 255);
}

export function snpReportFromJson(v: unknown): Uint8Array {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KbsProtocolError('attestation_report must be a JSON object');
  const o = v as Json;
  const b = Buffer.alloc(SNP_REPORT_BYTES);
  const version = num(o, 'version', 0xffffffff);
  b.writeUInt32LE(version, 0);
  b.writeUInt32LE(num(o, 'guest_svn', 0xffffffff), 0x04);
  u64At(b, 0x08, o, 'policy');
  bytesAt(b, 0x10, o, 'family_id', 16);
  bytesAt(b, 0x20, o, 'image_id', 16);
  b.writeUInt32LE(num(o, 'vmpl', 0xffffffff), 0x30);
  b.writeUInt32LE(num(o, 'sig_algo', 0xffffffff), 0x34);
  let turin = false;
  if (version >= 3 && o.cpuid_fam_id !== null && o.cpuid_fam_id !== undefined) {
    const fam = num(o, 'cpuid_fam_id', 255);
    const mod = num(o, 'cpuid_mod_id', 255);
    b[0x188] = fam;
    b[0x189] = mod;
    b[0x18a] = num(o, 'cpuid_step', 255);
    turin = fam === 0x1a && mod <= 0x11;
  }
  tcbAt(b, 0x38, o, 'current_tcb', turin);
  u64At(b, 0x40, o, 'plat_info');
  b.writeUInt32LE(num(o, 'key_info', 0xffffffff), 0x48);
  bytesAt(b, 0x50, o, 'report_data', 64);
  bytesAt(b, 0x90, o, 'measurement', 48);
  bytesAt(b, 0xc0, o, 'host_data', 32);
  bytesAt(b, 0xe0, o, 'id_key_digest', 48);
  bytesAt(b, 0x110, o, 'author_key_digest', 48);
  bytesAt(b, 0x140, o, 'report_id', 32);
  bytesAt(b, 0x160, o, 'report_id_ma', 32);
  tcbAt(b, 0x180, o, 'reported_tcb', turin);
  bytesAt(b, 0x1a0, o, 'chip_id', 64);
  tcbAt(b, 0x1e0, o, 'committed_tcb', turin);
  versionAt(b, 0x1e8, o, 'current');
  versionAt(b, 0x1ec, o, 'committed');
  tcbAt(b, 0x1f0, o, 'launch_tcb', turin);
  u64At(b, 0x1f8, o, 'launch_mit_vector', true);
  u64At(b, 0x200, o, 'current_mit_vector', true);
  const sig = o.signature;
  if (typeof sig !== 'object' || sig === null) throw new KbsProtocolError('attestation_report.signature must be {r, s}');
  bytesAt(b, 0x2a0, sig as Json, 'r', 72);
  bytesAt(b, 0x2e8, sig as Json, 's', 72);
  return new Uint8Array(b);
}
