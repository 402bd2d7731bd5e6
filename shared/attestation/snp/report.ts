/**
 * AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI spec, table "ATTESTATION_REPORT Structure"):
 * versions 2, 3 and 5 (1184 bytes, little-endian). Version 3 adds the CPUID family/model/stepping
 * that identify the product; version 5 adds the launch / current mitigation vectors. Turin uses a
 * different TCB_VERSION layout (FMC first) and an 8-byte chip id.
 */
import { ByteReader, hex, isAllZero } from '../bytes.js';
import { fail, Reason } from '../errors.js';

export const SNP_REPORT_SIZE = 0x4a0;
export const SNP_SIGNED_SIZE = 0x2a0;
export const SNP_SIGNATURE_OFFSET = 0x2a0;
export const SUPPORTED_SNP_VERSIONS = [2, 3, 5] as const;

export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

export interface TcbVersion {
  /** Turin only. */
  fmc?: number;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface SnpPolicy {
  raw: bigint;
  abiMinor: number;
  abiMajor: number;
  smt: boolean;
  migrateMa: boolean;
  debug: boolean;
  singleSocket: boolean;
}

export type SigningKey = 'vcek' | 'vlek' | 'none';

export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: SnpPolicy;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcbRaw: bigint;
  platformInfo: bigint;
  authorKeyEn: boolean;
  maskChipKey: boolean;
  signingKey: SigningKey;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcbRaw: bigint;
  /** Version 3+: CPUID family / model / stepping; undefined in version 2. */
  cpuid?: { family: number; model: number; stepping: number };
  chipId: Uint8Array;
  committedTcbRaw: bigint;
  currentVersion: string;
  committedVersion: string;
  launchTcbRaw: bigint;
  launchMitVector?: bigint;
  currentMitVector?: bigint;
  /** The signed bytes 0x000..0x29F. */
  signed: Uint8Array;
  /** Big-endian r and s, 48 bytes each (converted from the report's 72-byte little-endian). */
  sigR: Uint8Array;
  sigS: Uint8Array;
  /** The whole report. */
  raw: Uint8Array;
}

/** Product from CPUID (family, model) of a version 3+ report. */
export function productFromCpuid(family: number, model: number): SnpProduct | undefined {
  if (family === 0x19 && model <= 0x0f) return 'Milan';
  if (family === 0x19 && model >= 0x10 && model <= 0x1f) return 'Genoa';
  if (family === 0x1a && model <= 0x11) return 'Turin';
  return undefined;
}

export function decodeTcb(raw: bigint, product: SnpProduct | undefined): TcbVersion {
  const b = (i: number): number => Number((raw >> BigInt(8 * i)) & 0xffn);
  if (product === 'Turin') return { fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7) };
  return { bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7) };
}

function leToBe48(le: Uint8Array, what: string): Uint8Array {
  // 72-byte little-endian integer; only the low 48 bytes may be non-zero for P-384.
  if (!isAllZero(le.subarray(48))) fail(Reason.SnpSignature, `${what} component of the report signature is wider than 384 bits`);
  const out = new Uint8Array(48);
  for (let i = 0; i < 48; i++) out[i] = le[47 - i]!;
  return out;
}

function version(r: ByteReader, field: string): string {
  const build = r.u8(`${field}.build`);
  const minor = r.u8(`${field}.minor`);
  const major = r.u8(`${field}.major`);
  r.skip(1, `${field}.reserved`);
  return `${major}.${minor}.${build}`;
}

