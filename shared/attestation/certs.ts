/**
 * Certificates and chains for attestation: loading (DER, PEM, PEM bundles), validity at a given
 * time, issuer signatures (node:crypto / OpenSSL, which handles the RSASSA-PSS AMD uses), and
 * extension values (parsed with @peculiar/asn1-x509). Every failure names the certificate by its
 * role and subject CN, and dates in ISO form.
 */
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { fail, Reason } from './errors.js';
import type { TrustStore } from './trust.js';

export interface Cert {
  /** Role in the chain, used in messages: `VCEK`, `ASK`, `PCK`, ... */
  readonly role: string;
  readonly x509: X509Certificate;
  readonly der: Uint8Array;
  readonly cn: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Extension OID -> raw extnValue contents. */
  readonly extensions: ReadonlyMap<string, Uint8Array>;
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

function looksPem(b: Uint8Array): boolean {
  const head = Buffer.from(b.subarray(0, Math.min(b.length, 4096))).toString('latin1');
  return head.includes('-----BEGIN');
}

/**
 * Splits a PEM bundle (or a single DER) into DER certificates, in file order. A BEGIN line
 * without its END line is malformed; `strict` also rejects anything but whitespace between blocks.
 */
export function splitCertificates(data: Uint8Array | string, what: string, strict = false): Uint8Array[] {
  const isText = typeof data === 'string' || looksPem(data);
  if (!isText) return [data as Uint8Array];
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    const body = m[1]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) fail(Reason.CertMalformed, `${what}: certificate ${out.length} is not valid base64`);
    out.push(new Uint8Array(Buffer.from(body, 'base64')));
  }
  const rest = text.replace(PEM_RE, '');
  if (rest.includes('-----BEGIN CERTIFICATE-----') || rest.includes('-----END CERTIFICATE-----')) {
    fail(Reason.CertMalformed, `${what}: a PEM certificate block is not terminated`);
  }
  if (strict && !/^[\s\0]*$/.test(rest)) fail(Reason.CertMalformed, `${what}: unexpected bytes between PEM certificate blocks`);
  if (out.length === 0) fail(Reason.CertMalformed, `${what}: no PEM certificate found`);
  return out;
}

function cnOf(subject: string | undefined): string {
  if (!subject) return '';
  const m = /(?:^|\n)CN=([^\n]*)/.exec(subject);
  return m ? m[1]! : subject.replace(/\n/g, ',');
}

