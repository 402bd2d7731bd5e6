/**
 * SEV-SNP report verification: report signature with the VCEK/VLEK named by the report's
 * signing-key field, the chain VCEK/VLEK <- ASK/ASVK <- ARK at a given time, reported TCB and chip
 * id against the VCEK extensions, guest policy (debug) and expected report_data.
 */
import { describe, loadCertificates, verifyChain, type Cert } from '../certs.js';
import { hex, equalBytes, regularize, isAllZero } from '../bytes.js';
import { EcdsaPublicKey } from '../ecdsa.js';
import { fail, Reason } from '../errors.js';
import { runChecks, type Claims, type Verifier, type VerifyOptions, type VerifyResult } from '../types.js';
import { decodeTcb, parseSnpReport, productFromCpuid, snpClaims, type SnpProduct, type SnpReport, type TcbVersion } from './report.js';
import { endorsementKeyInfo, productFromName, type EndorsementKeyInfo } from './vcek.js';

export interface SnpEvidence {
  /** The 1184-byte ATTESTATION_REPORT. */
  report: Uint8Array;
  /** VCEK or VLEK: DER, or PEM (the first certificate of a bundle is the leaf; any others are the chain). */
  leaf: Uint8Array | string;
  /** ASK/ASVK then ARK, PEM bundle (AMD KDS `cert_chain` order) or any order. */
  chain?: Uint8Array | string;
  /**
   * Pinned ARKs (PEM bundle or DER). When given, the chain's ARK must be one of them; otherwise
   * the ARK that comes with the chain is the trust anchor (it must still be self-signed).
   */
  trustedRoots?: Uint8Array | string;
}

/** A parsed, checked chain to reuse across many reports (the KBS caches these). */
export interface SnpTrust {
  leaf: Cert;
  info: EndorsementKeyInfo;
  key: EcdsaPublicKey;
  /** [ASK/ASVK, ARK] */
  chain: Cert[];
}

function orderChain(certs: Cert[]): Cert[] {
  // KDS gives ASK then ARK; accept either order by putting the self-issued one last.
  const root = certs.findIndex((c) => c.x509.subject === c.x509.issuer);
  if (root < 0 || root === certs.length - 1) return certs;
  const out = certs.filter((_, i) => i !== root);
  out.push(certs[root]!);
  return out;
}

/** Loads and checks the endorsement chain at `at`; throws EvidenceError on failure. */
export function loadSnpTrust(leafData: Uint8Array | string, chainData: Uint8Array | string | undefined, at: Date, trustedRoots?: Uint8Array | string): SnpTrust {
  const leafCerts = loadCertificates(leafData, ['VCEK', 'ASK', 'ARK'], 'leaf certificate');
  let leaf = leafCerts[0]!;
  const info = endorsementKeyInfo(leaf);
  const leafRole = info.kind === 'vlek' ? 'VLEK' : 'VCEK';
  if (leaf.role !== leafRole) leaf = { ...leaf, role: leafRole };
  const rest = chainData !== undefined ? loadCertificates(chainData, 'chain', 'certificate chain') : leafCerts.slice(1);
  if (rest.length === 0) fail(Reason.MissingInput, `no ASK/ARK chain given for ${describe(leaf)}`);
  const chain = orderChain(rest).map((c, i, a) => ({ ...c, role: i === a.length - 1 ? 'ARK' : info.kind === 'vlek' ? 'ASVK' : 'ASK' }));
  // The chain must belong to the same product as the endorsement key.
  const chainProduct = productFromName(chain[chain.length - 1]!.cn);
  if (info.product && chainProduct && info.product !== chainProduct) {
    fail(Reason.SnpProduct, `${describe(leaf)} is for ${info.product} but the chain is for ${chainProduct} (${describe(chain[chain.length - 1]!)})`);
  }
  const trusted = trustedRoots !== undefined ? loadCertificates(trustedRoots, 'pinned ARK', 'trusted roots').map((c) => ({ ...c, role: 'pinned ARK' })) : undefined;
  verifyChain(leaf, chain, { at, ...(trusted ? { trusted } : {}) });
  const key = EcdsaPublicKey.fromKeyObject(leaf.x509.publicKey, describe(leaf));
  if (key.curve !== 'P-384') fail(Reason.CertKey, `${describe(leaf)} key is ${key.curve}, expected P-384`);
  return { leaf, info, key, chain };
}

function tcbString(t: TcbVersion): string {
  return `${t.fmc !== undefined ? `fmc=${t.fmc} ` : ''}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}`;
}

