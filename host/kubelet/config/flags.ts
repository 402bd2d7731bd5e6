/**
 * Kubelet command-line flags (the upstream names) and how they combine with a config file:
 * the file is read and defaulted first, then explicitly passed flags override it.
 *
 * API: `parseKubeletFlags(argv)` → `{ flags, rest }`; `resolveSettings(flags, readFile)` →
 * `KubeletSettings` (config + flag-only options: rootDir, nodeName, kubeconfig, runtime class map).
 * Unknown flags are rejected (CocoletError ConfigInvalid, context `flag`).
 */
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseKubeletConfiguration, validateKubeletConfiguration, defaultKubeletConfiguration, type KubeletConfiguration } from './kubeletconfig.js';

/** Default root directory (`--root-dir`). */
export const DEFAULT_ROOT_DIR = '/var/lib/kubelet';

/** Default RuntimeClass name → CRI handler map: confidential classes go to the cocolet shim. */
export const DEFAULT_RUNTIME_CLASSES: Readonly<Record<string, string>> = {
  cocolet: 'cocolet',
  'kata-qemu-coco-dev': 'cocolet',
  'kata-cc': 'cocolet',
  runc: '',
};

/** Flag name → KubeletConfiguration field and value type. */
/** `lt`: `a<b,c<d` (evictionHard / evictionSoft); `eq`: `a=b,c=d`; `list`: `a,b`. */
const CONFIG_FLAGS: Record<string, { field: string; type: 'string' | 'int' | 'bool' | 'duration' | 'lt' | 'eq' | 'list' }> = {
  'eviction-hard': { field: 'evictionHard', type: 'lt' },
  'eviction-soft': { field: 'evictionSoft', type: 'lt' },
  'eviction-soft-grace-period': { field: 'evictionSoftGracePeriod', type: 'eq' },
  'eviction-minimum-reclaim': { field: 'evictionMinimumReclaim', type: 'eq' },
  'eviction-pressure-transition-period': { field: 'evictionPressureTransitionPeriod', type: 'duration' },
  'eviction-max-pod-grace-period': { field: 'evictionMaxPodGracePeriod', type: 'int' },
  'enforce-node-allocatable': { field: 'enforceNodeAllocatable', type: 'list' },
  'pod-manifest-path': { field: 'staticPodPath', type: 'string' },
  'manifest-url': { field: 'staticPodURL', type: 'string' },
  'container-runtime-endpoint': { field: 'containerRuntimeEndpoint', type: 'string' },
  'image-service-endpoint': { field: 'imageServiceEndpoint', type: 'string' },
  'sync-frequency': { field: 'syncFrequency', type: 'duration' },
  'file-check-frequency': { field: 'fileCheckFrequency', type: 'duration' },
  'http-check-frequency': { field: 'httpCheckFrequency', type: 'duration' },
  'runtime-request-timeout': { field: 'runtimeRequestTimeout', type: 'duration' },
  'max-pods': { field: 'maxPods', type: 'int' },
  'pod-logs-dir': { field: 'podLogsDir', type: 'string' },
  'container-log-max-size': { field: 'containerLogMaxSize', type: 'string' },
  'container-log-max-files': { field: 'containerLogMaxFiles', type: 'int' },
  'image-gc-high-threshold': { field: 'imageGCHighThresholdPercent', type: 'int' },
  'image-gc-low-threshold': { field: 'imageGCLowThresholdPercent', type: 'int' },
  'minimum-image-ttl-duration': { field: 'imageMinimumGCAge', type: 'duration' },
  'serialize-image-pulls': { field: 'serializeImagePulls', type: 'bool' },
  'healthz-port': { field: 'healthzPort', type: 'int' },
  'healthz-bind-address': { field: 'healthzBindAddress', type: 'string' },
  address: { field: 'address', type: 'string' },
  port: { field: 'port', type: 'int' },
  'tls-cert-file': { field: 'tlsCertFile', type: 'string' },
  'tls-private-key-file': { field: 'tlsPrivateKeyFile', type: 'string' },
};

const OTHER_FLAGS = new Set(['config', 'root-dir', 'node-name', 'hostname-override', 'kubeconfig', 'bootstrap-kubeconfig', 'node-ip', 'node-labels', 'runtime-class-handler', 'v', 'status-file']);

export interface KubeletFlags {
  config?: string;
  rootDir?: string;
  nodeName?: string;
  kubeconfig?: string;
  bootstrapKubeconfig?: string;
  nodeIp?: string;
  /** `--node-labels k=v,...` (extra labels of the Node). */
  nodeLabels?: Record<string, string>;
  /** `name=handler` entries of --runtime-class-handler (repeatable). */
  runtimeClassHandlers: Record<string, string>;
  /** Config fields set by flags. */
  overrides: Record<string, unknown>;
  verbosity?: number;
}

function bad(flag: string, message: string): never {
  throw new CocoletError(ErrorCode.ConfigInvalid, `--${flag}: ${message}`, { context: { flag } });
}

