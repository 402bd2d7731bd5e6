/**
 * KubeletConfiguration (`kubelet.config.k8s.io/v1beta1`): the kubelet's field names and v1beta1
 * defaults, strict validation (unknown fields and wrong types are rejected naming the field path),
 * and the subset cocolet acts on.
 *
 * API: `parseKubeletConfiguration(text)` (YAML or JSON) → `KubeletConfiguration` with defaults
 * filled; `defaultKubeletConfiguration()`; `validateKubeletConfiguration(obj)` throws a
 * CocoletError (ConfigInvalid) whose context `field` is the offending path, e.g.
 * `evictionHard.memory.avaliable` or `authentication.webhook.cacheTTL`.
 */
import { parse as parseYaml } from 'yaml';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseDuration } from './duration.js';
import { DEFAULT_EVICTION_HARD, parseThresholdConfig } from '../eviction/thresholds.js';
import { validateResourceManagerConfig } from './resource-managers.js';

export const KUBELET_CONFIG_API_VERSION = 'kubelet.config.k8s.io/v1beta1';
export const KUBELET_CONFIG_KIND = 'KubeletConfiguration';

type Kind = 'string' | 'bool' | 'int' | 'number' | 'duration' | 'stringMap' | 'stringList' | 'list' | 'any' | Schema;
interface Schema {
  [field: string]: Kind;
}

const EVICTION_SIGNALS = [
  'memory.available', 'allocatableMemory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available',
  'imagefs.inodesFree', 'containerfs.available', 'containerfs.inodesFree', 'pid.available',
];

/** Every field of the upstream v1beta1 type that cocolet accepts (acted on or not). */
const SCHEMA: Schema = {
  apiVersion: 'string',
  kind: 'string',
  enableServer: 'bool',
  staticPodPath: 'string',
  podLogsDir: 'string',
  syncFrequency: 'duration',
  fileCheckFrequency: 'duration',
  httpCheckFrequency: 'duration',
  staticPodURL: 'string',
  staticPodURLHeader: 'any',
  address: 'string',
  port: 'int',
  readOnlyPort: 'int',
  tlsCertFile: 'string',
  tlsPrivateKeyFile: 'string',
  tlsCipherSuites: 'stringList',
  tlsMinVersion: 'string',
  rotateCertificates: 'bool',
  serverTLSBootstrap: 'bool',
  authentication: {
    x509: { clientCAFile: 'string' },
    webhook: { enabled: 'bool', cacheTTL: 'duration' },
    anonymous: { enabled: 'bool' },
  },
  authorization: { mode: 'string', webhook: { cacheAuthorizedTTL: 'duration', cacheUnauthorizedTTL: 'duration' } },
  registryPullQPS: 'int',
  registryBurst: 'int',
  eventRecordQPS: 'int',
  eventBurst: 'int',
  enableDebuggingHandlers: 'bool',
  enableContentionProfiling: 'bool',
  healthzPort: 'int',
  healthzBindAddress: 'string',
  oomScoreAdj: 'int',
  clusterDomain: 'string',
  clusterDNS: 'stringList',
  streamingConnectionIdleTimeout: 'duration',
  nodeStatusUpdateFrequency: 'duration',
  nodeStatusReportFrequency: 'duration',
  nodeLeaseDurationSeconds: 'int',
  imageMinimumGCAge: 'duration',
  imageMaximumGCAge: 'duration',
  imageGCHighThresholdPercent: 'int',
  imageGCLowThresholdPercent: 'int',
  volumeStatsAggPeriod: 'duration',
  kubeletCgroups: 'string',
  systemCgroups: 'string',
  cgroupRoot: 'string',
  cgroupsPerQOS: 'bool',
  cgroupDriver: 'string',
  cpuManagerPolicy: 'string',
  cpuManagerPolicyOptions: 'stringMap',
  cpuManagerReconcilePeriod: 'duration',
  memoryManagerPolicy: 'string',
  topologyManagerPolicy: 'string',
  topologyManagerScope: 'string',
  topologyManagerPolicyOptions: 'stringMap',
  qosReserved: 'stringMap',
  runtimeRequestTimeout: 'duration',
  hairpinMode: 'string',
  maxPods: 'int',
  podCIDR: 'string',
  podPidsLimit: 'int',
  resolvConf: 'string',
  runOnce: 'bool',
  cpuCFSQuota: 'bool',
  cpuCFSQuotaPeriod: 'duration',
  nodeStatusMaxImages: 'int',
  maxOpenFiles: 'int',
  contentType: 'string',
  kubeAPIQPS: 'int',
  kubeAPIBurst: 'int',
  serializeImagePulls: 'bool',
  maxParallelImagePulls: 'int',
  evictionHard: 'stringMap',
  evictionSoft: 'stringMap',
  evictionSoftGracePeriod: 'stringMap',
  evictionPressureTransitionPeriod: 'duration',
  evictionMaxPodGracePeriod: 'int',
  evictionMinimumReclaim: 'stringMap',
  mergeDefaultEvictionSettings: 'bool',
  podsPerCore: 'int',
  enableControllerAttachDetach: 'bool',
  protectKernelDefaults: 'bool',
  makeIPTablesUtilChains: 'bool',
  featureGates: 'any',
  failSwapOn: 'bool',
  memorySwap: { swapBehavior: 'string' },
  containerLogMaxSize: 'string',
  containerLogMaxFiles: 'int',
  containerLogMaxWorkers: 'int',
  containerLogMonitorInterval: 'duration',
  configMapAndSecretChangeDetectionStrategy: 'string',
  systemReserved: 'stringMap',
  kubeReserved: 'stringMap',
  reservedSystemCPUs: 'string',
  showHiddenMetricsForVersion: 'string',
  systemReservedCgroup: 'string',
  kubeReservedCgroup: 'string',
  enforceNodeAllocatable: 'stringList',
  allowedUnsafeSysctls: 'stringList',
  volumePluginDir: 'string',
  providerID: 'string',
  kernelMemcgNotification: 'bool',
  logging: 'any',
  enableSystemLogHandler: 'bool',
  enableSystemLogQuery: 'bool',
  shutdownGracePeriod: 'duration',
  shutdownGracePeriodCriticalPods: 'duration',
  shutdownGracePeriodByPodPriority: 'list',
  crashLoopBackOff: { maxContainerRestartPeriod: 'duration' },
  reservedMemory: 'list',
  enableProfilingHandler: 'bool',
  enableDebugFlagsHandler: 'bool',
  seccompDefault: 'bool',
  memoryThrottlingFactor: 'number',
  registerWithTaints: 'list',
  registerNode: 'bool',
  tracing: 'any',
  localStorageCapacityIsolation: 'bool',
  containerRuntimeEndpoint: 'string',
  imageServiceEndpoint: 'string',
  failCgroupV1: 'bool',
  userNamespaces: { idsPerPod: 'int' },
  podHousekeepingPeriod: 'duration',
};

