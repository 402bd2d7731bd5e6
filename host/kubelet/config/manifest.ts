/**
 * Static pod manifests: decode (YAML or JSON, one Pod per document), validate, and default the
 * way the kubelet does for file/http pods (kl/config/common.go): UID = md5 of the manifest plus
 * `host:<node>` and `file:<path>` (or `url:<url>`) when missing; name suffixed with `-<node>`;
 * namespace `default`; `spec.nodeName` set; `kubernetes.io/config.{source,hash,seen}` annotations;
 * API defaults (restartPolicy Always, terminationGracePeriodSeconds 30, probe timings,
 * imagePullPolicy).
 *
 * API: `decodeStaticPod(text, { source, origin, nodeName })` → Pod, or throws CocoletError
 * (ManifestInvalid) with context `field` and `manifest`.
 */
import { createHash } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { Annotations, type Container, type Pod, type Probe } from '../api/types.js';

export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
export const PROBE_DEFAULTS = { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 } as const;

export interface DecodeOptions {
  /** `file` or `http`. */
  source: 'file' | 'http' | 'api';
  /** Path or URL the manifest came from. */
  origin: string;
  nodeName: string;
  /** Time stamped in config.seen (ISO). */
  now?: string;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalid(origin: string, field: string, message: string): never {
  throw new CocoletError(ErrorCode.ManifestInvalid, `${field}: ${message}`, { context: { field, manifest: origin } });
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function validateProbe(origin: string, path: string, p: unknown, kind: 'liveness' | 'readiness' | 'startup'): void {
  if (p === undefined) return;
  if (!isObj(p)) invalid(origin, path, 'must be an object');
  const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => p[h] !== undefined);
  if (handlers.length !== 1) invalid(origin, path, 'must specify exactly one of exec, httpGet, tcpSocket, grpc');
  for (const f of ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds']) {
    const v = p[f];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) invalid(origin, `${path}.${f}`, 'must be a non-negative integer');
  }
  if (kind !== 'readiness' && p.successThreshold !== undefined && p.successThreshold !== 1) invalid(origin, `${path}.successThreshold`, 'must be 1');
  if (isObj(p.exec) && (!Array.isArray(p.exec.command) || p.exec.command.length === 0)) invalid(origin, `${path}.exec.command`, 'required');
}

function validateContainer(origin: string, path: string, c: unknown, names: Set<string>): void {
  if (!isObj(c)) invalid(origin, path, 'must be an object');
  if (typeof c.name !== 'string' || !DNS1123_LABEL.test(c.name)) invalid(origin, `${path}.name`, 'must be a DNS-1123 label');
  if (names.has(c.name)) invalid(origin, `${path}.name`, `duplicate container name ${c.name}`);
  names.add(c.name);
  if (typeof c.image !== 'string' || c.image === '') invalid(origin, `${path}.image`, 'required');
  for (const f of ['command', 'args']) {
    const v = c[f];
    if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))) invalid(origin, `${path}.${f}`, 'must be a list of strings');
  }
  validateProbe(origin, `${path}.livenessProbe`, c.livenessProbe, 'liveness');
  validateProbe(origin, `${path}.readinessProbe`, c.readinessProbe, 'readiness');
  validateProbe(origin, `${path}.startupProbe`, c.startupProbe, 'startup');
  if (c.imagePullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy as string)) {
    invalid(origin, `${path}.imagePullPolicy`, 'must be Always, IfNotPresent or Never');
  }
}

