/**
 * TLS bootstrapping (`--bootstrap-kubeconfig`), as upstream: when `--kubeconfig` does not hold a
 * usable client certificate, the kubelet makes an EC P-256 key, sends a CertificateSigningRequest
 * (`O=system:nodes, CN=system:node:<name>`, signer `kubernetes.io/kube-apiserver-client-kubelet`,
 * usages digital signature + client auth) with the bootstrap credentials, waits until the
 * controller-manager has approved (csrapproving, given the RBAC in host/cluster/admin.ts) and
 * signed it (csrsigning), writes certificate + key to `<root-dir>/pki/kubelet-client-<time>.pem`
 * (0600) with the link `kubelet-client-current.pem`, and writes `--kubeconfig` pointing at it.
 *
 * With `rotateCertificates: true`, a `CertRotator` of the client kind renews that certificate with
 * the node's own credentials (a CSR is auto-approved through `selfnodeclient`) at a random point
 * between 70 % and 90 % of its lifetime, as upstream's certificate manager does, writing a new file
 * and swapping the `kubelet-client-current.pem` link (clients read the file per connection); a
 * failure retries with back-off (1 s doubling to 5 min).
 *
 * With `serverTLSBootstrap: true`, a `CertRotator` of the serving kind gets the HTTPS API's
 * certificate the same way: signer `kubernetes.io/kubelet-serving`, usages digital signature +
 * server auth, the node's DNS name and IP addresses as subject alternative names, files
 * `kubelet-server-<time>.pem` / `kubelet-server-current.pem`. kube-controller-manager signs such
 * CSRs but approves none: an administrator or an approver (host/cluster/approver.ts) must. Until the
 * first one is issued the HTTPS API has no certificate and refuses TLS, as upstream's does.
 */
import { X509Certificate, generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, SubjectAlternativeName } from '@peculiar/asn1-x509';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { delay } from '../../../shared/lifecycle/disposables.js';
import { writeKubeconfig } from '../../cluster/kubeconfig.js';
import { realClock, type Clock, type TimerHandle } from '../clock.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { restClient, type RestClient } from '../client/rest.js';

export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
export const DEFAULT_BOOTSTRAP_TIMEOUT_MS = 5 * 60_000;
/** How long a serving CSR may wait for its approver before a new one is sent (upstream's certificate manager: 15 min). */
export const SERVING_CSR_TIMEOUT_MS = 15 * 60_000;

/** A kind of node certificate: its signer, usages and file names (`kubelet-<file>-current.pem`). */
export interface CertKind {
  file: 'client' | 'server';
  signer: string;
  usages: string[];
}
export const CLIENT_CERT: CertKind = { file: 'client', signer: KUBELET_CLIENT_SIGNER, usages: ['digital signature', 'client auth'] };
export const SERVING_CERT: CertKind = { file: 'server', signer: KUBELET_SERVING_SIGNER, usages: ['digital signature', 'server auth'] };
export const currentPemName = (kind: CertKind): string => `kubelet-${kind.file}-current.pem`;
export const CURRENT_CLIENT_PEM = currentPemName(CLIENT_CERT);