function sameTcb(a: TcbVersion, b: TcbVersion): boolean {
  return a.bootloader === b.bootloader && a.tee === b.tee && a.snp === b.snp && a.microcode === b.microcode && (a.fmc ?? 0) === (b.fmc ?? 0);
}

function hwIdBytes(info: EndorsementKeyInfo): Uint8Array | undefined {
  const h = info.hwId;
  if (!h) return undefined;
  // Some issuers wrap the id in an OCTET STRING; AMD KDS stores it raw.
  if (h.length >= 2 && h[0] === 0x04 && h[1] === h.length - 2) return h.subarray(2);
  return h;
}

/** Checks a parsed report against an already loaded chain; fills claims. */
export function checkSnpReport(rep: SnpReport, trust: SnpTrust, opts: VerifyOptions, claims: Claims): void {
  let product: SnpProduct | undefined = trust.info.product;
  if (rep.cpuid) {
    const p = productFromCpuid(rep.cpuid.family, rep.cpuid.model);
    if (p && product && p !== product) {
      fail(Reason.SnpProduct, `report CPUID family 0x${rep.cpuid.family.toString(16)} model 0x${rep.cpuid.model.toString(16)} is ${p} but ${describe(trust.leaf)} is for ${product}`);
    }
    product = product ?? p;
  }
  Object.assign(claims, snpClaims(rep, product));
  if (rep.signatureAlgo !== 1) fail(Reason.SnpSignatureAlgo, `signature_algo ${rep.signatureAlgo} is not 1 (ECDSA P-384 with SHA-384)`);
  if (rep.signingKey === 'none') fail(Reason.SnpSigningKey, 'report signing_key is 7 (unsigned report)');
  if (trust.info.kind !== 'unknown' && rep.signingKey !== trust.info.kind) {
    fail(Reason.SnpSigningKey, `report signing_key says ${rep.signingKey.toUpperCase()} but ${describe(trust.leaf)} is a ${trust.info.kind.toUpperCase()}`);
  }
  const sig = new Uint8Array(96);
  sig.set(rep.sigR, 0);
  sig.set(rep.sigS, 48);
  const hw = hwIdBytes(trust.info);
  const chip = product === 'Turin' ? rep.chipId.subarray(0, 8) : rep.chipId;
  if (!trust.key.verify(rep.signed, sig, opts.ecdsaBackend)) {
    const hint = trust.info.kind === 'vcek' && hw && !rep.maskChipKey && !equalBytes(hw, chip)
      ? `; its hwID ${hex(hw).slice(0, 16)}... is another chip than the report's chip_id ${hex(chip).slice(0, 16)}...`
      : '';
    fail(Reason.SnpSignature, `report signature does not verify with ${describe(trust.leaf)}${hint}`);
  }
  if (trust.info.kind === 'vcek' && hw && !rep.maskChipKey && !isAllZero(chip) && !equalBytes(hw, chip)) {
    fail(Reason.SnpChipId, `report chip_id ${hex(chip)} differs from ${describe(trust.leaf)} hwID ${hex(hw)}`);
  }
  if (trust.info.tcb) {
    const reported = decodeTcb(rep.reportedTcbRaw, product);
    if (!sameTcb(reported, trust.info.tcb)) {
      fail(Reason.SnpTcb, `reported_tcb ${tcbString(reported)} differs from ${describe(trust.leaf)} TCB ${tcbString(trust.info.tcb)}`);
    }
  }
  if (rep.policy.debug && !opts.allowDebug) fail(Reason.SnpDebug, `guest policy 0x${rep.policy.raw.toString(16)} allows debugging (bit 19) and debug is not allowed`);
  if (opts.reportData) {
    const want = regularize(opts.reportData, 64);
    if (!equalBytes(want, rep.reportData)) fail(Reason.SnpReportData, `report_data ${hex(rep.reportData)} differs from expected ${hex(want)}`);
  }
}

export function verifySnpWithTrust(report: Uint8Array, trust: SnpTrust, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('snp', (claims) => checkSnpReport(parseSnpReport(report), trust, opts, claims));
}

export function verifySnp(ev: SnpEvidence, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('snp', (claims) => {
    const rep = parseSnpReport(ev.report);
    Object.assign(claims, snpClaims(rep, rep.cpuid ? productFromCpuid(rep.cpuid.family, rep.cpuid.model) : undefined));
    const trust = loadSnpTrust(ev.leaf, ev.chain, opts.at ?? new Date(), ev.trustedRoots);
    checkSnpReport(rep, trust, opts, claims);
  });
}

export const snpVerifier: Verifier<SnpEvidence> = { tee: 'snp', verify: verifySnp };

