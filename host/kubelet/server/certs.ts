/**
 * Serving certificates for the kubelet's HTTPS API. Without `tlsCertFile`/`tlsPrivateKeyFile` the
 * kubelet generates a self-signed ECDSA P-256 certificate once into `<rootDir>/pki/kubelet.crt` and
 * `kubelet.key` (key mode 0600) and reuses it on later starts, as the real kubelet does in its cert
 * directory. `issueCert` also makes test CAs and client certificates.
 *
 * API: `await servingCert({ rootDir, nodeName, certFile?, keyFile? })` → `{ cert, key, certFile, keyFile, generated }`;
 * `await issueCert({ cn, o?, dns?, ips?, isCa?, client?, issuer? })` → `{ cert, key }` (PEM), built with
 * @peculiar/asn1-x509 and signed by node:crypto; `await localClientPki(dir)` → `{ caFile, certFile, keyFile }`.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';

export interface Pem {
  cert: string;
  key: string;
}

function name(cn: string, o: string[] = []): asn.Name {
  const rdn = (type: string, v: string): asn.RelativeDistinguishedName =>
    new asn.RelativeDistinguishedName([new asn.AttributeTypeAndValue({ type, value: new asn.AttributeValue({ utf8String: v }) })]);
  return new asn.Name([...o.map((g) => rdn(OID_O, g)), rdn(OID_CN, cn)]);
}

function ext(extnID: string, critical: boolean, value: unknown): asn.Extension {
  return new asn.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export interface IssueOptions {
  cn: string;
  o?: string[];
  dns?: string[];
  ips?: string[];
  isCa?: boolean;
  /** Client authentication usage (else server authentication, unless a CA). */
  client?: boolean;
  /** Signing CA; self-signed when absent. */
  issuer?: Pem;
  days?: number;
}

/** An ECDSA P-256 certificate (SHA-256 signature) and its PKCS#8 key, both PEM. */
export async function issueCert(o: IssueOptions): Promise<Pem> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const spki = AsnConvert.parse(spkiDer, asn.SubjectPublicKeyInfo);
  const subject = name(o.cn, o.o);
  const issuerCert = o.issuer ? new X509Certificate(o.issuer.cert) : undefined;
  const issuer = issuerCert ? AsnConvert.parse(issuerCert.raw, asn.Certificate).tbsCertificate.subject : subject;
  const signKey = o.issuer ? createPrivateKey(o.issuer.key) : privateKey;
  const usage = o.isCa ? asn.KeyUsageFlags.keyCertSign | asn.KeyUsageFlags.digitalSignature : asn.KeyUsageFlags.digitalSignature;
  const extensions = [
    ext(asn.id_ce_basicConstraints, true, new asn.BasicConstraints({ cA: o.isCa === true })),
    ext(asn.id_ce_keyUsage, true, new asn.KeyUsage(usage)),
    ext(asn.id_ce_subjectKeyIdentifier, false, new asn.SubjectKeyIdentifier(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest())),
  ];
  if (!o.isCa) extensions.push(ext(asn.id_ce_extKeyUsage, false, new asn.ExtendedKeyUsage([o.client ? asn.id_kp_clientAuth : asn.id_kp_serverAuth])));
  const names = [...(o.dns ?? []).map((dNSName) => new asn.GeneralName({ dNSName })), ...(o.ips ?? []).map((iPAddress) => new asn.GeneralName({ iPAddress }))];
  if (names.length) extensions.push(ext(asn.id_ce_subjectAltName, false, new asn.SubjectAlternativeName(names)));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x10;
  const sigAlg = new asn.AlgorithmIdentifier({ algorithm: ECDSA_SHA256 });
  const tbs = new asn.TBSCertificate({
    version: asn.Version.v3,
    serialNumber: new Uint8Array(serial).buffer,
    signature: sigAlg,
    issuer,
    validity: new asn.Validity({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + (o.days ?? 365) * 86_400_000) }),
    subject,
    subjectPublicKeyInfo: spki,
    extensions: new asn.Extensions(extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign('sha256', tbsDer, { key: signKey, dsaEncoding: 'der' });
  const der = Buffer.from(AsnConvert.serialize(new asn.Certificate({ tbsCertificate: tbs, signatureAlgorithm: sigAlg, signatureValue: new Uint8Array(signature).buffer })));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return { cert: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

export interface ServingCertOptions {
  rootDir: string;
  nodeName: string;
  certFile?: string;
  keyFile?: string;
}

export interface ServingCert extends Pem {
  certFile: string;
  keyFile: string;
  generated: boolean;
}

export async function servingCert(o: ServingCertOptions): Promise<ServingCert> {
  if (o.certFile || o.keyFile) {
    if (!o.certFile || !o.keyFile) throw new Error('tlsCertFile and tlsPrivateKeyFile must be given together');
    return { cert: readFileSync(o.certFile, 'utf8'), key: readFileSync(o.keyFile, 'utf8'), certFile: o.certFile, keyFile: o.keyFile, generated: false };
  }
  const dir = join(o.rootDir, 'pki');
  const certFile = join(dir, 'kubelet.crt');
  const keyFile = join(dir, 'kubelet.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile, generated: false };
  }
  const host = hostname().toLowerCase();
  const dns = [...new Set([o.nodeName, host, 'localhost'])];
  const pem = await issueCert({ cn: `${o.nodeName}@${Math.floor(Date.now() / 1000)}`, dns, ips: ['127.0.0.1', '::1'] });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pem.key, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(certFile, pem.cert, { mode: 0o644 });
  return { ...pem, certFile, keyFile, generated: true };
}

export interface ClientPki {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A local client CA and one client certificate signed by it (CN `cocolet-admin`, O `system:masters`),
 * generated once into `dir` (`ca.crt`, `ca.key`, `client.crt`, `client.key`; keys 0600): the way
 * `cocolet up` lets its operator reach the HTTPS API with curl.
 */
export async function localClientPki(dir: string): Promise<ClientPki> {
  const f = { caFile: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') };
  if (Object.values(f).every((p) => existsSync(p))) return { caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile };
  const ca = await issueCert({ cn: 'cocolet-local-ca', isCa: true, days: 3650 });
  const client = await issueCert({ cn: 'cocolet-admin', o: ['system:masters'], client: true, issuer: ca });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [path, text, mode] of [[f.caKey, ca.key, 0o600], [f.keyFile, client.key, 0o600], [f.caFile, ca.cert, 0o644], [f.certFile, client.cert, 0o644]] as const) {
    writeFileSync(path, text, { mode });
    chmodSync(path, mode);
  }
  return { caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile };
}
