/**
 * The certificates and keys of a local control plane, generated once into `<dir>/pki` (keys 0600)
 * and reused on later starts (a restarted cluster keeps its identities, so node kubeconfigs stay
 * valid). One CA signs everything: the API server's serving certificate, every client
 * certificate (admin, controller-manager, scheduler, the API server's identity toward kubelets,
 * the front proxy) and, through the controller-manager's csrsigner, the certificates nodes obtain
 * by TLS bootstrapping. The service-account token key is a separate EC P-256 key pair.
 *
 * API: `ensureClusterPki(dir)` → `ClusterPki`; `ensureClientCert(pki, name, cn, groups)` for
 * extra clients (node credentials).
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueCert, type Pem } from '../kubelet/server/certs.js';

/** The in-cluster address of the `kubernetes` Service (first address of the service range). */
export const DEFAULT_SERVICE_CIDR = '10.0.0.0/24';
export const DEFAULT_SERVICE_IP = '10.0.0.1';

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface ClusterPki {
  dir: string;
  caFile: string;
  caKeyFile: string;
  apiserver: CertFiles;
  admin: CertFiles;
  controllerManager: CertFiles;
  scheduler: CertFiles;
  /** The API server's client identity toward kubelets (`--kubelet-client-certificate`). */
  kubeletClient: CertFiles;
  frontProxyClient: CertFiles;
  /** Serving certificate for 127.0.0.1 (the controller-manager's and scheduler's secure ports). */
  loopbackServing: CertFiles;
  /** Service-account token signing key (private, PKCS#8) and its public key. */
  saKeyFile: string;
  saPubFile: string;
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function readPem(f: CertFiles): Pem {
  return { cert: readFileSync(f.certFile, 'utf8'), key: readFileSync(f.keyFile, 'utf8') };
}

const filesOf = (dir: string, name: string): CertFiles => ({ certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) });

interface Want {
  name: string;
  cn: string;
  o?: string[];
  client: boolean;
  dns?: string[];
  ips?: string[];
}

async function ensure(dir: string, ca: Pem, w: Want): Promise<CertFiles> {
  const f = filesOf(dir, w.name);
  if (existsSync(f.certFile) && existsSync(f.keyFile)) return f;
  const pem = await issueCert({ cn: w.cn, o: w.o, client: w.client, dns: w.dns, ips: w.ips, issuer: ca, days: 3650 });
  writeSecret(f.keyFile, pem.key);
  writeFileSync(f.certFile, pem.cert, { mode: 0o644 });
  return f;
}

/** Makes whatever is missing in `<dir>` (created 0700) and returns the paths. */
export async function ensureClusterPki(dir: string, serviceIp = DEFAULT_SERVICE_IP): Promise<ClusterPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFiles = filesOf(dir, 'ca');
  if (!existsSync(caFiles.certFile) || !existsSync(caFiles.keyFile)) {
    const ca = await issueCert({ cn: 'cocolet-cluster-ca', isCa: true, days: 3650 });
    writeSecret(caFiles.keyFile, ca.key);
    writeFileSync(caFiles.certFile, ca.cert, { mode: 0o644 });
  }
  const ca = readPem(caFiles);
  const client = (name: string, cn: string, o?: string[]): Promise<CertFiles> => ensure(dir, ca, { name, cn, o, client: true });
  const apiserver = await ensure(dir, ca, {
    name: 'apiserver',
    cn: 'kube-apiserver',
    client: false,
    dns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ips: ['127.0.0.1', serviceIp],
  });
  const saKeyFile = join(dir, 'sa.key');
  const saPubFile = join(dir, 'sa.pub');
  if (!existsSync(saKeyFile) || !existsSync(saPubFile)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeSecret(saKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeFileSync(saPubFile, createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string, { mode: 0o644 });
  }
  return {
    dir,
    caFile: caFiles.certFile,
    caKeyFile: caFiles.keyFile,
    apiserver,
    admin: await client('admin', 'kubernetes-admin', ['system:masters']),
    controllerManager: await client('controller-manager', 'system:kube-controller-manager'),
    scheduler: await client('scheduler', 'system:kube-scheduler'),
    kubeletClient: await client('apiserver-kubelet-client', 'kube-apiserver-kubelet-client', ['system:masters']),
    frontProxyClient: await client('front-proxy-client', 'front-proxy-client'),
    loopbackServing: await ensure(dir, ca, { name: 'loopback-serving', cn: 'cocolet-loopback', client: false, dns: ['localhost'], ips: ['127.0.0.1'] }),
    saKeyFile,
    saPubFile,
  };
}

/** A client certificate `<name>.crt|key` signed by the cluster CA (made once). */
export function ensureClientCert(pki: ClusterPki, name: string, cn: string, groups: string[] = []): Promise<CertFiles> {
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) throw new Error(`client certificate name ${JSON.stringify(name)} is not a lowercase DNS-style name`);
  return ensure(pki.dir, readPem({ certFile: pki.caFile, keyFile: pki.caKeyFile }), { name, cn, o: groups, client: true });
}
