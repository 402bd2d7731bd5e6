/**
 * Azure confidential VM "HCL report" (the vTPM NV index 0x01400001 blob): a 32-byte header
 * ("HCLA"), the hardware report (SNP ATTESTATION_REPORT or TDX TDREPORT, in a 1184-byte slot),
 * then the runtime-data header (data size, version, report type, hash type, variable data size)
 * and the variable data, a JSON document with the vTPM attestation key (`HCLAkPub`). The hardware
 * report's report_data starts with hash(variable data).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ByteReader, equalBytes, hex } from '../bytes.js';
import { fail, Reason } from '../errors.js';

export const HCL_HEADER_SIZE = 32;
export const HCL_HW_REPORT_SIZE = 1184;
export const TDREPORT_SIZE = 1024;
export const TDREPORT_REPORT_DATA_OFFSET = 128;
export const HCL_REPORT_TYPE_SNP = 2;
export const HCL_REPORT_TYPE_TDX = 4;

const HASH_TYPES: Record<number, 'sha256' | 'sha384' | 'sha512'> = { 1: 'sha256', 2: 'sha384', 3: 'sha512' };

export interface HclReport {
  version: number;
  reportSize: number;
  requestType: number;
  status: number;
  /** The hardware report slot (1184 bytes). */
  hwReport: Uint8Array;
  reportType: 'snp' | 'tdx';
  hashType: 'sha256' | 'sha384' | 'sha512';
  varData: Uint8Array;
}

export function parseHclReport(buf: Uint8Array): HclReport {
  const r = new ByteReader(buf, 'HCL report', true);
  const sig = Buffer.from(r.bytes(4, 'signature')).toString('latin1');
  if (sig !== 'HCLA') fail(Reason.AzHcl, `HCL report signature ${JSON.stringify(sig)} is not "HCLA"`);
  const version = r.u32('version');
  const reportSize = r.u32('report_size');
  const requestType = r.u32('request_type');
  const status = r.u32('status');
  r.skip(12, 'reserved');
  const hwReport = r.bytes(HCL_HW_REPORT_SIZE, 'hw_report');
  r.u32('runtime_data.data_size');
  r.u32('runtime_data.version');
  const type = r.u32('runtime_data.report_type');
  const hashTypeId = r.u32('runtime_data.hash_type');
  const varSize = r.u32('runtime_data.variable_data_size');
  const varData = r.bytes(varSize, 'runtime_data.variable_data');
  const reportType = type === HCL_REPORT_TYPE_SNP ? 'snp' : type === HCL_REPORT_TYPE_TDX ? 'tdx' : fail(Reason.AzHcl, `HCL report type ${type} is neither SNP (2) nor TDX (4)`);
  const hashType = HASH_TYPES[hashTypeId] ?? fail(Reason.AzHcl, `HCL runtime data hash type ${hashTypeId} is not 1, 2 or 3`);
  return { version, reportSize, requestType, status, hwReport, reportType, hashType, varData };
}

/** The hardware report proper: the SNP report, or the TDREPORT. */
export function hardwareReport(h: HclReport): Uint8Array {
  return h.reportType === 'snp' ? h.hwReport : h.hwReport.subarray(0, TDREPORT_SIZE);
}

/** Checks that report_data begins with hash(variable data). */
export function checkRuntimeDataBinding(h: HclReport, reportData: Uint8Array): void {
  const d = createHash(h.hashType).update(h.varData).digest();
  if (!equalBytes(d, reportData.subarray(0, d.length))) {
    fail(Reason.AzReportData, `report_data ${hex(reportData.subarray(0, d.length))} is not ${h.hashType}(HCL runtime data) ${hex(d)}`);
  }
}

export interface RuntimeData {
  json: Record<string, unknown>;
  ak: KeyObject;
}

export function parseRuntimeData(h: HclReport): RuntimeData {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(Buffer.from(h.varData).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    return fail(Reason.AzRuntimeData, 'HCL runtime data is not JSON', e);
  }
  const keys = Array.isArray(json.keys) ? (json.keys as Record<string, unknown>[]) : [];
  const jwk = keys.find((k) => k && k.kid === 'HCLAkPub');
  if (!jwk) return fail(Reason.AzAk, 'HCL runtime data has no HCLAkPub key');
  try {
    const ak = createPublicKey({ key: { kty: String(jwk.kty), n: String(jwk.n), e: String(jwk.e) }, format: 'jwk' });
    return { json, ak };
  } catch (e) {
    return fail(Reason.AzAk, 'HCLAkPub is not a usable RSA public key', e);
  }
}
