/**
 * A container's environment as the kubelet builds it (kl/kubelet_pods.go makeEnvironmentVariables,
 * our own code), in the API's order: `envFrom` first (configMapRef / secretRef, with `prefix`), then
 * `env` (later entries win when the runtime merges). `valueFrom` sources:
 *
 *   - `configMapKeyRef` / `secretKeyRef` (and `optional`): a missing object or key is an error
 *     naming it unless optional (then the variable is left out); `envFrom` of a missing optional
 *     object adds nothing. ConfigMaps give their `data` (not `binaryData`), Secrets their decoded
 *     `data`.
 *   - `fieldRef`: metadata.name / namespace / uid, `metadata.labels['k']`,
 *     `metadata.annotations['k']`, spec.nodeName, spec.serviceAccountName, status.hostIP(s),
 *     status.podIP(s) (IPs joined with ',' for the plural forms).
 *   - `resourceFieldRef`: limits / requests of cpu, memory, ephemeral-storage with a divisor (the
 *     container's own unless `containerName`; limits default to node capacity), as downwardAPI.
 *
 * Objects come from `EnvObjects`: for API pods the API server (through the ConfigMap / Secret
 * watches, volumes.ts), else the kubelet's local store (`localEnvObjects`).
 *
 * Confidential pods: a plain Secret value (secretKeyRef, or envFrom secretRef unless every value is
 * sealed) is refused with `HostSecretRefused` unless the pod opts in (secrets.ts); sealed values
 * pass, trimmed. Errors are CocoletErrors with reason `CreateContainerConfigError` naming the
 * variable and source, never a value.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { podKey, type Container, type Pod } from '../api/types.js';
import { fieldRefValue, resourceFieldValue } from './apivolumes.js';
import { REASON_CONFIG_ERROR, hostSecretRefused, hostSecretsAllowed, isSealedValue, storeKeys } from './secrets.js';

export interface ResolvedEnv {
  key: string;
  value: string;
}

export type EnvObjectKind = 'configmap' | 'secret';

/** String values of the ConfigMaps and Secrets a container's env refers to; undefined = no such object. */
export interface EnvObjects {
  get(kind: EnvObjectKind, name: string): Map<string, string> | undefined;
}

/** Pod fields that are not in the pod object the kubelet holds. */
export interface EnvFields {
  nodeName?: string;
  hostIPs?: string[];
  podIPs?: string[];
}

export interface EnvResolveOptions {
  objects: EnvObjects;
  confidential: boolean;
  fields?: EnvFields;
}

/** The kubelet's local store: `<rootDir>/configmaps/<name>/<key>`, `<rootDir>/secrets/<name>/<key>`. */
export function localEnvObjects(rootDir: string): EnvObjects {
  return {
    get(kind, name) {
      const dir = join(rootDir, kind === 'secret' ? 'secrets' : 'configmaps', name);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
      return new Map(storeKeys(dir).map((k) => [k, readFileSync(join(dir, k), 'utf8')]));
    },
  };
}

/** The names of the ConfigMaps and Secrets a container's env and envFrom refer to. */
export function envObjectRefs(c: Container): { kind: EnvObjectKind; name: string }[] {
  const out = new Map<string, { kind: EnvObjectKind; name: string }>();
  const add = (kind: EnvObjectKind, name: string | undefined): void => {
    if (name) out.set(`${kind}/${name}`, { kind, name });
  };
  for (const ef of c.envFrom ?? []) {
    add('configmap', ef.configMapRef?.name);
    add('secret', ef.secretRef?.name);
  }
  for (const e of c.env ?? []) {
    add('configmap', e.valueFrom?.configMapKeyRef?.name);
    add('secret', e.valueFrom?.secretKeyRef?.name);
  }
  return [...out.values()];
}

/** The value of an env `fieldRef`: the pod's metadata as for downwardAPI volumes, plus spec and status fields. */
export function envFieldValue(pod: Pod, fieldPath: string, f: EnvFields = {}): string {
  const spec = pod.spec as Pod['spec'] & { serviceAccountName?: string; serviceAccount?: string };
  switch (fieldPath) {
    case 'spec.nodeName':
      return spec.nodeName ?? f.nodeName ?? '';
    case 'spec.serviceAccountName':
      return spec.serviceAccountName ?? spec.serviceAccount ?? '';
    case 'status.hostIP':
      return f.hostIPs?.[0] ?? '';
    case 'status.hostIPs':
      return (f.hostIPs ?? []).join(',');
    case 'status.podIP':
      return f.podIPs?.[0] ?? '';
    case 'status.podIPs':
      return (f.podIPs ?? []).join(',');
    default:
      try {
        return fieldRefValue(pod, fieldPath);
      } catch {
        throw new Error(`fieldRef ${fieldPath} is not supported`);
      }
  }
}

/** True when the container's env needs the pod's IPs (known once its sandbox exists). */
export function envNeedsPodIPs(c: Container): boolean {
  return (c.env ?? []).some((e) => e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.podIPs');
}

/**
 * The container's environment. Throws a CocoletError naming the variable or source (never a
 * value): `HostSecretRefused` for a plain Secret in a confidential pod that did not opt in,
 * `CreateContainerConfigError` for a missing object or key or an unsupported source.
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
    const kind: EnvObjectKind = isSecret ? 'secret' : 'configmap';
    const values = o.objects.get(kind, ref.name);
    if (!values) {
      if (ref.optional) continue;
      throw configError(`${kind} "${ref.name}" not found (envFrom of container ${c.name})`);
    }
    if (isSecret && guard && !(values.size > 0 && [...values.values()].every((v) => isSealedValue(v)))) {
      throw hostSecretRefused(pod, `envFrom secret "${ref.name}" of container ${c.name}`, { container: c.name });
    }
    for (const [k, v] of values) out.push({ key: `${ef.prefix ?? ''}${k}`, value: v });
  }
  for (const e of c.env ?? []) {
    if (!e.valueFrom) {
      out.push({ key: e.name, value: e.value ?? '' });
      continue;
    }
    const { secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef, ...rest } = e.valueFrom;
    const given = [secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef].filter(Boolean).length;
    const other = Object.keys(rest);
    if (other.length > 0 || given !== 1) {
      throw configError(
        `container ${c.name}: env ${e.name}: valueFrom ${other.length > 0 ? `.${other[0]} is not supported` : 'must have exactly one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef'}`,
        { env: e.name },
      );
    }
    if (fieldRef || resourceFieldRef) {
      try {
        const value = fieldRef ? envFieldValue(pod, fieldRef.fieldPath, o.fields) : resourceFieldValue(pod, resourceFieldRef!, c.name);
        out.push({ key: e.name, value });
      } catch (err) {
        throw configError(`container ${c.name}: env ${e.name}: ${(err as Error).message}`, { env: e.name });
      }
      continue;
    }
    const sel = (secretKeyRef ?? configMapKeyRef)!;
    const kind: EnvObjectKind = secretKeyRef ? 'secret' : 'configmap';
    const value = o.objects.get(kind, sel.name)?.get(sel.key);
    if (value === undefined) {
      if (sel.optional) continue;
      throw configError(`couldn't find key ${sel.key} in ${kind} "${sel.name}" (env ${e.name} of container ${c.name})`, { env: e.name });
    }
    if (secretKeyRef && guard && !isSealedValue(value)) throw hostSecretRefused(pod, `env ${e.name} of container ${c.name} (secretKeyRef ${sel.name}/${sel.key})`, { container: c.name, env: e.name });
    out.push({ key: e.name, value: isSealedValue(value) ? value.trim() : value });
  }
  return out;
}
