/**
 * TDX quote verification: PCK chain to the trusted Intel SGX Root CA, QE report signature by the
 * PCK key, attestation-key binding in the QE report, quote signature by the attestation key,
 * TD debug attribute, expected report_data and, with collateral, CRLs, QE identity and TCB status.
 * The trusted root is the built-in Intel SGX Root CA unless VerifyOptions.trustRoots replaces it.
 */
import { createHash } from 'node:crypto';
import { checkValidity, describe, loadCertificates, verifyChain, type Cert } from '../certs.js';
import { equalBytes, hex, isAllZero, regularize } from '../bytes.js';
import { EcdsaPublicKey } from '../ecdsa.js';
import { fail, Reason } from '../errors.js';
import { anchorClaim, builtinTrustStore, type AnchorClaim, type TrustStore } from '../trust.js';
import { parseEventLog, replay } from '../eventlog.js';
import { DEFAULT_ACCEPTED_TCB_STATUSES, runChecks, type Claims, type Verifier, type VerifyOptions, type VerifyResult } from '../types.js';
import { checkCrl, checkQeIdentity, checkTcbInfo, type TdxCollateral } from './collateral.js';
import { pckInfo, type PckInfo } from './pck.js';
import { parseTdxQuote, tdDebug, tdxClaims, type TdxQuote } from './quote.js';

export interface TdxEvidence {
  /** The quote; its PCK chain must end at a trusted root (VerifyOptions.trustRoots, default the built-in Intel SGX Root CA). */
  quote: Uint8Array;
  collateral?: TdxCollateral;
  /** CC event log (CCEL data); replayed against RTMR0..3 (MR index 1..4). */
  eventLog?: Uint8Array;
}

function checkCcel(log: Uint8Array, rtmrs: readonly Uint8Array[], claims: Claims): void {
  const parsed = parseEventLog(log, 'CC event log');
  const replayed = replay(parsed, 'sha384');
  for (let i = 0; i < 4; i++) {
    const want = replayed.get(i + 1) ?? new Uint8Array(48);
    if (!equalBytes(want, rtmrs[i]!)) fail(Reason.TdxEventLog, `CC event log replays RTMR${i} to ${hex(want)} but the quote has ${hex(rtmrs[i]!)}`);
  }
  claims.event_log = { events: parsed.events.length, replayed_rtmrs: [0, 1, 2, 3] };
}

export interface TdxVerifyOptions extends VerifyOptions {
  /**
   * Remembers PCK chains whose signatures verified, keyed by the chain PEM and trusted root;
   * validity dates are still checked on every use. A platform sends the same chain every time.
   */
  chainCache?: Map<string, VerifiedPckChain>;
  /** With chainCache: also remember verified QE report signatures (exact bytes). */
  cacheQeReports?: boolean;
}

export interface VerifiedPckChain {
  root: Cert;
  chain: Cert[];
  pck: Cert;
  pckKey: EcdsaPublicKey;
  info: PckInfo;
  /** The PEM chain bytes this entry is for. */
  pem: Uint8Array;
  /** The trust store the chain was checked against, to tell apart callers with different roots. */
  store: TrustStore;
  anchor: AnchorClaim;
  /** Attestation keys seen with this chain (a QE keeps its key across quotes). */
  attestationKeys: Map<string, EcdsaPublicKey>;
  /**
   * QE reports (with their signatures) already verified with this PCK, when the caller opted in
   * with `cacheQeReports`: a QE certifies the same attestation key with the same signed report
   * for every quote, so only the quote signature is new work.
   */
  qeReports: Set<string>;
}

const MAX_CHAIN_CACHE = 1024;

function pckChain(pemBytes: Uint8Array, store: TrustStore, at: Date, cache: Map<string, VerifiedPckChain> | undefined): VerifiedPckChain {
  // Cheap lookup key (length and tail, the root's signature); the hit is then confirmed byte for byte.
  const key = cache ? `${pemBytes.length}:${Buffer.from(pemBytes.buffer, pemBytes.byteOffset + Math.max(0, pemBytes.length - 96), Math.min(96, pemBytes.length)).toString('latin1')}` : '';
  const hit = cache?.get(key);
  if (hit && equalBytes(hit.pem, pemBytes) && hit.store === store) {
    for (const c of hit.chain) checkValidity(c, at);
    checkValidity(hit.root, at);
    return hit;
  }
  const pem = Buffer.from(pemBytes.buffer, pemBytes.byteOffset, pemBytes.byteLength).toString('latin1');
  const chain = loadCertificates(pem, ['PCK', 'PCK CA', 'Root CA'], 'PCK certificate chain', true);
  if (chain.length !== 3) fail(Reason.TdxCertData, `PCK certificate chain has ${chain.length} certificate(s), expected PCK, PCK CA and root`);
  const pck = chain[0]!;
  const root = { ...verifyChain(pck, chain.slice(1), { at, trust: store }), role: 'trusted Root CA' };
  const pckKey = EcdsaPublicKey.fromKeyObject(pck.x509.publicKey, describe(pck));
  if (pckKey.curve !== 'P-256') fail(Reason.CertKey, `${describe(pck)} key is ${pckKey.curve}, expected P-256`);
  const entry = { root, chain, pck, pckKey, info: pckInfo(pck), attestationKeys: new Map<string, EcdsaPublicKey>(), qeReports: new Set<string>(), pem: new Uint8Array(pemBytes), store, anchor: anchorClaim(root, store) };
  if (cache) {
    if (cache.size >= MAX_CHAIN_CACHE) cache.delete(cache.keys().next().value!);
    cache.set(key, entry);
  }
  return entry;
}