/** Structural validation of a decoded Pod object. */
export function validatePod(obj: unknown, origin: string): asserts obj is Pod {
  if (!isObj(obj)) invalid(origin, '(root)', 'must be an object');
  if (obj.kind !== undefined && obj.kind !== 'Pod') invalid(origin, 'kind', 'must be Pod');
  if (obj.apiVersion !== undefined && obj.apiVersion !== 'v1') invalid(origin, 'apiVersion', 'must be v1');
  if (!isObj(obj.metadata)) invalid(origin, 'metadata', 'required');
  const md = obj.metadata;
  if (typeof md.name !== 'string' || !DNS1123_SUBDOMAIN.test(md.name)) invalid(origin, 'metadata.name', 'must be a DNS-1123 subdomain');
  if (md.namespace !== undefined && (typeof md.namespace !== 'string' || !DNS1123_LABEL.test(md.namespace))) {
    invalid(origin, 'metadata.namespace', 'must be a DNS-1123 label');
  }
  if (!isObj(obj.spec)) invalid(origin, 'spec', 'required');
  const spec = obj.spec;
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) invalid(origin, 'spec.containers', 'at least one container is required');
  const names = new Set<string>();
  (spec.initContainers as unknown[] | undefined)?.forEach((c, i) => validateContainer(origin, `spec.initContainers[${i}]`, c, names));
  spec.containers.forEach((c, i) => validateContainer(origin, `spec.containers[${i}]`, c, names));
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy as string)) {
    invalid(origin, 'spec.restartPolicy', 'must be Always, OnFailure or Never');
  }
  const g = spec.terminationGracePeriodSeconds;
  if (g !== undefined && (typeof g !== 'number' || !Number.isInteger(g) || g < 0)) invalid(origin, 'spec.terminationGracePeriodSeconds', 'must be a non-negative integer');
  const vols = new Set<string>();
  ((spec.volumes as unknown[] | undefined) ?? []).forEach((v, i) => {
    if (!isObj(v) || typeof v.name !== 'string') invalid(origin, `spec.volumes[${i}].name`, 'required');
    if (vols.has(v.name)) invalid(origin, `spec.volumes[${i}].name`, 'duplicate volume name');
    vols.add(v.name);
    const kinds = ['emptyDir', 'hostPath', 'secret', 'configMap', 'downwardAPI', 'projected'].filter((k) => v[k] !== undefined);
    // The API server validated its pods; a volume type cocolet cannot mount is reported when the pod syncs (FailedMount).
    if (kinds.length !== 1 && origin !== 'api') invalid(origin, `spec.volumes[${i}]`, 'must specify exactly one of emptyDir, hostPath, secret, configMap, downwardAPI, projected');
  });
  for (const [list, key] of [[spec.initContainers, 'initContainers'], [spec.containers, 'containers']] as const) {
    ((list as Container[] | undefined) ?? []).forEach((c, i) =>
      (c.volumeMounts ?? []).forEach((m, j) => {
        if (!vols.has(m.name)) invalid(origin, `spec.${key}[${i}].volumeMounts[${j}].name`, `volume ${m.name} not found`);
      }),
    );
  }
}

function defaultProbe(p: Probe | undefined): Probe | undefined {
  return p ? { ...PROBE_DEFAULTS, ...p } : undefined;
}

function defaultContainer(c: Container): Container {
  const tag = c.image.includes('@') ? 'digest' : (c.image.split('/').pop()!.split(':')[1] ?? 'latest');
  const out: Container = { ...c, imagePullPolicy: c.imagePullPolicy ?? (tag === 'latest' ? 'Always' : 'IfNotPresent') };
  const l = defaultProbe(c.livenessProbe);
  const r = defaultProbe(c.readinessProbe);
  const s = defaultProbe(c.startupProbe);
  if (l) out.livenessProbe = l;
  if (r) out.readinessProbe = r;
  if (s) out.startupProbe = s;
  return out;
}

/** Applies the kubelet's static-pod defaulting to a validated pod. */
export function defaultStaticPod(pod: Pod, raw: string, opts: DecodeOptions): Pod {
  const p = structuredClone(pod);
  const md = p.metadata;
  if (!md.uid) {
    const h = createHash('md5');
    h.update(raw);
    h.update(`host:${opts.nodeName}`);
    h.update(opts.source === 'http' ? `url:${opts.origin}` : `file:${opts.origin}`);
    md.uid = h.digest('hex');
  }
  if (opts.source !== 'api') md.name = `${md.name}-${opts.nodeName}`;
  md.namespace ??= 'default';
  md.annotations = {
    ...md.annotations,
    [Annotations.configSource]: opts.source,
    [Annotations.configHash]: md.uid,
    [Annotations.configSeen]: opts.now ?? new Date().toISOString(),
  };
  p.apiVersion = 'v1';
  p.kind = 'Pod';
  p.spec.nodeName = opts.nodeName;
  p.spec.restartPolicy ??= 'Always';
  p.spec.terminationGracePeriodSeconds ??= DEFAULT_TERMINATION_GRACE_SECONDS;
  p.spec.containers = p.spec.containers.map(defaultContainer);
  if (p.spec.initContainers) p.spec.initContainers = p.spec.initContainers.map(defaultContainer);
  return p;
}

/** Decodes one Pod from YAML or JSON text and defaults it as a static pod. */
export function decodeStaticPod(text: string, opts: DecodeOptions): Pod {
  let docs;
  try {
    docs = parseAllDocuments(text);
  } catch (e) {
    invalid(opts.origin, '(root)', `not YAML or JSON: ${(e as Error).message}`);
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const objs = list.filter((d) => d.contents !== null);
  if (objs.length !== 1) invalid(opts.origin, '(root)', `must hold exactly one Pod, found ${objs.length} documents`);
  const doc = objs[0]!;
  if (doc.errors.length > 0) invalid(opts.origin, '(root)', `not YAML or JSON: ${doc.errors[0]!.message}`);
  const obj: unknown = doc.toJS();
  validatePod(obj, opts.origin);
  return defaultStaticPod(obj, text, opts);
}
