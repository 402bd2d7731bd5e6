/**
 * Binding init-data to a hardware TEE: on AMD SEV-SNP the host sets HOSTDATA (32 bytes) and on
 * Intel TDX MRCONFIGID (48 bytes) to the init-data digest, truncated or zero-padded, when it
 * launches the guest. The guest reads its own report through the kernel's configfs-tsm interface
 * (`/sys/kernel/config/tsm/report`) and refuses to serve when the field does not match the
 * init-data it received. Without such a TEE the vTPM path (PCR 8) is used instead.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { parseSnpReport, SNP_REPORT_SIZE } from '../../shared/attestation/snp/report.js';
import { parseTdxQuote } from '../../shared/attestation/tdx/quote.js';
import { adjustDigest } from './initdata.js';

export const TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';

export interface TsmReport {
  /** `sev_guest` or `tdx_guest`. */
  provider: string;
  outblob: Buffer;
}

/** Asks configfs-tsm for a report; undefined when the kernel or the platform has none. */
export function readTsmReport(root = TSM_REPORT_DIR, inblob: Buffer = Buffer.alloc(64)): TsmReport | undefined {
  if (!existsSync(root)) return undefined;
  const dir = join(root, `cocolet-initdata-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'inblob'), inblob);
    return { provider: readFileSync(join(dir, 'provider'), 'utf8').trim(), outblob: readFileSync(join(dir, 'outblob')) };
  } catch {
    return undefined;
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      /* configfs removes its attributes with the entry */
    }
  }
}

export interface TeeBinding {
  tee: 'snp' | 'tdx';
  field: 'HOSTDATA' | 'MRCONFIGID';
  value: Buffer;
}

/** The init-data field of a TEE report (`provider` as configfs-tsm names it). */
export function teeInitdataField(provider: string, outblob: Uint8Array): TeeBinding {
  if (provider === 'sev_guest') return { tee: 'snp', field: 'HOSTDATA', value: Buffer.from(parseSnpReport(outblob.subarray(0, SNP_REPORT_SIZE)).hostData) };
  if (provider === 'tdx_guest') return { tee: 'tdx', field: 'MRCONFIGID', value: Buffer.from(parseTdxQuote(outblob).body.mrConfigId) };
  throw new CocoletError(ErrorCode.Unimplemented, `TEE provider ${provider} has no init-data field cocolet knows`);
}

/** Throws unless the report's init-data field holds `digest` (adjusted to the field's size). */
export function checkInitdataBinding(provider: string, outblob: Uint8Array, digest: Buffer): TeeBinding {
  const b = teeInitdataField(provider, outblob);
  if (!adjustDigest(digest, b.value.length).equals(b.value)) {
    throw new CocoletError(ErrorCode.EvidenceClaim, `init-data digest does not match the ${b.tee} ${b.field}`, { context: { tee: b.tee } });
  }
  return b;
}