/** The fields cocolet acts on, typed, with durations in milliseconds. */
export interface KubeletConfiguration {
  apiVersion: string;
  kind: string;
  staticPodPath: string;
  staticPodURL: string;
  staticPodURLHeader: Record<string, string[]>;
  podLogsDir: string;
  syncFrequency: string;
  fileCheckFrequency: string;
  httpCheckFrequency: string;
  runtimeRequestTimeout: string;
  containerRuntimeEndpoint: string;
  imageServiceEndpoint: string;
  maxPods: number;
  imageGCHighThresholdPercent: number;
  imageGCLowThresholdPercent: number;
  imageMinimumGCAge: string;
  imageMaximumGCAge: string;
  containerLogMaxSize: string;
  containerLogMaxFiles: number;
  containerLogMonitorInterval: string;
  nodeStatusUpdateFrequency: string;
  nodeLeaseDurationSeconds: number;
  evictionHard: Record<string, string>;
  evictionSoft: Record<string, string>;
  evictionSoftGracePeriod: Record<string, string>;
  evictionMinimumReclaim: Record<string, string>;
  evictionPressureTransitionPeriod: string;
  /** Seconds; caps the pod's grace period for soft evictions (0 = the pod's own). */
  evictionMaxPodGracePeriod: number;
  enforceNodeAllocatable: string[];
  serializeImagePulls: boolean;
  podPidsLimit: number;
  oomScoreAdj: number;
  crashLoopBackOff: { maxContainerRestartPeriod?: string };
  healthzPort: number;
  healthzBindAddress: string;
  // Resource managers (host/kubelet/cm), validated by config/resource-managers.ts.
  cpuManagerPolicy: string;
  cpuManagerPolicyOptions: Record<string, string>;
  cpuManagerReconcilePeriod: string;
  memoryManagerPolicy: string;
  reservedMemory: { numaNode: number; limits: Record<string, string> }[];
  topologyManagerPolicy: string;
  topologyManagerScope: string;
  topologyManagerPolicyOptions: Record<string, string>;
  reservedSystemCPUs: string;
  kubeReserved: Record<string, string>;
  systemReserved: Record<string, string>;
  /** Every other accepted field, untouched. */
  [field: string]: unknown;
}