/** Writes `kubelet-<kind>-<time>.pem` (0600) and points `kubelet-<kind>-current.pem` at it atomically. */
export function installCert(pkiDir: string, kind: CertKind, certPem: string, keyPem: string, now = Date.now()): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1');
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const pemFile = join(pkiDir, `kubelet-${kind.file}-${stamp}.pem`);
  writeFileSync(pemFile, `${certPem.trimEnd()}\n${keyPem}`, { mode: 0o600 });
  chmodSync(pemFile, 0o600);
  const current = join(pkiDir, currentPemName(kind));
  const tmp = `${current}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(pemFile, tmp);
  renameSync(tmp, current);
  return current;
}

export interface BootstrapOptions {
  nodeName: string;
  rootDir: string;
  kubeconfig: string;
  bootstrapKubeconfig: string;
  timeoutMs?: number;
  logger?: Logger;
}

/** True when `kubeconfig` exists and its client certificate (if any) is valid now. */
export function kubeconfigUsable(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    const user = loadKubeconfig(path).user;
    if (user.token || user.tokenFile) return true;
    const certPem = user.certData ? Buffer.from(user.certData, 'base64') : user.certFile ? readFileSync(user.certFile) : undefined;
    if (!certPem) return false;
    const cert = new X509Certificate(certPem);
    return Date.parse(cert.validTo) > Date.now() && Date.parse(cert.validFrom) <= Date.now() + 60_000;
  } catch {
    return false;
  }
}

interface Csr {
  metadata: { name: string };
  status?: { certificate?: string; conditions?: { type: string; reason?: string; message?: string }[] };
}

/** Subject alternative names a serving certificate asks for. */
export interface CertNames {
  dns: string[];
  ips: string[];
}

/**
 * A PEM CSR (PKCS#10, ECDSA P-256 / SHA-256) for the node, and its PKCS#8 key; with `names`, an
 * extensionRequest attribute carrying them as subjectAltName (a serving certificate's).
 */
export function nodeCsr(nodeName: string, names?: CertNames): { csrPem: string; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rdn = (oid: string, value: string): asn1js.Set =>
    new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Utf8String({ value })] })] });
  const subject = new asn1js.Sequence({ value: [rdn(OID_O, 'system:nodes'), rdn(OID_CN, `system:node:${nodeName}`)] });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const spki = asn1js.fromBER(new Uint8Array(spkiDer).buffer).result;
  // attributes [0] IMPLICIT SET OF Attribute: none, or the extensionRequest with the names.
  const attributes = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: names ? [extensionRequest(names)] : [] });
  const info = new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 }), subject, spki, attributes] });
  const tbs = Buffer.from(info.toBER(false));
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const csr = new asn1js.Sequence({
    value: [info, new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: ECDSA_SHA256 })] }), new asn1js.BitString({ valueHex: new Uint8Array(signature).buffer })],
  });
  const b64 = Buffer.from(csr.toBER(false)).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return { csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

/** PKCS#9 extensionRequest { Extensions { subjectAltName } }; an IP or DNS name that is not one is refused. */
function extensionRequest(names: CertNames): asn1js.Sequence {
  const general = [
    ...names.dns.map((dNSName) => {
      if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(dNSName)) throw new CocoletError(ErrorCode.InvalidArgument, `serving certificate: ${JSON.stringify(dNSName)} is not a DNS name`);
      return new GeneralName({ dNSName });
    }),
    ...names.ips.map((iPAddress) => {
      if (!isIP(iPAddress)) throw new CocoletError(ErrorCode.InvalidArgument, `serving certificate: ${JSON.stringify(iPAddress)} is not an IP address`);
      return new GeneralName({ iPAddress });
    }),
  ];
  const san = AsnConvert.serialize(new SubjectAlternativeName(general));
  const ext = new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID_SUBJECT_ALT_NAME }), new asn1js.OctetString({ valueHex: san })] });
  return new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID_EXTENSION_REQUEST }), new asn1js.Set({ value: [new asn1js.Sequence({ value: [ext] })] })] });
}

/** Sends the CSR and waits for its certificate (PEM). Denied or failed → an error naming why. */
export async function requestNodeCertificate(api: RestClient, nodeName: string, csrPem: string, timeoutMs: number, kind: CertKind = CLIENT_CERT, signal?: AbortSignal): Promise<string> {
  const created = await api.create<Csr>('/apis/certificates.k8s.io/v1/certificatesigningrequests', {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: `${kind === SERVING_CERT ? 'csr' : 'node-csr'}-${nodeName}-` },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: kind.signer, usages: kind.usages },
  });
  const path = `/apis/certificates.k8s.io/v1/certificatesigningrequests/${created.metadata.name}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const csr = await api.get<Csr>(path);
    const bad = csr.status?.conditions?.find((c) => c.type === 'Denied' || c.type === 'Failed');
    if (bad) throw new CocoletError(ErrorCode.PermissionDenied, `certificate signing request ${created.metadata.name} ${bad.type.toLowerCase()}: ${bad.reason ?? ''} ${bad.message ?? ''}`.trim(), { context: { csr: created.metadata.name } });
    if (csr.status?.certificate) return Buffer.from(csr.status.certificate, 'base64').toString('utf8');
    if (Date.now() > deadline) {
      const approved = csr.status?.conditions?.some((c) => c.type === 'Approved');
      const hint = kind === SERVING_CERT ? 'kubelet-serving CSRs need an approver: an administrator (kubectl certificate approve) or a controller' : 'is the controller-manager running with csrapproving/csrsigning and the bootstrap RBAC?';
      throw new CocoletError(ErrorCode.DeadlineExceeded, `certificate signing request ${created.metadata.name} not ${approved ? 'signed' : 'approved'} after ${timeoutMs} ms (${hint})`, { context: { csr: created.metadata.name } });
    }
    await delay(500, signal);
  }
}

