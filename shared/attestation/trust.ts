/**
 * Trust stores: the certificates a chain must end at. The built-in ones are the vendors' public
 * roots (AMD ARK/ASK/ASVK for Milan, Genoa, Turin; the Intel SGX Root CA), kept as PEM data in
 * `roots/` beside this module's source and read at run time; a store read from a directory or a
 * bundle replaces them (`--trust-roots`, VerifyOptions.trustRoots). Self-signed certificates are
 * anchors; the others only complete a chain and are never trusted on their own.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCertificates, type Cert } from './certs.js';
import { EvidenceError, fail, Reason } from './errors.js';

export interface TrustStore {
  /** Self-signed trust anchors. */
  readonly roots: readonly Cert[];
  /** Certificates that may complete a chain below a root (AMD ASK / ASVK); never anchors. */
  readonly intermediates: readonly Cert[];
  /** `built-in` or the file / directory the store was read from; reported in the claims. */
  readonly source: string;
}

export type Vendor = 'amd' | 'intel';

/** Where the built-in roots are: beside the source module, or from dist/shared/attestation. */
const BUILTIN_DIRS = [new URL('./roots/', import.meta.url), new URL('../../../shared/attestation/roots/', import.meta.url)];
const CERT_FILE = /\.(pem|crt|cer|der)$/i;

/** Splits certificates into anchors (self-issued) and intermediates. */
export function trustStoreOf(certs: readonly Cert[], source: string): TrustStore {
  const roots: Cert[] = [];
  const intermediates: Cert[] = [];
  for (const c of certs) (c.x509.subject === c.x509.issuer ? roots : intermediates).push(c);
  return { roots, intermediates, source };
}

/** A store from a PEM bundle or one DER certificate. */
export function trustStoreFrom(data: Uint8Array | string, source: string): TrustStore {
  return trustStoreOf(loadCertificates(data, 'trusted certificate', source), source);
}

function certFiles(dir: string, depth: number): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory() && depth > 0) out.push(...certFiles(p, depth - 1));
    else if (st.isFile() && CERT_FILE.test(name)) out.push(p);
  }
  return out;
}

/**
 * Reads a store from a directory (every *.pem, *.crt, *.cer, *.der in it and its immediate
 * subdirectories) or from one certificate / bundle file. No certificate found is an error: an
 * empty store would refuse everything without saying why.
 */
export function loadTrustStore(path: string): TrustStore {
  let files: string[];
  try {
    files = statSync(path).isDirectory() ? certFiles(path, 1) : [path];
  } catch (e) {
    return fail(Reason.MissingInput, `trust roots ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, e);
  }
  const certs = files.flatMap((f) => loadCertificates(new Uint8Array(readFileSync(f)), 'trusted certificate', f));
  if (certs.length === 0) fail(Reason.MissingInput, `trust roots ${path}: no certificate files (*.pem, *.crt, *.cer, *.der)`);
  const store = trustStoreOf(certs, path);
  if (store.roots.length === 0) fail(Reason.MissingInput, `trust roots ${path}: no self-signed certificate among ${certs.length}`);
  return store;
}

const builtin = new Map<Vendor, TrustStore>();

/** The built-in store of a vendor (cached); fails closed with cert.untrusted-root when its files are missing. */
export function builtinTrustStore(vendor: Vendor): TrustStore {
  const hit = builtin.get(vendor);
  if (hit) return hit;
  const dirs = BUILTIN_DIRS.map((u) => join(fileURLToPath(u), vendor));
  const dir = dirs.find((d) => existsSync(d));
  if (!dir) throw new EvidenceError(Reason.CertUntrustedRoot, `built-in ${vendor} trust roots not found (looked in ${dirs.join(', ')})`);
  const certs = certFiles(dir, 0).flatMap((f) => loadCertificates(new Uint8Array(readFileSync(f)), 'built-in', f));
  // KDS bundles repeat each product's ARK (VCEK and VLEK chains): keep one copy.
  const seen = new Set<string>();
  const unique = certs.filter((c) => {
    const k = fingerprint(c);
    return seen.has(k) ? false : (seen.add(k), true);
  });
  const store = trustStoreOf(unique, 'built-in');
  builtin.set(vendor, store);
  return store;
}

/** SHA-256 of the certificate's DER, hex. */
export function fingerprint(c: Cert): string {
  return createHash('sha256').update(c.der).digest('hex');
}

/** The claim naming the root a chain ended at: its CN, DER SHA-256 and store. */
export interface AnchorClaim {
  subject: string;
  sha256: string;
  source: string;
}

export function anchorClaim(anchor: Cert, store: TrustStore): AnchorClaim {
  return { subject: anchor.cn, sha256: fingerprint(anchor), source: store.source };
}
