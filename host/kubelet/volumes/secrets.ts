/**
 * Kubernetes Secrets and confidential pods. A plain Secret handed to a confidential pod (secret
 * volume, `env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`) passes through the host in clear
 * (kubelet files, CRI request, containerd, shim): that defeats the TEE, so the kubelet refuses it
 * (reason `HostSecretRefused`) unless the pod opts in with the annotation
 * `io.cocolet.allow-host-secrets: "true"`. Values that are CoCo sealed secrets (`sealed.…`) are
 * always fine: the host carries only the sealed form and the guest's data hub fetches the value
 * from the key broker after attestation.
 *
 * The values come from the kubelet's local store (`<root>/secrets/<name>/<key>`,
 * `<root>/configmaps/<name>/<key>`), as secret volumes do; there is no API server client here.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { Annotations, podKey, type Container, type Pod } from '../api/types.js';

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
function storeKeys(dir: string): string[] {
  return readdirSync(dir)
    .filter((k) => !k.startsWith('.') && statSync(join(dir, k)).isFile())
    .sort();
}

/** True when every file of a local-store Secret (or the chosen keys) is a sealed secret. */
export function allSealed(dir: string, keys?: readonly string[]): boolean {
  const ks = keys ?? storeKeys(dir);
  return ks.length > 0 && ks.every((k) => existsSync(join(dir, k)) && isSealedValue(readFileSync(join(dir, k))));
}

export interface ResolvedEnv {
  key: string;
  value: string;
}

export interface EnvResolveOptions {
  rootDir: string;
  confidential: boolean;
}

/**
 * The container's environment with `valueFrom` and `envFrom` resolved from the local store, in
 * the API's order (envFrom first, then env; later entries win when the runtime merges). Throws a
 * CocoletError naming the variable or source (never a value): `HostSecretRefused` for a plain
 * Secret in a confidential pod that did not opt in, `CreateContainerConfigError` for a missing
 * object or key or an unsupported source.
 */
export function resolveEnv(pod: Pod, c: Container, o: EnvResolveOptions): ResolvedEnv[] {
  const ctx = { pod: podKey(pod), container: c.name };
  const guard = !o.confidential || hostSecretsAllowed(pod) ? undefined : pod;
  const configError = (msg: string, extra: Record<string, string> = {}): CocoletError =>
    new CocoletError(ErrorCode.FailedPrecondition, msg, { context: { ...ctx, ...extra, reason: REASON_CONFIG_ERROR } });
  const out: ResolvedEnv[] = [];
  for (const [i, ef] of (c.envFrom ?? []).entries()) {
    const ref = ef.secretRef ?? ef.configMapRef;
    const isSecret = Boolean(ef.secretRef);
    if (!ref || (ef.secretRef && ef.configMapRef)) throw configError(`container ${c.name}: envFrom[${i}] must have exactly one of secretRef, configMapRef`);
    const kind = isSecret ? 'secret' : 'configmap';
    const dir = join(o.rootDir, isSecret ? 'secrets' : 'configmaps', ref.name);
    if (!existsSync(dir)) {
      if (ref.optional) continue;
      throw configError(`${kind} "${ref.name}" not found (envFrom of container ${c.name})`);
    }
    const keys = storeKeys(dir);
    if (isSecret && guard && !allSealed(dir, keys)) throw hostSecretRefused(pod, `envFrom secret "${ref.name}" of container ${c.name}`, { container: c.name });
    for (const k of keys) out.push({ key: `${ef.prefix ?? ''}${k}`, value: readFileSync(join(dir, k), 'utf8') });
  }
  for (const e of c.env ?? []) {
    if (!e.valueFrom) {
      out.push({ key: e.name, value: e.value ?? '' });
      continue;
    }
    const { secretKeyRef, configMapKeyRef, ...rest } = e.valueFrom;
    const other = Object.keys(rest);
    if (other.length > 0 || (secretKeyRef && configMapKeyRef) || (!secretKeyRef && !configMapKeyRef)) {
      throw configError(`container ${c.name}: env ${e.name}: valueFrom ${other.length > 0 ? `.${other[0]} is not supported` : 'must have exactly one of secretKeyRef, configMapKeyRef'}`, { env: e.name });
    }
    const sel = (secretKeyRef ?? configMapKeyRef)!;
    const kind = secretKeyRef ? 'secret' : 'configmap';
    const file = join(o.rootDir, secretKeyRef ? 'secrets' : 'configmaps', sel.name, sel.key);
    if (!existsSync(file) || !statSync(file).isFile()) {
      if (sel.optional) continue;
      throw configError(`couldn't find key ${sel.key} in ${kind} "${sel.name}" (env ${e.name} of container ${c.name})`, { env: e.name });
    }
    const value = readFileSync(file, 'utf8');
    if (secretKeyRef && guard && !isSealedValue(value)) throw hostSecretRefused(pod, `env ${e.name} of container ${c.name} (secretKeyRef ${sel.name}/${sel.key})`, { container: c.name, env: e.name });
    out.push({ key: e.name, value: isSealedValue(value) ? value.trim() : value });
  }
  return out;
}
