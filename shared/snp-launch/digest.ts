/**
 * The SEV-SNP launch digest (the report's MEASUREMENT) a QEMU direct-boot guest gets, computed
 * ahead of time from the firmware, kernel, initrd, command line and vCPUs.
 *
 * The SNP firmware folds every page added at launch into a SHA-384 chain: for each page it hashes
 * a 112-byte PAGE_INFO (SNP ABI spec, "PAGE_INFO structure"):
 *   digest_cur[48] | contents[48] | length u16 = 0x70 | page_type u8 | imi u8 |
 *   vmpl3_perms u8 | vmpl2_perms u8 | vmpl1_perms u8 | reserved u8 | gpa u64
 * and the result becomes digest_cur for the next page. `contents` is SHA-384 of the page for
 * NORMAL and VMSA pages and zero for the others. QEMU's launch order: the firmware image (normal
 * pages, ending at 4 GiB), then the firmware's SEV metadata sections in order (zero pages, the
 * secrets page, the CPUID page, and the kernel-hashes page when kernel-hashes=on), then one VMSA
 * per vCPU at the fixed VMSA GPA.
 *
 * The kernel-hashes page holds QEMU's SEV hashes table at the firmware's table address: header
 * GUID, u16 length (168), then cmdline, initrd and kernel entries (GUID, u16 length 50,
 * SHA-256), zero-padded to 16 bytes. The cmdline hash covers its terminating NUL; a missing
 * initrd hashes as empty.
 */
import { createHash } from 'node:crypto';
import { CocoletError, ErrorCode } from '../errors/index.js';
import { describeOvmf, guidToBytes, parseOvmf, SnpSection, type OvmfInfo } from './ovmf.js';
import { BSP_RESET_EIP, cpuSignature, SNP_FEATURES_DEFAULT, SNP_VCPU_TYPES, vmsaPage } from './vmsa.js';

export const PageType = { Normal: 1, Vmsa: 2, Zero: 3, Unmeasured: 4, Secrets: 5, Cpuid: 6 } as const;
/** VMSA pages are recorded at GPA -1, page aligned, bits above 51 clear. */
export const VMSA_GPA = 0xfffffffff000n;
const PAGE = 4096;
const PAGE_INFO_LEN = 0x70;

export const SEV_HASH_TABLE_HEADER_GUID = '9438d606-4f22-4cc9-b479-a793d411fd21';
export const SEV_CMDLINE_ENTRY_GUID = '97d02dd8-bd20-4c94-aa78-e7714d36ab2a';
export const SEV_INITRD_ENTRY_GUID = '44baf731-3a2f-4bd7-9af1-41e29169781d';
export const SEV_KERNEL_ENTRY_GUID = '4de79437-abd2-427f-b835-d5b172d2045b';

