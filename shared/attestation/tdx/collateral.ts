/**
 * Intel PCS collateral for TDX quotes: TCB info (v3, TDX), TD_QE identity (v2) and the PCK /
 * root CRLs. Each piece is signed (JSON: ECDSA P-256 over the exact inner object text; CRLs:
 * X.509 signatures) by a certificate that must chain to the trusted Intel SGX Root CA, and each
 * has an issue / next-update window that must contain the verification time.
 */
import { verify as nodeVerify } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { describe, loadCertificates, verifyChain, type Cert } from '../certs.js';
import { fromHex, hex } from '../bytes.js';
import { EcdsaPublicKey } from '../ecdsa.js';
import { fail, Reason } from '../errors.js';
import { rawMember } from '../json-raw.js';
import type { PckInfo } from './pck.js';
import type { QeReport, TdReportBody } from './quote.js';

export interface TdxCollateral {
  tcbInfo?: string;
  tcbInfoIssuerChain?: string;
  qeIdentity?: string;
  qeIdentityIssuerChain?: string;
  pckCrl?: Uint8Array;
  pckCrlIssuerChain?: string;
  rootCrl?: Uint8Array;
}


interface SignedJson<T> {
  body: T;
  raw: string;
}

function verifySignedJson<T>(doc: string, member: string, issuerChain: string | undefined, trusted: Cert, at: Date, what: string): SignedJson<T> {
  if (!issuerChain) return fail(Reason.TdxCollateral, `${what}: no issuer chain given`);
  const certs = loadCertificates(issuerChain, ['TCB Signing', 'Root CA'], `${what} issuer chain`);
  verifyChain(certs[0]!, certs.slice(1), { at, trust: { roots: [trusted], intermediates: [], source: 'the PCK chain root' } });
  const raw = rawMember(doc, member, what);
  let parsed: { signature?: unknown };
  let body: T;
  try {
    parsed = JSON.parse(doc) as { signature?: unknown };
    body = JSON.parse(raw) as T;
  } catch (e) {
    return fail(Reason.Malformed, `${what}: not JSON`, e);
  }
  if (typeof parsed.signature !== 'string') return fail(Reason.Malformed, `${what}: no signature`);
  const key = EcdsaPublicKey.fromKeyObject(certs[0]!.x509.publicKey, describe(certs[0]!));
  if (!key.verify(new TextEncoder().encode(raw), fromHex(parsed.signature, `${what} signature`))) {
    fail(Reason.TdxCollateralSignature, `${what} signature does not verify with ${describe(certs[0]!)}`);
  }
  return { body, raw };
}

function checkWindow(issueDate: unknown, nextUpdate: unknown, at: Date, what: string): void {
  const issued = new Date(String(issueDate));
  const next = new Date(String(nextUpdate));
  if (Number.isNaN(issued.getTime()) || Number.isNaN(next.getTime())) fail(Reason.Malformed, `${what}: bad issueDate/nextUpdate`);
  if (at.getTime() > next.getTime()) fail(Reason.TdxCollateralExpired, `${what} nextUpdate ${next.toISOString()} < at ${at.toISOString()}`);
  if (at.getTime() < issued.getTime()) fail(Reason.TdxCollateralExpired, `${what} issueDate ${issued.toISOString()} > at ${at.toISOString()}`);
}

interface SvnComp {
  svn: number;
}
export interface TdxTcbLevel {
  tcb: { sgxtcbcomponents: SvnComp[]; pcesvn: number; tdxtcbcomponents: SvnComp[] };
  tcbDate: string;
  tcbStatus: string;
  advisoryIDs?: string[];
}
interface ModuleIdentity {
  id: string;
  mrsigner: string;
  attributes: string;
  attributesMask: string;
  tcbLevels: { tcb: { isvsvn: number }; tcbStatus: string }[];
}
export interface TdxTcbInfo {
  id: string;
  version: number;
  issueDate: string;
  nextUpdate: string;
  fmspc: string;
  pceId: string;
  tdxModule?: { mrsigner: string; attributes: string; attributesMask: string };
  tdxModuleIdentities?: ModuleIdentity[];
  tcbLevels: TdxTcbLevel[];
}

function masked(a: Uint8Array, mask: Uint8Array): string {
  const out = new Uint8Array(Math.min(a.length, mask.length));
  for (let i = 0; i < out.length; i++) out[i] = a[i]! & mask[i]!;
  return hex(out);
}

export interface TcbEvaluation {
  status: string;
  tcbDate?: string;
  advisoryIds: string[];
  moduleStatus?: string;
}

/**
 * Finds the first TCB level the platform meets (PCK SGX components and PCESVN, then the TD's
 * TEE_TCB_SVN; the first two TDX components are the module version and are skipped when it is
 * non-zero, the module identity deciding instead). Fails with tdx.tcb-level when none matches.
 */