/** v1beta1 defaults (pkg/kubelet/apis/config/v1beta1/defaults.go) for the fields cocolet uses. */
export const KUBELET_DEFAULTS = {
  syncFrequency: '1m',
  fileCheckFrequency: '20s',
  httpCheckFrequency: '20s',
  runtimeRequestTimeout: '2m',
  containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
  imageServiceEndpoint: '',
  maxPods: 110,
  imageGCHighThresholdPercent: 85,
  imageGCLowThresholdPercent: 80,
  imageMinimumGCAge: '2m',
  imageMaximumGCAge: '0s',
  containerLogMaxSize: '10Mi',
  containerLogMaxFiles: 5,
  containerLogMonitorInterval: '10s',
  nodeStatusUpdateFrequency: '10s',
  nodeLeaseDurationSeconds: 40,
  evictionHard: DEFAULT_EVICTION_HARD,
  evictionSoft: {},
  evictionSoftGracePeriod: {},
  evictionMinimumReclaim: {},
  evictionPressureTransitionPeriod: '5m',
  evictionMaxPodGracePeriod: 0,
  enforceNodeAllocatable: ['pods'],
  serializeImagePulls: true,
  podPidsLimit: -1,
  oomScoreAdj: -999,
  podLogsDir: '/var/log/pods',
  staticPodPath: '',
  staticPodURL: '',
  healthzPort: 10248,
  healthzBindAddress: '127.0.0.1',
  cpuManagerPolicy: 'none',
  cpuManagerPolicyOptions: {},
  cpuManagerReconcilePeriod: '10s',
  memoryManagerPolicy: 'None',
  reservedMemory: [],
  topologyManagerPolicy: 'none',
  topologyManagerScope: 'container',
  topologyManagerPolicyOptions: {},
  reservedSystemCPUs: '',
  kubeReserved: {},
  systemReserved: {},
} as const;

function fail(field: string, message: string): never {
  throw new CocoletError(ErrorCode.ConfigInvalid, `${field}: ${message}`, { context: { field } });
}

function checkValue(path: string, kind: Kind, v: unknown): void {
  if (typeof kind === 'object') {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
    for (const [k, sub] of Object.entries(v as Record<string, unknown>)) {
      const subKind = kind[k];
      if (subKind === undefined) fail(`${path}.${k}`, 'unknown field');
      checkValue(`${path}.${k}`, subKind, sub);
    }
    return;
  }
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') fail(path, 'must be a string');
      return;
    case 'bool':
      if (typeof v !== 'boolean') fail(path, 'must be a boolean');
      return;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, 'must be an integer');
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a number');
      return;
    case 'duration':
      if (typeof v !== 'string' || parseDuration(v) === undefined) fail(path, 'must be a duration such as "10s" or "1m30s"');
      return;
    case 'stringMap':
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be a map of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) if (typeof s !== 'string') fail(`${path}.${k}`, 'must be a string');
      return;
    case 'stringList':
      if (!Array.isArray(v)) fail(path, 'must be a list of strings');
      (v as unknown[]).forEach((s, i) => {
        if (typeof s !== 'string') fail(`${path}[${i}]`, 'must be a string');
      });
      return;
    case 'list':
      if (!Array.isArray(v)) fail(path, 'must be a list');
      return;
    case 'any':
      return;
  }
}

function checkPercent(field: string, v: number): void {
  if (v < 0 || v > 100) fail(field, 'must be between 0 and 100');
}

