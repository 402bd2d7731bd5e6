/**
 * Intel TDX DCAP quotes, versions 4 and 5 (Intel "TDX DCAP Quote Generation Library and Quote
 * Verification Library" API spec, appendix "Quote Format"). Little-endian. The parser follows
 * the length fields and ignores anything after the signature data (real quotes arrive in
 * zero-padded buffers or with appended bytes).
 */
import { ByteReader, hex } from '../bytes.js';
import { fail, Reason } from '../errors.js';

export const TDX_HEADER_SIZE = 48;
export const TD10_BODY_SIZE = 584;
export const TD15_BODY_SIZE = 648;
export const QE_REPORT_SIZE = 384;
export const TEE_TYPE_TDX = 0x81;
export const TEE_TYPE_SGX = 0x00;
export const ATT_KEY_ECDSA_P256 = 2;
export const CERT_TYPE_PCK_CHAIN = 5;
export const CERT_TYPE_QE_REPORT = 6;

export interface QuoteHeader {
  version: number;
  attestationKeyType: number;
  teeType: number;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

export interface TdReportBody {
  /** 3 = TDX 1.5 body (v5 only), 2 = TDX 1.0 body. */
  bodyType: number;
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
}

export interface QeReport {
  raw: Uint8Array;
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
}

export interface TdxQuote {
  header: QuoteHeader;
  body: TdReportBody;
  /** Header and body: the bytes the quote signature covers. */
  signed: Uint8Array;
  /** Raw r || s, big-endian. */
  signature: Uint8Array;
  /** Raw X || Y. */
  attestationKey: Uint8Array;
  qeReport: QeReport;
  /** Raw r || s. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** The PEM PCK certificate chain (leaf, Platform/Processor CA, root), trailing NULs removed. */
  pckChainPem: Uint8Array;
  /** Bytes after the signature data, ignored. */
  trailing: number;
}

function parseHeader(r: ByteReader): QuoteHeader {
  const version = r.u16('header.version');
  const attestationKeyType = r.u16('header.att_key_type');
  const teeType = r.u32('header.tee_type');
  const qeSvn = r.u16('header.qe_svn');
  const pceSvn = r.u16('header.pce_svn');
  const qeVendorId = r.bytes(16, 'header.qe_vendor_id');
  const userData = r.bytes(20, 'header.user_data');
  return { version, attestationKeyType, teeType, qeSvn, pceSvn, qeVendorId, userData };
}

function parseBody(r: ByteReader, bodyType: number): TdReportBody {
  const teeTcbSvn = r.bytes(16, 'body.tee_tcb_svn');
  const mrSeam = r.bytes(48, 'body.mr_seam');
  const mrSignerSeam = r.bytes(48, 'body.mr_signer_seam');
  const seamAttributes = r.bytes(8, 'body.seam_attributes');
  const tdAttributes = r.bytes(8, 'body.td_attributes');
  const xfam = r.bytes(8, 'body.xfam');
  const mrTd = r.bytes(48, 'body.mr_td');
  const mrConfigId = r.bytes(48, 'body.mr_config_id');
  const mrOwner = r.bytes(48, 'body.mr_owner');
  const mrOwnerConfig = r.bytes(48, 'body.mr_owner_config');
  const rtmrs = [r.bytes(48, 'body.rtmr0'), r.bytes(48, 'body.rtmr1'), r.bytes(48, 'body.rtmr2'), r.bytes(48, 'body.rtmr3')] as TdReportBody['rtmrs'];
  const reportData = r.bytes(64, 'body.report_data');
  const body: TdReportBody = { bodyType, teeTcbSvn, mrSeam, mrSignerSeam, seamAttributes, tdAttributes, xfam, mrTd, mrConfigId, mrOwner, mrOwnerConfig, rtmrs, reportData };
  if (bodyType === 3) {
    body.teeTcbSvn2 = r.bytes(16, 'body.tee_tcb_svn2');
    body.mrServiceTd = r.bytes(48, 'body.mr_service_td');
  }
  return body;
}

export function parseQeReport(raw: Uint8Array): QeReport {
  const r = new ByteReader(raw, 'QE report', true);
  const cpuSvn = r.bytes(16, 'cpu_svn');
  const miscSelect = r.u32('misc_select');
  r.skip(28, 'reserved1');
  const attributes = r.bytes(16, 'attributes');
  const mrEnclave = r.bytes(32, 'mr_enclave');
  r.skip(32, 'reserved2');
  const mrSigner = r.bytes(32, 'mr_signer');
  r.skip(96, 'reserved3');
  const isvProdId = r.u16('isv_prod_id');
  const isvSvn = r.u16('isv_svn');
  r.skip(60, 'reserved4');
  const reportData = r.bytes(64, 'report_data');
  return { raw, cpuSvn, miscSelect, attributes, mrEnclave, mrSigner, isvProdId, isvSvn, reportData };
}

export function parseTdxQuote(buf: Uint8Array): TdxQuote {
  const r = new ByteReader(buf, 'TDX quote', true);
  const header = parseHeader(r);
  if (header.teeType === TEE_TYPE_SGX) fail(Reason.TdxSgxQuote, `this is an SGX enclave quote (version ${header.version}, tee_type 0x00), not a TDX quote`);
  if (header.version !== 4 && header.version !== 5) {
    fail(Reason.TdxVersion, `quote format not supported: version ${header.version} (supported: 4, 5)`);
  }
  if (header.teeType !== TEE_TYPE_TDX) fail(Reason.TdxTeeType, `tee_type 0x${header.teeType.toString(16)} is not TDX (0x81)`);
  if (header.attestationKeyType !== ATT_KEY_ECDSA_P256) {
    fail(Reason.TdxKeyType, `attestation key type ${header.attestationKeyType} is not 2 (ECDSA-256 with P-256)`);
  }
  let bodyType = 2;
  if (header.version === 5) {
    bodyType = r.u16('body_type');
    const size = r.u32('body_size');
    if (bodyType === 1) fail(Reason.TdxSgxQuote, 'v5 quote body type 1 is an SGX enclave report, not a TD report');
    const want = bodyType === 2 ? TD10_BODY_SIZE : bodyType === 3 ? TD15_BODY_SIZE : -1;
    if (want < 0) fail(Reason.TdxVersion, `quote format not supported: v5 body type ${bodyType}`);
    if (size !== want) fail(Reason.Malformed, `v5 body size ${size} does not match body type ${bodyType} (${want})`);
  }
  const body = parseBody(r, bodyType);
  const signed = buf.subarray(0, r.offset);
  const sigLen = r.u32('signature_data_len');
  if (sigLen > r.remaining) fail(Reason.Truncated, `signature data length ${sigLen} exceeds the ${r.remaining} bytes left`);
  const sigEnd = r.offset + sigLen;
  const s = new ByteReader(buf.subarray(0, sigEnd), 'TDX quote signature data', true, r.offset);
  const signature = s.bytes(64, 'quote_signature');
  const attestationKey = s.bytes(64, 'attestation_key');
  const certType = s.u16('cert_data.type');
  const certSize = s.u32('cert_data.size');
  if (certType !== CERT_TYPE_QE_REPORT) fail(Reason.TdxCertData, `certification data type ${certType} is not 6 (QE report certification data)`);
  if (certSize !== s.remaining) fail(Reason.TdxCertData, `certification data size ${certSize} does not match the ${s.remaining} bytes of signature data left`);
  const qeRaw = s.bytes(QE_REPORT_SIZE, 'qe_report');
  const qeReportSignature = s.bytes(64, 'qe_report_signature');
  const authLen = s.u16('qe_auth_data.size');
  const qeAuthData = s.bytes(authLen, 'qe_auth_data');
  const innerType = s.u16('pck_cert_data.type');
  const innerSize = s.u32('pck_cert_data.size');
  if (innerType !== CERT_TYPE_PCK_CHAIN) fail(Reason.TdxCertData, `QE certification data type ${innerType} is not 5 (PCK certificate chain)`);
  if (innerSize !== s.remaining) fail(Reason.TdxCertData, `PCK certificate data size ${innerSize} does not match the ${s.remaining} bytes left`);
  let pem = s.bytes(innerSize, 'pck_cert_chain');
  let end = pem.length;
  while (end > 0 && pem[end - 1] === 0) end--;
  pem = pem.subarray(0, end);
  return {
    header,
    body,
    signed,
    signature,
    attestationKey,
    qeReport: parseQeReport(qeRaw),
    qeReportSignature,
    qeAuthData,
    pckChainPem: pem,
    trailing: buf.length - sigEnd,
  };
}

/** TD attributes bit 0: TUD.DEBUG. */
export function tdDebug(body: TdReportBody): boolean {
  return (body.tdAttributes[0]! & 1) === 1;
}

export function tdxClaims(q: TdxQuote): Record<string, unknown> {
  const b = q.body;
  return {
    quote_version: q.header.version,
    body_type: b.bodyType === 3 ? 'td15' : 'td10',
    tee_tcb_svn: hex(b.teeTcbSvn),
    ...(b.teeTcbSvn2 ? { tee_tcb_svn2: hex(b.teeTcbSvn2) } : {}),
    mr_seam: hex(b.mrSeam),
    mr_signer_seam: hex(b.mrSignerSeam),
    seam_attributes: hex(b.seamAttributes),
    td_attributes: hex(b.tdAttributes),
    debug: tdDebug(b),
    xfam: hex(b.xfam),
    mr_td: hex(b.mrTd),
    mr_config_id: hex(b.mrConfigId),
    mr_owner: hex(b.mrOwner),
    mr_owner_config: hex(b.mrOwnerConfig),
    rtmr0: hex(b.rtmrs[0]),
    rtmr1: hex(b.rtmrs[1]),
    rtmr2: hex(b.rtmrs[2]),
    rtmr3: hex(b.rtmrs[3]),
    ...(b.mrServiceTd ? { mr_service_td: hex(b.mrServiceTd) } : {}),
    report_data: hex(b.reportData),
    qe_svn: q.header.qeSvn,
    pce_svn: q.header.pceSvn,
    qe: { mr_signer: hex(q.qeReport.mrSigner), mr_enclave: hex(q.qeReport.mrEnclave), isv_prod_id: q.qeReport.isvProdId, isv_svn: q.qeReport.isvSvn },
  };
}