export function evaluateTdxTcb(info: TdxTcbInfo, pck: PckInfo, body: TdReportBody): TcbEvaluation {
  if (info.id !== 'TDX') fail(Reason.TdxCollateral, `TCB info id ${String(info.id)} is not TDX`);
  if (info.fmspc.toLowerCase() !== hex(pck.fmspc)) fail(Reason.TdxFmspc, `TCB info FMSPC ${info.fmspc} differs from the PCK FMSPC ${hex(pck.fmspc)}`);
  if (info.pceId.toLowerCase() !== hex(pck.pceId)) fail(Reason.TdxFmspc, `TCB info PCE-ID ${info.pceId} differs from the PCK PCE-ID ${hex(pck.pceId)}`);
  const svn = body.teeTcbSvn;
  if (info.tdxModule) {
    const m = info.tdxModule;
    if (m.mrsigner.toLowerCase() !== hex(body.mrSignerSeam)) fail(Reason.TdxTcbLevel, `MRSIGNERSEAM ${hex(body.mrSignerSeam)} differs from TCB info tdxModule.mrsigner ${m.mrsigner}`);
    const mask = fromHex(m.attributesMask, 'tdxModule.attributesMask');
    if (masked(body.seamAttributes, mask) !== masked(fromHex(m.attributes, 'tdxModule.attributes'), mask)) {
      fail(Reason.TdxTcbLevel, `SEAMATTRIBUTES ${hex(body.seamAttributes)} do not match TCB info tdxModule attributes ${m.attributes}/${m.attributesMask}`);
    }
  }
  const moduleVersion = svn[1]!;
  let moduleStatus: string | undefined;
  if (moduleVersion > 0 && info.tdxModuleIdentities) {
    const id = `TDX_${moduleVersion.toString(16).padStart(2, '0').toUpperCase()}`;
    const mod = info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
    if (!mod) fail(Reason.TdxTcbLevel, `no TDX module identity ${id} in TCB info`);
    const lvl = mod.tcbLevels.find((l) => svn[0]! >= l.tcb.isvsvn);
    if (!lvl) fail(Reason.TdxTcbLevel, `TDX module ${id} ISVSVN ${svn[0]} is below every module TCB level`);
    moduleStatus = lvl.tcbStatus;
  }
  const start = moduleVersion > 0 ? 2 : 0;
  for (const level of info.tcbLevels) {
    const sgx = level.tcb.sgxtcbcomponents;
    const tdx = level.tcb.tdxtcbcomponents;
    if (!Array.isArray(sgx) || !Array.isArray(tdx) || sgx.length !== 16 || tdx.length !== 16) fail(Reason.Malformed, 'TCB info level without 16 SGX and 16 TDX components');
    if (!sgx.every((c, i) => pck.sgxTcbComponents[i]! >= c.svn) || pck.pceSvn < level.tcb.pcesvn) continue;
    let ok = true;
    for (let i = start; i < 16; i++) if (svn[i]! < tdx[i]!.svn) ok = false;
    if (!ok) continue;
    return {
      status: level.tcbStatus,
      tcbDate: level.tcbDate,
      advisoryIds: level.advisoryIDs ?? [],
      ...(moduleStatus ? { moduleStatus } : {}),
    };
  }
  return fail(
    Reason.TdxTcbLevel,
    `no matching TCB level: PCK SGX components ${pck.sgxTcbComponents.join(',')} PCESVN ${pck.pceSvn}, TEE_TCB_SVN ${hex(svn)} are below every level of FMSPC ${info.fmspc}`,
  );
}

export function checkTcbInfo(doc: string, issuerChain: string | undefined, trusted: Cert, at: Date, pck: PckInfo, body: TdReportBody, accepted: readonly string[]): TcbEvaluation {
  const { body: info } = verifySignedJson<TdxTcbInfo>(doc, 'tcbInfo', issuerChain, trusted, at, 'TCB info');
  checkWindow(info.issueDate, info.nextUpdate, at, 'TCB info');
  const ev = evaluateTdxTcb(info, pck, body);
  for (const s of [ev.status, ev.moduleStatus]) {
    if (s !== undefined && !accepted.includes(s)) fail(Reason.TdxTcbStatus, `TCB status ${s} is not accepted (accepted: ${accepted.join(', ')})`);
  }
  return ev;
}

interface QeIdentity {
  id: string;
  issueDate: string;
  nextUpdate: string;
  miscselect: string;
  miscselectMask: string;
  attributes: string;
  attributesMask: string;
  mrsigner: string;
  isvprodid: number;
  tcbLevels: { tcb: { isvsvn: number }; tcbStatus: string; tcbDate?: string }[];
}

