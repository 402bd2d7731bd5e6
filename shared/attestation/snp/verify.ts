/**
 * SEV-SNP report verification: report signature with the VCEK/VLEK named by the report's
 * signing-key field, the chain VCEK/VLEK <- ASK/ASVK <- ARK at a given time, reported TCB and chip
 * id against the VCEK extensions, guest policy (debug) and expected report_data. The chain must
 * end at a trusted ARK: the built-in AMD roots unless VerifyOptions.trustRoots replaces them.
 */
import { describe, loadCertificates, verifyChain, type Cert } from '../certs.js';
import { hex, equalBytes, regularize, isAllZero } from '../bytes.js';
import { EcdsaPublicKey } from '../ecdsa.js';
import { fail, Reason } from '../errors.js';
import { anchorClaim, builtinTrustStore, type AnchorClaim, type TrustStore } from '../trust.js';
import { DEFAULT_SNP_VMPL, runChecks, type Claims, type Verifier, type VerifyOptions, type VerifyResult } from '../types.js';
import { decodeTcb, parseSnpReport, productFromCpuid, snpClaims, type SnpProduct, type SnpReport, type TcbVersion } from './report.js';
import { endorsementKeyInfo, productFromName, type EndorsementKeyInfo } from './vcek.js';

export interface SnpEvidence {
  /** The 1184-byte ATTESTATION_REPORT. */
  report: Uint8Array;
  /** VCEK or VLEK: DER, or PEM (the first certificate of a bundle is the leaf; any others are the chain). */
  leaf: Uint8Array | string;
  /**
   * ASK/ASVK then ARK, PEM bundle (AMD KDS `cert_chain` order) or any order. Optional: without it
   * the chain is completed from the trust store's ASK/ASVK. Either way it must end at a trusted
   * ARK (VerifyOptions.trustRoots, default the built-in AMD roots).
   */
  chain?: Uint8Array | string;
}

/** A parsed, checked chain to reuse across many reports (the KBS caches these). */
export interface SnpTrust {
  leaf: Cert;
  info: EndorsementKeyInfo;
  key: EcdsaPublicKey;
  /** The chain as given (ASK/ASVK, ARK), possibly empty. */
  chain: Cert[];
  /** The trusted ARK the chain ended at (claim `trust_anchor`). */
  anchor: AnchorClaim;
}

function orderChain(certs: Cert[]): Cert[] {
  // KDS gives ASK then ARK; accept either order by putting the self-issued one last.
  const root = certs.findIndex((c) => c.x509.subject === c.x509.issuer);
  if (root < 0 || root === certs.length - 1) return certs;
  const out = certs.filter((_, i) => i !== root);
  out.push(certs[root]!);
  return out;
}

/**
 * Loads and checks the endorsement chain at `at` against `store` (default the built-in AMD
 * roots); throws EvidenceError on failure (cert.untrusted-root when it does not end at a trusted ARK).
 */
export function loadSnpTrust(leafData: Uint8Array | string, chainData: Uint8Array | string | undefined, at: Date, store: TrustStore = builtinTrustStore('amd')): SnpTrust {
  const leafCerts = loadCertificates(leafData, ['VCEK', 'ASK', 'ARK'], 'leaf certificate');
  let leaf = leafCerts[0]!;
  const info = endorsementKeyInfo(leaf);
  const leafRole = info.kind === 'vlek' ? 'VLEK' : 'VCEK';
  if (leaf.role !== leafRole) leaf = { ...leaf, role: leafRole };
  const rest = chainData !== undefined ? loadCertificates(chainData, 'chain', 'certificate chain') : leafCerts.slice(1);
  const chain = orderChain(rest).map((c) => ({ ...c, role: c.x509.subject === c.x509.issuer ? 'ARK' : info.kind === 'vlek' ? 'ASVK' : 'ASK' }));
  // The chain must belong to the same product as the endorsement key.
  const checkProduct = (top: Cert): void => {
    const chainProduct = productFromName(top.cn);
    if (info.product && chainProduct && info.product !== chainProduct) {
      fail(Reason.SnpProduct, `${describe(leaf)} is for ${info.product} but the chain is for ${chainProduct} (${describe(top)})`);
    }
  };
  if (chain.length > 0) checkProduct(chain[chain.length - 1]!);
  const anchor = verifyChain(leaf, chain, { at, trust: store });
  checkProduct(anchor);
  // What the report is compared with must be there: an endorsement key without it would skip checks.
  if (info.kind === 'unknown') fail(Reason.SnpSigningKey, `${describe(leaf)} is neither a VCEK (CN=SEV-VCEK) nor a VLEK (CN=SEV-VLEK)`);
  if (!info.tcb) fail(Reason.SnpTcb, `${describe(leaf)} has no TCB extensions (blSPL, teeSPL, snpSPL, ucodeSPL)`);
  if (info.kind === 'vcek' && !info.hwId) fail(Reason.SnpChipId, `${describe(leaf)} has no hwID extension`);
  const key = EcdsaPublicKey.fromKeyObject(leaf.x509.publicKey, describe(leaf));
  if (key.curve !== 'P-384') fail(Reason.CertKey, `${describe(leaf)} key is ${key.curve}, expected P-384`);
  return { leaf, info, key, chain, anchor: anchorClaim(anchor, store) };
}