export function checkTdxQuote(ev: TdxEvidence, opts: TdxVerifyOptions, claims: Claims): void {
  const at = opts.at ?? new Date();
  const q = parseTdxQuote(ev.quote);
  Object.assign(claims, tdxClaims(q));
  const { root, chain, pck, pckKey, info, attestationKeys, qeReports, anchor } = pckChain(q.pckChainPem, opts.trustRoots ?? builtinTrustStore('intel'), at, opts.chainCache);
  claims.trust_anchor = anchor;
  claims.fmspc = hex(info.fmspc);
  claims.pck = { pce_id: hex(info.pceId), pce_svn: info.pceSvn, sgx_tcb_components: info.sgxTcbComponents, cpu_svn: hex(info.cpuSvn) };
  const qeKey = opts.chainCache && opts.cacheQeReports ? Buffer.concat([q.qeReport.raw, q.qeReportSignature]).toString('latin1') : undefined;
  if (qeKey === undefined || !qeReports.has(qeKey)) {
    if (!pckKey.verify(q.qeReport.raw, q.qeReportSignature, opts.ecdsaBackend)) {
      fail(Reason.TdxQeSignature, `QE report signature does not verify with ${describe(pck)}`);
    }
    if (qeKey !== undefined) {
      if (qeReports.size >= 64) qeReports.clear();
      qeReports.add(qeKey);
    }
  }
  const binding = createHash('sha256').update(q.attestationKey).update(q.qeAuthData).digest();
  if (!equalBytes(binding, q.qeReport.reportData.subarray(0, 32)) || !isAllZero(q.qeReport.reportData.subarray(32))) {
    fail(Reason.TdxAkBinding, `QE report_data ${hex(q.qeReport.reportData.subarray(0, 32))} is not SHA-256(attestation key || QE auth data) ${hex(binding)}`);
  }
  const akHex = Buffer.from(q.attestationKey.buffer, q.attestationKey.byteOffset, q.attestationKey.byteLength).toString('latin1');
  let ak = attestationKeys.get(akHex);
  if (!ak) {
    ak = EcdsaPublicKey.fromRaw('P-256', q.attestationKey, 'attestation key');
    if (opts.chainCache) {
      if (attestationKeys.size >= 64) attestationKeys.clear();
      attestationKeys.set(akHex, ak);
    }
  }
  if (!ak.verify(q.signed, q.signature, opts.ecdsaBackend)) {
    fail(Reason.TdxQuoteSignature, 'quote signature over header and TD report does not verify with the attestation key');
  }
  if (tdDebug(q.body) && !opts.allowDebug) fail(Reason.TdxDebug, `TD attributes ${hex(q.body.tdAttributes)} have DEBUG (bit 0) set and debug is not allowed`);
  if (opts.reportData) {
    const want = regularize(opts.reportData, 64);
    if (!equalBytes(want, q.body.reportData)) fail(Reason.TdxReportData, `report_data ${hex(q.body.reportData)} differs from expected ${hex(want)}`);
  }
  if (ev.eventLog) checkCcel(ev.eventLog, q.body.rtmrs, claims);
  checkCollateral(ev.collateral ?? {}, opts, at, { root, pckCa: chain[1]!, pck, info, qeReport: q.qeReport, body: q.body }, claims);
}

interface CollateralSubject {
  root: Cert;
  pckCa: Cert;
  pck: Cert;
  info: PckInfo;
  qeReport: TdxQuote['qeReport'];
  body: TdxQuote['body'];
}

/**
 * Without collateral a quote only proves it came from some genuine TDX platform, however out of
 * date or revoked: every piece (TCB info, QE identity, both CRLs) is required unless
 * allowNoCollateral, and what was not checked says `unchecked` in the claims.
 */
function checkCollateral(col: TdxCollateral, opts: TdxVerifyOptions, at: Date, s: CollateralSubject, claims: Claims): void {
  const missing = [!col.tcbInfo && 'TCB info', !col.qeIdentity && 'QE identity', !col.pckCrl && 'PCK CRL', !col.rootCrl && 'root CA CRL'].filter((m): m is string => m !== false);
  if (missing.length > 0 && !opts.allowNoCollateral) {
    fail(Reason.TdxCollateralMissing, `no ${missing.join(', ')} given: the platform's TCB status, QE identity and revocation cannot be checked (allow-no-collateral waives this)`);
  }
  const accepted = opts.acceptedTcbStatuses ?? DEFAULT_ACCEPTED_TCB_STATUSES;
  if (col.rootCrl) checkCrl(col.rootCrl, s.root, s.pckCa, at, 'Root CA CRL');
  if (col.pckCrl) checkCrl(col.pckCrl, s.pckCa, s.pck, at, 'PCK CRL');
  claims.crl_status = col.rootCrl && col.pckCrl ? 'checked' : 'unchecked';
  claims.qe_identity_status = col.qeIdentity ? checkQeIdentity(col.qeIdentity, col.qeIdentityIssuerChain ?? col.tcbInfoIssuerChain, s.root, at, s.qeReport, accepted) : 'unchecked';
  if (col.tcbInfo) {
    const ev = checkTcbInfo(col.tcbInfo, col.tcbInfoIssuerChain, s.root, at, s.info, s.body, accepted);
    claims.tcb_status = ev.status;
    claims.tcb_date = ev.tcbDate;
    claims.advisory_ids = ev.advisoryIds;
    if (ev.moduleStatus) claims.tdx_module_status = ev.moduleStatus;
  } else {
    claims.tcb_status = 'unchecked';
  }
}

export function verifyTdx(ev: TdxEvidence, opts: TdxVerifyOptions = {}): VerifyResult {
  return runChecks('tdx', opts, (claims) => checkTdxQuote(ev, opts, claims));
}

export const tdxVerifier: Verifier<TdxEvidence> = { tee: 'tdx', verify: verifyTdx };