export function checkQeIdentity(doc: string, issuerChain: string | undefined, trusted: Cert, at: Date, qe: QeReport, accepted: readonly string[]): string {
  const { body: id } = verifySignedJson<QeIdentity>(doc, 'enclaveIdentity', issuerChain, trusted, at, 'QE identity');
  checkWindow(id.issueDate, id.nextUpdate, at, 'QE identity');
  if (id.id !== 'TD_QE') fail(Reason.TdxQeIdentity, `QE identity id ${String(id.id)} is not TD_QE`);
  if (id.mrsigner.toLowerCase() !== hex(qe.mrSigner)) fail(Reason.TdxQeIdentity, `QE MRSIGNER ${hex(qe.mrSigner)} differs from QE identity ${id.mrsigner}`);
  if (id.isvprodid !== qe.isvProdId) fail(Reason.TdxQeIdentity, `QE ISVPRODID ${qe.isvProdId} differs from QE identity ${id.isvprodid}`);
  const miscMask = parseInt(id.miscselectMask, 16) >>> 0;
  if (((qe.miscSelect & miscMask) >>> 0) !== ((parseInt(id.miscselect, 16) & miscMask) >>> 0)) fail(Reason.TdxQeIdentity, `QE MISCSELECT 0x${qe.miscSelect.toString(16)} does not match QE identity ${id.miscselect}/${id.miscselectMask}`);
  const mask = fromHex(id.attributesMask, 'attributesMask');
  if (masked(qe.attributes, mask) !== masked(fromHex(id.attributes, 'attributes'), mask)) fail(Reason.TdxQeIdentity, `QE ATTRIBUTES ${hex(qe.attributes)} do not match QE identity ${id.attributes}/${id.attributesMask}`);
  const lvl = id.tcbLevels.find((l) => qe.isvSvn >= l.tcb.isvsvn);
  if (!lvl) fail(Reason.TdxQeIdentity, `QE ISVSVN ${qe.isvSvn} is below every QE identity TCB level`);
  if (!accepted.includes(lvl.tcbStatus)) fail(Reason.TdxTcbStatus, `QE identity TCB status ${lvl.tcbStatus} is not accepted (accepted: ${accepted.join(', ')})`);
  return lvl.tcbStatus;
}

interface ParsedCrl {
  issuerDer: Uint8Array;
  tbs: Uint8Array;
  signature: Uint8Array;
  thisUpdate: Date;
  nextUpdate?: Date;
  revoked: Set<string>;
}

function parseCrl(der: Uint8Array, what: string): ParsedCrl {
  try {
    const list = AsnConvert.parse(der, CertificateList);
    const outer = asn1js.fromBER(der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer);
    const seq = outer.result as asn1js.Sequence;
    const tbsView = (seq.valueBlock.value[0] as asn1js.Sequence).valueBeforeDecodeView;
    const t = list.tbsCertList;
    const revoked = new Set<string>();
    for (const r of t.revokedCertificates ?? []) revoked.add(Buffer.from(r.userCertificate).toString('hex').replace(/^(00)+(?=.)/, ''));
    return {
      issuerDer: new Uint8Array(AsnConvert.serialize(t.issuer)),
      tbs: new Uint8Array(tbsView),
      signature: new Uint8Array(list.signature),
      thisUpdate: t.thisUpdate.getTime(),
      ...(t.nextUpdate ? { nextUpdate: t.nextUpdate.getTime() } : {}),
      revoked,
    };
  } catch (e) {
    return fail(Reason.CertMalformed, `${what} does not parse as an X.509 CRL`, e);
  }
}

/** Checks a CRL's signature by `issuer` and window, then that `subject` is not on it. */
export function checkCrl(der: Uint8Array, issuer: Cert, subject: Cert, at: Date, what: string): void {
  const crl = parseCrl(der, what);
  if (!nodeVerify('sha256', crl.tbs, { key: issuer.x509.publicKey, dsaEncoding: 'der' }, crl.signature)) {
    fail(Reason.CertSignature, `${what} signature does not verify with ${describe(issuer)}`);
  }
  if (crl.nextUpdate && at.getTime() > crl.nextUpdate.getTime()) fail(Reason.TdxCollateralExpired, `${what} nextUpdate ${crl.nextUpdate.toISOString()} < at ${at.toISOString()}`);
  if (at.getTime() < crl.thisUpdate.getTime()) fail(Reason.TdxCollateralExpired, `${what} thisUpdate ${crl.thisUpdate.toISOString()} > at ${at.toISOString()}`);
  const serial = subject.x509.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  if (crl.revoked.has(serial)) fail(Reason.CertRevoked, `${describe(subject)} serial ${serial} is revoked by ${what}`);
}
