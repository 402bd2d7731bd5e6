/**
 * SEV-SNP and TDX attesters over configfs-tsm: the binding digest, zero-padded to 64 bytes, is
 * the report's REPORT_DATA. Evidence shapes are trustee's: TDX `{"cc_eventlog": base64 | null,
 * "quote": base64}` (the CCEL ACPI table when the firmware publishes one), SNP
 * `{"attestation_report": …, "cert_chain": … | null}` (snp-json.ts).
 *
 * Tested here only against a fake configfs tree: this machine has neither SNP nor TDX.
 */
import { readFile } from 'node:fs/promises';
import type { Attester } from '../types.js';
import { snpCertChainJson, snpReportJson } from './snp-json.js';
import { tsmReport, type TsmOptions } from './report.js';

/** The TDX firmware's CC event log (ACPI CCEL table data). */
export const CCEL_PATH = '/sys/firmware/acpi/tables/data/CCEL';

export class TdxAttester implements Attester {
  readonly tee = 'tdx' as const;
  readonly development = false;

  constructor(private readonly opts: TsmOptions & { ccelPath?: string } = {}) {}

  async evidence(reportData: Uint8Array): Promise<{ cc_eventlog: string | null; quote: string }> {
    const r = await tsmReport(reportData, 'tdx_guest', this.opts);
    const ccel = await readFile(this.opts.ccelPath ?? CCEL_PATH).catch(() => undefined);
    return { cc_eventlog: ccel && ccel.length > 0 ? ccel.toString('base64') : null, quote: r.outblob.toString('base64') };
  }

  async close(): Promise<void> {}
  async [Symbol.asyncDispose](): Promise<void> {}
}

export class SnpAttester implements Attester {
  readonly tee = 'snp' as const;
  readonly development = false;

  constructor(private readonly opts: TsmOptions = {}) {}

  async evidence(reportData: Uint8Array): Promise<{ attestation_report: Record<string, unknown>; cert_chain: unknown[] | null }> {
    const r = await tsmReport(reportData, 'sev_guest', { privlevel: 0, ...this.opts });
    return { attestation_report: snpReportJson(r.outblob), cert_chain: r.auxblob ? snpCertChainJson(r.auxblob) : null };
  }

  async close(): Promise<void> {}
  async [Symbol.asyncDispose](): Promise<void> {}
}