/** `memory.available<100Mi,nodefs.available<10%` (sep `<`) or `memory.available=30s` (sep `=`) as a map. */
function parsePairs(flag: string, value: string, sep: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf(sep);
    if (i <= 0) bad(flag, `${JSON.stringify(part)} is not signal${sep}value (e.g. ${sep === '<' ? 'memory.available<100Mi' : 'memory.available=1m30s'})`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** Parses `--name=value` / `--name value` flags; stops at the first non-flag argument. */
export function parseKubeletFlags(argv: string[]): { flags: KubeletFlags; rest: string[] } {
  const flags: KubeletFlags = { runtimeClassHandlers: {}, overrides: {} };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) break;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const spec = CONFIG_FLAGS[name];
    const isBool = spec?.type === 'bool';
    if (!spec && !OTHER_FLAGS.has(name)) bad(name, 'unknown flag');
    let value: string;
    if (eq > 0) value = a.slice(eq + 1);
    else if (isBool) value = 'true';
    else {
      if (i + 1 >= argv.length) bad(name, 'needs a value');
      value = argv[++i]!;
    }
    if (spec) {
      if (spec.type === 'int') {
        const n = Number(value);
        if (!Number.isInteger(n)) bad(name, 'must be an integer');
        flags.overrides[spec.field] = n;
      } else if (spec.type === 'bool') {
        if (value !== 'true' && value !== 'false') bad(name, 'must be true or false');
        flags.overrides[spec.field] = value === 'true';
      } else if (spec.type === 'lt' || spec.type === 'eq') {
        flags.overrides[spec.field] = parsePairs(name, value, spec.type === 'lt' ? '<' : '=');
      } else if (spec.type === 'list') {
        flags.overrides[spec.field] = value ? value.split(',').map((x) => x.trim()) : [];
      } else flags.overrides[spec.field] = value;
      continue;
    }
    switch (name) {
      case 'config':
        flags.config = value;
        break;
      case 'root-dir':
        flags.rootDir = value;
        break;
      case 'node-name':
      case 'hostname-override':
        flags.nodeName = value;
        break;
      case 'kubeconfig':
        flags.kubeconfig = value;
        break;
      case 'bootstrap-kubeconfig':
        flags.bootstrapKubeconfig = value;
        break;
      case 'node-ip':
        if (!isIP(value)) bad(name, `${JSON.stringify(value)} is not an IP address`);
        flags.nodeIp = value;
        break;
      case 'node-labels':
        try {
          flags.nodeLabels = { ...flags.nodeLabels, ...parseNodeLabels(value) };
        } catch (e) {
          bad(name, (e as Error).message.replace(/^--node-labels: /, ''));
        }
        break;
      case 'v':
        flags.verbosity = Number(value);
        break;
      case 'runtime-class-handler': {
        const [rc, handler] = value.split('=');
        if (!rc || handler === undefined) bad(name, 'must be runtimeClassName=handler');
        flags.runtimeClassHandlers[rc] = handler;
        break;
      }
      default:
        break;
    }
  }
  return { flags, rest: argv.slice(i) };
}

export interface KubeletSettings {
  config: KubeletConfiguration;
  rootDir: string;
  nodeName: string;
  kubeconfig?: string;
  /** TLS bootstrapping credentials, used when `kubeconfig` has no usable client certificate. */
  bootstrapKubeconfig?: string;
  /** The Node's InternalIP (default: the first non-loopback IPv4 address). */
  nodeIp?: string;
  nodeLabels?: Record<string, string>;
  runtimeClassHandlers: Record<string, string>;
  /**
   * RuntimeClass name → overhead.podFixed, filled into static pods (no API server admits them);
   * host/node sets the VM's cost on every class of the cocolet handler (sources/runtimeclass.ts); unset: none.
   */
  runtimeClassOverhead?: Record<string, Record<string, string>>;
}

/** Config file (if any) with defaults, then flag overrides (validated like file fields). */
export function resolveSettings(flags: KubeletFlags, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): KubeletSettings {
  let config = flags.config ? parseKubeletConfiguration(readFile(flags.config)) : defaultKubeletConfiguration();
  if (Object.keys(flags.overrides).length > 0) {
    // Eviction settings are checked together (a soft threshold by flag may take its grace period from the file).
    const evictionFields = ['evictionHard', 'evictionSoft', 'evictionSoftGracePeriod', 'evictionMinimumReclaim', 'enforceNodeAllocatable'];
    const touches = evictionFields.some((f) => f in flags.overrides);
    const fromFile = touches ? Object.fromEntries(evictionFields.filter((f) => config[f] !== undefined).map((f) => [f, config[f]])) : {};
    validateKubeletConfiguration({ ...fromFile, ...flags.overrides });
    config = { ...config, ...flags.overrides } as KubeletConfiguration;
  }
  return {
    config,
    rootDir: flags.rootDir ?? DEFAULT_ROOT_DIR,
    nodeName: (flags.nodeName ?? hostname()).toLowerCase(),
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.bootstrapKubeconfig ? { bootstrapKubeconfig: flags.bootstrapKubeconfig } : {}),
    ...(flags.nodeIp ? { nodeIp: flags.nodeIp } : {}),
    ...(flags.nodeLabels ? { nodeLabels: flags.nodeLabels } : {}),
    runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES, ...flags.runtimeClassHandlers },
  };
}

/** `--node-labels k=v,k2=v2`; a malformed entry throws naming it. */
export function parseNodeLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = eq > 0 ? part.slice(0, eq) : '';
    const v = eq > 0 ? part.slice(eq + 1) : '';
    if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(k) || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v) || v.length > 63) {
      throw new Error(`--node-labels: ${JSON.stringify(part)} is not a valid key=value label`);
    }
    out[k] = v;
  }
  return out;
}