export function parseSnpReport(buf: Uint8Array): SnpReport {
  if (buf.length < SNP_REPORT_SIZE) fail(Reason.Truncated, `SNP report is ${buf.length} bytes, expected ${SNP_REPORT_SIZE}`);
  if (buf.length > SNP_REPORT_SIZE) fail(Reason.Malformed, `SNP report is ${buf.length} bytes, expected ${SNP_REPORT_SIZE}`);
  const r = new ByteReader(buf, 'SNP report', true);
  const ver = r.u32('version');
  if (!(SUPPORTED_SNP_VERSIONS as readonly number[]).includes(ver)) {
    fail(Reason.SnpVersion, `SNP report version ${ver} is not one of ${SUPPORTED_SNP_VERSIONS.join(', ')}`);
  }
  const guestSvn = r.u32('guest_svn');
  const pol = r.u64('policy');
  const familyId = r.bytes(16, 'family_id');
  const imageId = r.bytes(16, 'image_id');
  const vmpl = r.u32('vmpl');
  const signatureAlgo = r.u32('signature_algo');
  const currentTcbRaw = r.u64('current_tcb');
  const platformInfo = r.u64('platform_info');
  const keyInfo = r.u32('key_info');
  r.skip(4, 'reserved');
  const reportData = r.bytes(64, 'report_data');
  const measurement = r.bytes(48, 'measurement');
  const hostData = r.bytes(32, 'host_data');
  const idKeyDigest = r.bytes(48, 'id_key_digest');
  const authorKeyDigest = r.bytes(48, 'author_key_digest');
  const reportId = r.bytes(32, 'report_id');
  const reportIdMa = r.bytes(32, 'report_id_ma');
  const reportedTcbRaw = r.u64('reported_tcb');
  let cpuid: SnpReport['cpuid'];
  if (ver >= 3) {
    cpuid = { family: r.u8('cpuid_fam_id'), model: r.u8('cpuid_mod_id'), stepping: r.u8('cpuid_step') };
    r.skip(21, 'reserved');
  } else {
    r.skip(24, 'reserved');
  }
  const chipId = r.bytes(64, 'chip_id');
  const committedTcbRaw = r.u64('committed_tcb');
  const currentVersion = version(r, 'current');
  const committedVersion = version(r, 'committed');
  const launchTcbRaw = r.u64('launch_tcb');
  let launchMitVector: bigint | undefined;
  let currentMitVector: bigint | undefined;
  if (ver >= 5) {
    launchMitVector = r.u64('launch_mit_vector');
    currentMitVector = r.u64('current_mit_vector');
  }
  const signingKeyBits = (keyInfo >> 2) & 7;
  const signingKey: SigningKey = signingKeyBits === 0 ? 'vcek' : signingKeyBits === 1 ? 'vlek' : 'none';
  if (signingKeyBits > 1 && signingKeyBits !== 7) fail(Reason.SnpSigningKey, `SNP report signing_key ${signingKeyBits} is reserved`);
  const sig = new ByteReader(buf, 'SNP report', true, SNP_SIGNATURE_OFFSET);
  const sigR = leToBe48(sig.bytes(72, 'signature.r'), 'r');
  const sigS = leToBe48(sig.bytes(72, 'signature.s'), 's');
  return {
    version: ver,
    guestSvn,
    policy: {
      raw: pol,
      abiMinor: Number(pol & 0xffn),
      abiMajor: Number((pol >> 8n) & 0xffn),
      smt: ((pol >> 16n) & 1n) === 1n,
      migrateMa: ((pol >> 18n) & 1n) === 1n,
      debug: ((pol >> 19n) & 1n) === 1n,
      singleSocket: ((pol >> 20n) & 1n) === 1n,
    },
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcbRaw,
    platformInfo,
    authorKeyEn: (keyInfo & 1) === 1,
    maskChipKey: ((keyInfo >> 1) & 1) === 1,
    signingKey,
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcbRaw,
    ...(cpuid ? { cpuid } : {}),
    chipId,
    committedTcbRaw,
    currentVersion,
    committedVersion,
    launchTcbRaw,
    ...(launchMitVector !== undefined ? { launchMitVector, currentMitVector: currentMitVector! } : {}),
    signed: buf.subarray(0, SNP_SIGNED_SIZE),
    sigR,
    sigS,
    raw: buf,
  };
}

/** Platform info bits (SEV-SNP ABI "PLATFORM_INFO"). */
export function decodePlatformInfo(v: bigint): Record<string, boolean> {
  const bit = (i: number): boolean => ((v >> BigInt(i)) & 1n) === 1n;
  return { smt_enabled: bit(0), tsme_enabled: bit(1), ecc_enabled: bit(2), rapl_disabled: bit(3), ciphertext_hiding_enabled: bit(4), alias_check_complete: bit(5) };
}

export function snpClaims(rep: SnpReport, product: SnpProduct | undefined): Record<string, unknown> {
  return {
    version: rep.version,
    product: product ?? 'unknown',
    guest_svn: rep.guestSvn,
    policy: {
      raw: `0x${rep.policy.raw.toString(16)}`,
      abi_major: rep.policy.abiMajor,
      abi_minor: rep.policy.abiMinor,
      smt: rep.policy.smt,
      migrate_ma: rep.policy.migrateMa,
      debug: rep.policy.debug,
      single_socket: rep.policy.singleSocket,
    },
    vmpl: rep.vmpl,
    signing_key: rep.signingKey,
    platform_info: { raw: `0x${rep.platformInfo.toString(16)}`, ...decodePlatformInfo(rep.platformInfo) },
    measurement: hex(rep.measurement),
    report_data: hex(rep.reportData),
    host_data: hex(rep.hostData),
    family_id: hex(rep.familyId),
    image_id: hex(rep.imageId),
    id_key_digest: hex(rep.idKeyDigest),
    author_key_digest: hex(rep.authorKeyDigest),
    report_id: hex(rep.reportId),
    chip_id: hex(product === 'Turin' ? rep.chipId.subarray(0, 8) : rep.chipId),
    reported_tcb: decodeTcb(rep.reportedTcbRaw, product),
    committed_tcb: decodeTcb(rep.committedTcbRaw, product),
    current_tcb: decodeTcb(rep.currentTcbRaw, product),
    launch_tcb: decodeTcb(rep.launchTcbRaw, product),
    current_version: rep.currentVersion,
    committed_version: rep.committedVersion,
    ...(rep.cpuid ? { cpuid: rep.cpuid } : {}),
  };
}
