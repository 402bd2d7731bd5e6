/**
 * Kubernetes Secrets and confidential pods. A plain Secret handed to a confidential pod (secret
 * volume, `env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`) passes through the host in clear
 * (kubelet files, CRI request, containerd, shim): that defeats the TEE, so the kubelet refuses it
 * (reason `HostSecretRefused`) unless the pod opts in with the annotation
 * `io.cocolet.allow-host-secrets: "true"`. Values that are CoCo sealed secrets (`sealed.…`) are
 * always fine: the host carries only the sealed form and the guest's data hub fetches the value
 * from the key broker after attestation.
 *
 * The rule is applied to values from the kubelet's local store (`<root>/secrets/<name>/<key>`,
 * `<root>/configmaps/<name>/<key>`) and from the API server alike (env.ts, apivolumes.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { Annotations, podKey, type Pod } from '../api/types.js';

export const REASON_HOST_SECRET_REFUSED = 'HostSecretRefused';
/** The container waiting reason for env that cannot be built (as the kubelet's). */
export const REASON_CONFIG_ERROR = 'CreateContainerConfigError';
export const SEALED_PREFIX = 'sealed.';

/** A CoCo sealed secret (`sealed.<jws>`): only ciphertext / a broker reference, safe on the host. */
export function isSealedValue(v: string | Uint8Array): boolean {
  const s = typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
  return s.trim().startsWith(SEALED_PREFIX);
}

/** The pod opted in to plain host-visible Secrets. */
export function hostSecretsAllowed(pod: Pod): boolean {
  return pod.metadata.annotations?.[Annotations.allowHostSecrets] === 'true';
}

export function hostSecretRefused(pod: Pod, what: string, extra: Record<string, string> = {}): CocoletError {
  return new CocoletError(
    ErrorCode.PermissionDenied,
    `${what} refused for a confidential pod: a plain Secret would be visible to the host (use sealed secrets, or annotate ${Annotations.allowHostSecrets}: "true" to allow)`,
    { context: { pod: podKey(pod), ...extra, reason: REASON_HOST_SECRET_REFUSED } },
  );
}

/** Keys of a local-store object (files directly in its directory), sorted. */
export function storeKeys(dir: string): string[] {
  return readdirSync(dir)
    .filter((k) => !k.startsWith('.') && statSync(join(dir, k)).isFile())
    .sort();
}

/** True when every file of a local-store Secret (or the chosen keys) is a sealed secret. */
export function allSealed(dir: string, keys?: readonly string[]): boolean {
  const ks = keys ?? storeKeys(dir);
  return ks.length > 0 && ks.every((k) => existsSync(join(dir, k)) && isSealedValue(readFileSync(join(dir, k))));
}