/**
 * Makes `o.kubeconfig` usable: nothing to do when it is; else bootstraps with
 * `o.bootstrapKubeconfig`. Returns true when it bootstrapped.
 */
export async function ensureKubeconfig(o: BootstrapOptions): Promise<boolean> {
  const log = (o.logger ?? silentLogger()).child({ component: 'tls-bootstrap', node: o.nodeName });
  if (kubeconfigUsable(o.kubeconfig)) return false;
  if (!existsSync(o.bootstrapKubeconfig)) throw new CocoletError(ErrorCode.FailedPrecondition, `--kubeconfig ${o.kubeconfig} has no usable credentials and --bootstrap-kubeconfig ${o.bootstrapKubeconfig} does not exist`);
  const boot = loadKubeconfig(o.bootstrapKubeconfig);
  const cluster = boot.cluster;
  const pki = join(o.rootDir, 'pki');
  mkdirSync(pki, { recursive: true, mode: 0o700 });
  let caFile = cluster.caFile;
  if (!caFile && cluster.caData) {
    caFile = join(pki, 'cluster-ca.crt');
    writeFileSync(caFile, Buffer.from(cluster.caData, 'base64'));
  }
  if (!caFile) throw new CocoletError(ErrorCode.ConfigInvalid, `--bootstrap-kubeconfig ${o.bootstrapKubeconfig} names no certificate authority`);
  log.info({ server: cluster.server }, 'requesting a client certificate (TLS bootstrap)');
  const { csrPem, keyPem } = nodeCsr(o.nodeName);
  const certPem = await requestNodeCertificate(restClient(boot), o.nodeName, csrPem, o.timeoutMs ?? DEFAULT_BOOTSTRAP_TIMEOUT_MS);
  const current = installCert(pki, CLIENT_CERT, certPem, keyPem);
  writeKubeconfig(o.kubeconfig, { server: cluster.server, caFile, user: 'default-auth', credentials: { clientCertificate: current, clientKey: current } });
  log.info({ certificate: current, kubeconfig: o.kubeconfig }, 'client certificate issued; kubeconfig written');
  return true;
}

export const ROTATE_MIN_FRACTION = 0.7;
export const ROTATE_MAX_FRACTION = 0.9;
export const ROTATE_BACKOFF_MIN_MS = 1_000;
export const ROTATE_BACKOFF_MAX_MS = 5 * 60_000;

