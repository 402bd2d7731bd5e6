/**
 * Writes kubeconfig files (mode 0600): one cluster, one user, one context. Credentials are file
 * paths (client certificate + key) or a bearer token (bootstrap kubeconfigs); the token is
 * written only into the file, never logged.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

export type KubeconfigUser = { clientCertificate: string; clientKey: string } | { token: string };

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  /** The user's name in the file (e.g. `system:node:n1`). */
  user: string;
  credentials: KubeconfigUser;
  cluster?: string;
}

export function kubeconfigText(s: KubeconfigSpec): string {
  const cluster = s.cluster ?? 'cocolet';
  const user = 'token' in s.credentials ? { token: s.credentials.token } : { 'client-certificate': s.credentials.clientCertificate, 'client-key': s.credentials.clientKey };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: s.server, 'certificate-authority': s.caFile } }],
    users: [{ name: s.user, user }],
    contexts: [{ name: `${s.user}@${cluster}`, context: { cluster, user: s.user } }],
    'current-context': `${s.user}@${cluster}`,
  });
}

export function writeKubeconfig(path: string, s: KubeconfigSpec): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, kubeconfigText(s), { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
