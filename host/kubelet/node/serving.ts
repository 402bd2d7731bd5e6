/**
 * serverTLSBootstrap: the kubelet's HTTPS API gets its certificate from the API server
 * (signer `kubernetes.io/kubelet-serving`) for the Node's own names — its Hostname / InternalDNS /
 * ExternalDNS addresses as DNS names, its InternalIP / ExternalIP addresses as IPs, as upstream's
 * kubelet asks — and renews it at 70-90 % of its lifetime (bootstrap.ts, CertRotator).
 */
import { join } from 'node:path';
import type { Logger } from '../../../shared/log/logger.js';
import type { KubeletSettings } from '../config/flags.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { restClient } from '../client/rest.js';
import { CertRotator, SERVING_CERT, type CertNames } from './bootstrap.js';
import { nodeAddresses, type NodeAddress } from './info.js';

const DNS_TYPES = new Set(['Hostname', 'InternalDNS', 'ExternalDNS']);
const IP_TYPES = new Set(['InternalIP', 'ExternalIP']);

/** The names a serving certificate asks for, from the Node's addresses (each once). */
export function servingNames(addresses: readonly NodeAddress[]): CertNames {
  const pick = (types: Set<string>): string[] => [...new Set(addresses.filter((a) => types.has(a.type)).map((a) => a.address))];
  return { dns: pick(DNS_TYPES), ips: pick(IP_TYPES) };
}

export function servingCertRotator(o: { kubeconfig: string; settings: KubeletSettings; onRotated: (pem: { cert: string; key: string }) => void; log: Logger }): CertRotator {
  return new CertRotator({
    nodeName: o.settings.nodeName,
    pkiDir: join(o.settings.rootDir, 'pki'),
    api: restClient(loadKubeconfig(o.kubeconfig)),
    kind: SERVING_CERT,
    names: () => servingNames(nodeAddresses(o.settings.nodeIp ? { nodeIp: o.settings.nodeIp } : {})),
    onRotated: o.onRotated,
    logger: o.log,
  });
}