export interface RotatorOptions {
  nodeName: string;
  /** `<root-dir>/pki` holding `kubelet-<kind>-current.pem`. */
  pkiDir: string;
  /** The API with the node's current credentials. */
  api: RestClient;
  /** Client (default) or serving certificate. */
  kind?: CertKind;
  /** The serving certificate's names, read at each request (the node's addresses may change). */
  names?: () => CertNames;
  /** Called with the new certificate and key after each rotation (the HTTPS server swaps them in). */
  onRotated?: (pem: { cert: string; key: string }) => void;
  clock?: Clock;
  /** 0..1, picks the point between 70 % and 90 % (default Math.random). */
  random?: () => number;
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Keeps a node certificate (`rotateCertificates`, `serverTLSBootstrap`): renews it at 70-90 % of its
 * lifetime; `start()` with no usable current certificate requests one at once.
 */
export class CertRotator {
  private timer: TimerHandle | undefined;
  private running = false;
  private backoffMs = ROTATE_BACKOFF_MIN_MS;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly kind: CertKind;
  /** Aborts a request still waiting for its certificate when stopped. */
  private readonly abort = new AbortController();
  /** Rotations done (tests, metrics). */
  rotations = 0;

  constructor(private readonly o: RotatorOptions) {
    this.clock = o.clock ?? realClock;
    this.kind = o.kind ?? CLIENT_CERT;
    this.log = (o.logger ?? silentLogger()).child({ component: `${this.kind.file === 'client' ? 'client' : 'serving'}-cert-rotation`, node: o.nodeName });
  }

  /** The current certificate file (`kubelet-<kind>-current.pem`: certificate and key). */
  get currentFile(): string {
    return join(this.o.pkiDir, currentPemName(this.kind));
  }

  /** The current certificate and key, if there is one that is valid now. */
  current(): { cert: string; key: string } | undefined {
    try {
      const pem = readFileSync(this.currentFile, 'utf8');
      const cert = new X509Certificate(pem);
      if (Date.parse(cert.validTo) <= this.clock.now()) return undefined;
      const key = /-----BEGIN (?:EC |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |)PRIVATE KEY-----\n?/.exec(pem)?.[0];
      return key ? { cert: pem.replace(key, ''), key } : undefined;
    } catch {
      return undefined;
    }
  }

  /** When the current certificate should be renewed (ms since the epoch). */
  deadline(): number {
    const cert = new X509Certificate(readFileSync(this.currentFile));
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    const f = ROTATE_MIN_FRACTION + (ROTATE_MAX_FRACTION - ROTATE_MIN_FRACTION) * (this.o.random ?? Math.random)();
    return from + (to - from) * f;
  }

  start(): void {
    this.running = true;
    if (this.current()) this.scheduleNext();
    else void this.rotateNow();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.abort.abort(new Error(`${this.kind.file} certificate rotation stopped`));
  }

  /** `minMs`: after a rotation, a certificate already due (a very short signing duration) waits a little. */
  private scheduleNext(minMs = 0): void {
    if (!this.running) return;
    const wait = Math.max(minMs, this.deadline() - this.clock.now());
    this.log.info({ inSeconds: Math.round(wait / 1000) }, `${this.kind.file} certificate rotation scheduled`);
    this.timer = this.clock.setTimer(() => void this.rotateNow(), wait);
  }

  async rotateNow(): Promise<void> {
    try {
      const { csrPem, keyPem } = nodeCsr(this.o.nodeName, this.o.names?.());
      const timeout = this.o.timeoutMs ?? (this.kind === SERVING_CERT ? SERVING_CSR_TIMEOUT_MS : DEFAULT_BOOTSTRAP_TIMEOUT_MS);
      const certPem = await requestNodeCertificate(this.o.api, this.o.nodeName, csrPem, timeout, this.kind, this.abort.signal);
      installCert(this.o.pkiDir, this.kind, certPem, keyPem, this.clock.now());
      this.rotations++;
      this.backoffMs = ROTATE_BACKOFF_MIN_MS;
      this.log.info({ certificate: this.currentFile }, `${this.kind.file} certificate issued`);
      this.o.onRotated?.({ cert: certPem, key: keyPem });
      this.scheduleNext(ROTATE_BACKOFF_MIN_MS);
    } catch (e) {
      if (this.abort.signal.aborted) return;
      this.log.warn({ err: e, retryMs: this.backoffMs }, `${this.kind.file} certificate request failed`);
      if (this.running) this.timer = this.clock.setTimer(() => void this.rotateNow(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, ROTATE_BACKOFF_MAX_MS);
    }
  }
}
