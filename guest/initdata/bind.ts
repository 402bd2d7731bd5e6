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

/**
 * What configfs-tsm said: `absent` (no `tsm/report` folder: configfs not mounted or the tsm module
 * not loaded), `no-provider` (the interface is there but no TEE driver registered with it: the
 * kernel refuses a report entry with ENXIO, as on a VM without SEV-SNP or TDX), or a report.
 */
export type TsmProbe = { state: 'absent'; root: string } | { state: 'no-provider'; root: string } | ({ state: 'report'; root: string } & TsmReport);

function tsmError(step: string, e: unknown): CocoletError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return new CocoletError(ErrorCode.FailedPrecondition, `configfs-tsm: ${step} failed (${code || (e as Error).message})`, { cause: e });
}

/**
 * Asks configfs-tsm for a report with `inblob` as its report data. Every failure other than the two
 * "no TEE here" answers throws (fail closed): a TEE whose report cannot be read is not a TEE whose
 * report can be skipped.
 */
export function probeTsm(root = TSM_REPORT_DIR, inblob: Buffer = Buffer.alloc(64), mkdir: (dir: string) => void = (d) => mkdirSync(d)): TsmProbe {
  if (!existsSync(root)) return { state: 'absent', root };
  const dir = join(root, `cocolet-initdata-${process.pid}`);
  try {
    // configfs creates the entry's attributes (inblob, provider, outblob, …) with it; `mkdir` is a test seam
    mkdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') return { state: 'no-provider', root };
    throw tsmError(`creating the report entry ${dir}`, e);
  }
  try {
    writeFileSync(join(dir, 'inblob'), inblob);
    let provider: string;
    try {
      provider = readFileSync(join(dir, 'provider'), 'utf8').trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') return { state: 'no-provider', root };
      throw e;
    }
    const outblob = readFileSync(join(dir, 'outblob'));
    if (outblob.length === 0) throw new Error('empty outblob');
    return { state: 'report', root, provider, outblob };
  } catch (e) {
    throw e instanceof CocoletError ? e : tsmError('reading the report', e);
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      /* configfs removes its attributes with the entry; a leftover entry holds no secret */
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