const sha384 = (b: Uint8Array): Buffer => createHash('sha384').update(b).digest();
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** The running launch digest (the SNP firmware's view of LAUNCH_UPDATE calls). */
export class SnpLaunchDigest {
  private ld: Buffer = Buffer.alloc(48);

  get value(): Buffer {
    return Buffer.from(this.ld);
  }

  private update(pageType: number, gpa: bigint, contents: Buffer): void {
    const info = Buffer.alloc(PAGE_INFO_LEN);
    this.ld.copy(info, 0);
    contents.copy(info, 48);
    info.writeUInt16LE(PAGE_INFO_LEN, 96);
    info.writeUInt8(pageType, 98);
    // imi, vmpl3/2/1 permissions and the reserved byte stay 0
    info.writeBigUInt64LE(gpa, 104);
    this.ld = sha384(info);
  }

  normalPages(gpa: number, data: Uint8Array): void {
    if (data.length % PAGE !== 0) throw new CocoletError(ErrorCode.InvalidArgument, `SNP launch: ${data.length} bytes at 0x${gpa.toString(16)} are not whole pages`);
    for (let o = 0; o < data.length; o += PAGE) this.update(PageType.Normal, BigInt(gpa + o), sha384(data.subarray(o, o + PAGE)));
  }

  private emptyPages(type: number, gpa: number, size: number): void {
    for (let o = 0; o < size; o += PAGE) this.update(type, BigInt(gpa + o), Buffer.alloc(48));
  }

  zeroPages(gpa: number, size: number): void {
    this.emptyPages(PageType.Zero, gpa, size);
  }

  secretsPage(gpa: number): void {
    this.emptyPages(PageType.Secrets, gpa, PAGE);
  }

  cpuidPage(gpa: number): void {
    this.emptyPages(PageType.Cpuid, gpa, PAGE);
  }

  vmsa(page: Buffer): void {
    this.update(PageType.Vmsa, VMSA_GPA, sha384(page));
  }
}

export interface KernelHashes {
  kernel: Buffer;
  initrd: Buffer;
  cmdline: Buffer;
}

/** SHA-256 of the kernel file, the initrd (empty when none) and the command line with its NUL. */
export function kernelHashes(kernel: Uint8Array, initrd: Uint8Array | undefined, cmdline: string | undefined): KernelHashes {
  return {
    kernel: sha256(kernel),
    initrd: sha256(initrd ?? new Uint8Array()),
    cmdline: sha256(Buffer.concat([Buffer.from(cmdline ?? '', 'utf8'), Buffer.alloc(1)])),
  };
}

/** QEMU's padded SEV hashes table (176 bytes). */
export function sevHashesTable(h: KernelHashes): Buffer {
  const entry = (guid: string, hash: Buffer): Buffer => {
    const e = Buffer.alloc(50);
    guidToBytes(guid).copy(e, 0);
    e.writeUInt16LE(50, 16);
    hash.copy(e, 18);
    return e;
  };
  const head = Buffer.alloc(18);
  guidToBytes(SEV_HASH_TABLE_HEADER_GUID).copy(head, 0);
  head.writeUInt16LE(18 + 3 * 50, 16);
  const t = Buffer.concat([head, entry(SEV_CMDLINE_ENTRY_GUID, h.cmdline), entry(SEV_INITRD_ENTRY_GUID, h.initrd), entry(SEV_KERNEL_ENTRY_GUID, h.kernel)]);
  return Buffer.concat([t, Buffer.alloc((16 - (t.length % 16)) % 16)]);
}

export interface SnpLaunchInput {
  /** The firmware image exactly as given to QEMU's `-bios`. */
  ovmf: Uint8Array;
  vcpus: number;
  /** QEMU `-cpu` model (a key of SNP_VCPU_TYPES); or give `vcpuSignature`. */
  vcpuType?: string;
  vcpuSignature?: number;
  /** SEV_FEATURES of every VMSA (default SNPActive). */
  sevFeatures?: bigint;
  /** Direct boot with `kernel-hashes=on`: the kernel, initrd and command line QEMU gets. */
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
}

export interface SnpLaunchResult {
  /** The expected MEASUREMENT, hex (96 characters). */
  measurement: string;
  /** Whether kernel, initrd and cmdline are covered (firmware with a kernel-hashes table). */
  kernelMeasured: boolean;
  firmware: OvmfInfo;
}

/** Resolves the CPUID signature of a vCPU model name. */
export function vcpuSignatureOf(vcpuType: string): number {
  const fms = SNP_VCPU_TYPES[vcpuType];
  if (!fms) throw new CocoletError(ErrorCode.InvalidArgument, `SNP launch: unknown vCPU type ${JSON.stringify(vcpuType)} (known: ${Object.keys(SNP_VCPU_TYPES).join(', ')})`);
  return cpuSignature(...fms);
}

/** Computes the launch digest a QEMU SEV-SNP guest with these inputs will report. */
export function snpLaunchDigest(i: SnpLaunchInput): SnpLaunchResult {
  if (!Number.isInteger(i.vcpus) || i.vcpus < 1) throw new CocoletError(ErrorCode.InvalidArgument, `SNP launch: vcpus must be a positive integer (got ${i.vcpus})`);
  const sig = i.vcpuSignature ?? vcpuSignatureOf(i.vcpuType ?? 'EPYC-v4');
  const fw = parseOvmf(i.ovmf);
  const caps = describeOvmf(fw);
  if (!caps.snp) throw new CocoletError(ErrorCode.FailedPrecondition, `SNP launch: the firmware cannot start an SEV-SNP guest (${caps.summary})`);
  if (i.kernel && !caps.snpKernelHashes) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `SNP launch: a kernel is given but the firmware has no SNP kernel-hashes table (${caps.summary}); an AmdSev build of OVMF has one`);
  }
  const hashes = i.kernel ? kernelHashes(i.kernel, i.initrd, i.cmdline) : undefined;
  const ld = new SnpLaunchDigest();
  ld.normalPages(fw.gpa, i.ovmf);
  for (const s of fw.snpSections) {
    switch (s.type) {
      case SnpSection.SecMemory:
      case SnpSection.SvsmCaa:
        ld.zeroPages(s.gpa, s.size);
        break;
      case SnpSection.Secrets:
        ld.secretsPage(s.gpa);
        break;
      case SnpSection.Cpuid:
        ld.cpuidPage(s.gpa);
        break;
      case SnpSection.KernelHashes: {
        if (!hashes) {
          ld.zeroPages(s.gpa, s.size);
          break;
        }
        if (s.size !== PAGE) throw new CocoletError(ErrorCode.FailedPrecondition, `SNP launch: the firmware's kernel-hashes section is ${s.size} bytes, not one page`);
        const page = Buffer.alloc(PAGE);
        const table = sevHashesTable(hashes);
        const at = fw.sevHashTableGpa & (PAGE - 1);
        if (at + table.length > PAGE) throw new CocoletError(ErrorCode.FailedPrecondition, 'SNP launch: the firmware puts the hashes table across a page end');
        table.copy(page, at);
        ld.normalPages(s.gpa, page);
        break;
      }
    }
  }
  const features = i.sevFeatures ?? SNP_FEATURES_DEFAULT;
  const bsp = vmsaPage(BSP_RESET_EIP, sig, features);
  const ap = vmsaPage(fw.sevEsResetEip, sig, features);
  for (let v = 0; v < i.vcpus; v++) ld.vmsa(v === 0 ? bsp : ap);
  return { measurement: ld.value.toString('hex'), kernelMeasured: Boolean(hashes), firmware: fw };
}