function tcbString(t: TcbVersion): string {
  return `${t.fmc !== undefined ? `fmc=${t.fmc} ` : ''}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}`;
}

function sameTcb(a: TcbVersion, b: TcbVersion): boolean {
  return a.bootloader === b.bootloader && a.tee === b.tee && a.snp === b.snp && a.microcode === b.microcode && (a.fmc ?? 0) === (b.fmc ?? 0);
}

const TCB_KEYS = { bl: 'bootloader', tee: 'tee', snp: 'snp', ucode: 'microcode', fmc: 'fmc' } as const;

/**
 * Parses a minimum TCB written `bl=N,tee=N,snp=N,ucode=N[,fmc=N]` (decimal or 0x hex, each
 * 0..255; bl, tee, snp and ucode required). Throws an Error naming what is wrong.
 */
export function parseTcbSpec(spec: string): TcbVersion {
  const got: Partial<Record<(typeof TCB_KEYS)[keyof typeof TCB_KEYS], number>> = {};
  for (const part of spec.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(0x[0-9a-f]+|\d+)\s*$/i.exec(part);
    const key = m ? TCB_KEYS[m[1]!.toLowerCase() as keyof typeof TCB_KEYS] : undefined;
    if (!m || !key) throw new Error(`TCB component "${part}" is not one of bl=, tee=, snp=, ucode=, fmc= with a number`);
    const v = Number(m[2]);
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`TCB component ${m[1]} = ${m[2]} is not 0..255`);
    if (got[key] !== undefined) throw new Error(`TCB component ${m[1]} given twice`);
    got[key] = v;
  }
  const { bootloader, tee, snp, microcode, fmc } = got;
  if (bootloader === undefined || tee === undefined || snp === undefined || microcode === undefined) throw new Error('a minimum TCB needs bl=, tee=, snp= and ucode=');
  return { bootloader, tee, snp, microcode, ...(fmc !== undefined ? { fmc } : {}) };
}

/** Components of `t` below `min` (fmc only when both have one, i.e. on Turin). */
function belowMinimum(t: TcbVersion, min: TcbVersion): string[] {
  const low: string[] = [];
  if (t.fmc !== undefined && min.fmc !== undefined && t.fmc < min.fmc) low.push(`fmc ${t.fmc} < ${min.fmc}`);
  if (t.bootloader < min.bootloader) low.push(`bl ${t.bootloader} < ${min.bootloader}`);
  if (t.tee < min.tee) low.push(`tee ${t.tee} < ${min.tee}`);
  if (t.snp < min.snp) low.push(`snp ${t.snp} < ${min.snp}`);
  if (t.microcode < min.microcode) low.push(`ucode ${t.microcode} < ${min.microcode}`);
  return low;
}

/** The reported, committed and current TCB must each meet `min`; returns the minimum for the claims. */
function checkMinTcb(rep: SnpReport, product: SnpProduct | undefined, min: TcbVersion): TcbVersion {
  const fields = [['reported_tcb', rep.reportedTcbRaw], ['committed_tcb', rep.committedTcbRaw], ['current_tcb', rep.currentTcbRaw]] as const;
  for (const [name, raw] of fields) {
    const t = decodeTcb(raw, product);
    const low = belowMinimum(t, min);
    if (low.length > 0) fail(Reason.SnpMinTcb, `${name} ${tcbString(t)} is below the minimum TCB ${tcbString(min)}: ${low.join(', ')}`);
  }
  return min;
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
  claims.trust_anchor = trust.anchor;
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
  const vmpl = opts.vmpl ?? DEFAULT_SNP_VMPL;
  if (rep.vmpl !== vmpl) fail(Reason.SnpVmpl, `report was requested at VMPL ${rep.vmpl}, expected VMPL ${vmpl}`);
  claims.min_tcb = opts.minTcb ? checkMinTcb(rep, product, opts.minTcb) : 'unchecked';
  if (rep.policy.debug && !opts.allowDebug) fail(Reason.SnpDebug, `guest policy 0x${rep.policy.raw.toString(16)} allows debugging (bit 19) and debug is not allowed`);
  if (opts.reportData) {
    const want = regularize(opts.reportData, 64);
    if (!equalBytes(want, rep.reportData)) fail(Reason.SnpReportData, `report_data ${hex(rep.reportData)} differs from expected ${hex(want)}`);
  }
}

export function verifySnpWithTrust(report: Uint8Array, trust: SnpTrust, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('snp', opts, (claims) => checkSnpReport(parseSnpReport(report), trust, opts, claims));
}

export function verifySnp(ev: SnpEvidence, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('snp', opts, (claims) => {
    const rep = parseSnpReport(ev.report);
    Object.assign(claims, snpClaims(rep, rep.cpuid ? productFromCpuid(rep.cpuid.family, rep.cpuid.model) : undefined));
    const trust = loadSnpTrust(ev.leaf, ev.chain, opts.at ?? new Date(), opts.trustRoots ?? builtinTrustStore('amd'));
    checkSnpReport(rep, trust, opts, claims);
  });
}

export const snpVerifier: Verifier<SnpEvidence> = { tee: 'snp', verify: verifySnp };