export function parseCertificate(der: Uint8Array, role: string): Cert {
  let x509: X509Certificate;
  let extensions: Map<string, Uint8Array>;
  try {
    x509 = new X509Certificate(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
    void x509.publicKey; // a key that does not decode is a malformed certificate, not a crash later
    const asn = AsnConvert.parse(der, Certificate);
    extensions = new Map();
    for (const e of asn.tbsCertificate.extensions ?? []) extensions.set(e.extnID, new Uint8Array(e.extnValue.buffer));
  } catch (e) {
    return fail(Reason.CertMalformed, `${role} certificate does not parse as X.509 (${e instanceof Error ? e.message : String(e)})`, e);
  }
  return {
    role,
    x509,
    der,
    cn: cnOf(x509.subject),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    extensions,
  };
}

export function loadCertificates(data: Uint8Array | string, roles: readonly string[] | string, what: string, strict = false): Cert[] {
  const ders = splitCertificates(data, what, strict);
  return ders.map((d, i) => parseCertificate(d, typeof roles === 'string' ? `${roles}[${i}]` : (roles[i] ?? `${what}[${i}]`)));
}

export function describe(c: Cert): string {
  return `${c.role} (CN=${c.cn})`;
}

export function checkValidity(c: Cert, at: Date): void {
  if (at.getTime() > c.notAfter.getTime()) {
    fail(Reason.CertExpired, `${describe(c)} notAfter ${c.notAfter.toISOString()} < at ${at.toISOString()}`);
  }
  if (at.getTime() < c.notBefore.getTime()) {
    fail(Reason.CertNotYetValid, `${describe(c)} notBefore ${c.notBefore.toISOString()} > at ${at.toISOString()}`);
  }
}

/** Checks that `issuer` issued `child`: names match and the signature verifies. */
export function checkIssued(child: Cert, issuer: Cert): void {
  if (child.x509.issuer !== issuer.x509.subject) {
    fail(Reason.CertIssuer, `${describe(child)} issuer CN=${cnOf(child.x509.issuer)} is not ${describe(issuer)}`);
  }
  let ok = false;
  try {
    ok = child.x509.verify(issuer.x509.publicKey);
  } catch {
    ok = false;
  }
  if (!ok) fail(Reason.CertSignature, `${describe(child)} signature does not verify with ${describe(issuer)} key`);
}

export interface ChainOptions {
  /** Time at which every certificate must be valid. */
  at: Date;
  /**
   * What the chain must end at. There is no "trust the chain as given": a chain whose top is not
   * a trusted root (same subject and public key) nor issued by one is refused with
   * cert.untrusted-root, whatever names it carries.
   */
  trust: TrustStore;
}

function sameSubjectAndKey(a: Cert, b: Cert): boolean {
  if (a.x509.subject !== b.x509.subject) return false;
  try {
    return a.x509.publicKey.equals(b.x509.publicKey);
  } catch {
    return false;
  }
}

function signedBy(child: Cert, issuer: Cert): boolean {
  if (child.x509.issuer !== issuer.x509.subject) return false;
  try {
    return child.x509.verify(issuer.x509.publicKey);
  } catch {
    return false;
  }
}

const MAX_PATH = 8;

/**
 * Verifies leaf <- chain[0] <- ... up to a trusted root of `opts.trust`, completing the chain
 * from the store's intermediates when it stops short (an SNP VCEK given alone). The anchor is
 * found first: a top certificate with a root's subject and key (compared as keys, never by name
 * alone), or one whose signature a root's key verifies; anything else is cert.untrusted-root.
 * Then every signature is checked top-down (root first, so a broken root is reported as the
 * root's fault) and every certificate must be valid at `at`. Returns the anchor.
 */
export function verifyChain(leaf: Cert, chain: readonly Cert[], opts: ChainOptions): Cert {
  const { roots, intermediates, source } = opts.trust;
  if (roots.length === 0) fail(Reason.CertUntrustedRoot, `no trusted roots configured (${source})`);
  const all = [leaf, ...chain];
  let anchor: Cert | undefined;
  while (!anchor) {
    const top = all[all.length - 1]!;
    anchor = roots.find((r) => sameSubjectAndKey(r, top));
    if (anchor) break;
    anchor = roots.find((r) => signedBy(top, r));
    if (anchor) {
      all.push({ ...anchor, role: `trusted root (${source})` });
      break;
    }
    if (top.x509.subject === top.x509.issuer) {
      fail(Reason.CertUntrustedRoot, `${describe(top)} is self-signed but is not a trusted root (${source}); roots: ${roots.map((r) => r.cn).join(', ')}`);
    }
    const next = all.length < MAX_PATH ? intermediates.find((c) => signedBy(top, c)) : undefined;
    if (!next) fail(Reason.CertUntrustedRoot, `${describe(top)} is not issued by a trusted root (${source}): no trusted certificate CN=${cnOf(top.x509.issuer)} verifies it`);
    all.push({ ...next, role: `${next.cn} (${source})` });
  }
  const root = all[all.length - 1]!;
  checkIssued(root, root);
  for (let i = all.length - 2; i >= 0; i--) checkIssued(all[i]!, all[i + 1]!);
  for (const c of all) checkValidity(c, opts.at);
  return anchor;
}

export function publicKeyOf(c: Cert): KeyObject {
  return c.x509.publicKey;
}

/** A public key from PEM (SPKI or certificate) or DER SPKI. */
export function publicKeyFrom(data: Uint8Array, what: string): KeyObject {
  try {
    if (looksPem(data)) {
      const text = Buffer.from(data).toString('latin1');
      if (text.includes('BEGIN CERTIFICATE')) return parseCertificate(splitCertificates(text, what)[0]!, what).x509.publicKey;
      return createPublicKey(text);
    }
    return createPublicKey({ key: Buffer.from(data), format: 'der', type: 'spki' });
  } catch (e) {
    if (e instanceof Error && e.name === 'EvidenceError') throw e;
    return fail(Reason.CertKey, `${what}: not a PEM/DER public key or certificate`, e);
  }
}