/** Strictly validates a decoded object; throws CocoletError(ConfigInvalid) naming the field. */
export function validateKubeletConfiguration(obj: unknown): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail('(root)', 'must be an object');
  const o = obj as Record<string, unknown>;
  if (o.apiVersion !== undefined && o.apiVersion !== KUBELET_CONFIG_API_VERSION) fail('apiVersion', `must be ${KUBELET_CONFIG_API_VERSION}`);
  if (o.kind !== undefined && o.kind !== KUBELET_CONFIG_KIND) fail('kind', `must be ${KUBELET_CONFIG_KIND}`);
  for (const [k, v] of Object.entries(o)) {
    const kind = SCHEMA[k];
    if (kind === undefined) fail(k, 'unknown field');
    checkValue(k, kind, v);
  }
  for (const f of ['evictionHard', 'evictionSoft', 'evictionSoftGracePeriod', 'evictionMinimumReclaim']) {
    for (const signal of Object.keys((o[f] as Record<string, string> | undefined) ?? {})) {
      if (!EVICTION_SIGNALS.includes(signal)) fail(`${f}.${signal}`, 'unknown eviction signal');
    }
  }
  // Eviction thresholds: the same rules the eviction manager applies (errors name the field and value).
  parseThresholdConfig(o as Parameters<typeof parseThresholdConfig>[0]);
  if (typeof o.evictionMaxPodGracePeriod === 'number' && o.evictionMaxPodGracePeriod < 0) fail('evictionMaxPodGracePeriod', 'must not be negative');
  if (typeof o.imageGCHighThresholdPercent === 'number') checkPercent('imageGCHighThresholdPercent', o.imageGCHighThresholdPercent);
  if (typeof o.imageGCLowThresholdPercent === 'number') checkPercent('imageGCLowThresholdPercent', o.imageGCLowThresholdPercent);
  const hi = (o.imageGCHighThresholdPercent as number | undefined) ?? KUBELET_DEFAULTS.imageGCHighThresholdPercent;
  const lo = (o.imageGCLowThresholdPercent as number | undefined) ?? KUBELET_DEFAULTS.imageGCLowThresholdPercent;
  if (lo > hi) fail('imageGCLowThresholdPercent', 'must not exceed imageGCHighThresholdPercent');
  if (typeof o.maxPods === 'number' && o.maxPods < 0) fail('maxPods', 'must not be negative');
  if (typeof o.containerLogMaxFiles === 'number' && o.containerLogMaxFiles < 2) fail('containerLogMaxFiles', 'must be at least 2');
  if (typeof o.containerLogMaxSize === 'string' && parseQuantity(o.containerLogMaxSize) === undefined) {
    fail('containerLogMaxSize', 'must be a quantity such as 10Mi');
  }
  validateResourceManagerConfig(o, fail);
}

/** Fills v1beta1 defaults into a validated object. */
export function applyDefaults(obj: Record<string, unknown>): KubeletConfiguration {
  const out: Record<string, unknown> = {
    apiVersion: KUBELET_CONFIG_API_VERSION,
    kind: KUBELET_CONFIG_KIND,
    staticPodURLHeader: {},
    crashLoopBackOff: {},
    ...structuredClone(KUBELET_DEFAULTS),
  };
  for (const [k, v] of Object.entries(obj)) out[k] = v;
  // Setting any evictionHard key replaces the whole default map (unless merge is requested).
  if (obj.evictionHard && obj.mergeDefaultEvictionSettings === true) {
    out.evictionHard = { ...KUBELET_DEFAULTS.evictionHard, ...(obj.evictionHard as Record<string, string>) };
  }
  return out as KubeletConfiguration;
}

export function defaultKubeletConfiguration(): KubeletConfiguration {
  return applyDefaults({});
}

/** Parses YAML or JSON text, validates strictly and fills defaults. */
export function parseKubeletConfiguration(text: string): KubeletConfiguration {
  let obj: unknown;
  try {
    obj = parseYaml(text);
  } catch (e) {
    throw new CocoletError(ErrorCode.ConfigInvalid, `config is not valid YAML or JSON: ${(e as Error).message}`, { cause: e, context: { field: '(root)' } });
  }
  validateKubeletConfiguration(obj ?? {});
  return applyDefaults((obj ?? {}) as Record<string, unknown>);
}

/** Milliseconds of a duration field known to be valid. */
export function durationMs(v: string): number {
  return parseDuration(v) ?? 0;
}

/** Bytes of a Kubernetes quantity (`10Mi`, `1G`, `512`), undefined if malformed. */
export function parseQuantity(q: string | number): number | undefined {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m)?$/.exec(q.trim());
  if (!m) return undefined;
  const mult: Record<string, number> = {
    '': 1, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6,
  };
  return Number(m[1]) * mult[m[2] ?? '']!;
}
