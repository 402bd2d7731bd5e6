/**
 * The shim's configuration file (TOML, in the spirit of Kata's configuration.toml), its defaults,
 * validation with clear errors, and per-pod overrides through annotations gated by an allow-list.
 *
 * containerd points at the file through the runtime options (`[...runtimes.cocolet.options]
 * ConfigPath = "..."`), which arrive on the shim's stdin; `COCOLET_SHIM_CONFIG` is the fallback.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parse } from 'smol-toml';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { chooseInitData, handlerLabel, type InitDataSource } from './initdata.js';
import { parseNodeList } from '../vmm/numa.js';

/** The hypervisors built into the shim (hypervisors.ts); `hypervisor.module` may add one more. */
export const BUILT_IN_HYPERVISORS = ['qemu', 'process'];
export type ConfidentialGuest = 'none' | 'snp' | 'tdx';

/** Defaults (documented in examples/shim/configuration.toml). */
export const DEFAULT_VCPUS = 1;
export const DEFAULT_MEMORY_MIB = 512;
export const DEFAULT_DIAL_TIMEOUT_S = 90;
export const DEFAULT_CREATE_CONTAINER_TIMEOUT_S = 60;
/** Where shim sockets live, like containerd's own shims. */
export const DEFAULT_SOCKET_DIR = '/run/containerd/s';
/** Where each sandbox's working files (VM sockets, console log, state) live. */
export const DEFAULT_STATE_DIR = '/run/cocolet/shim';
/** Annotation keys a pod may override unless the config says otherwise (Kata's CoCo default). */
export const DEFAULT_ENABLE_ANNOTATIONS = ['default_vcpus', 'default_memory', 'kernel_params', 'cc_init_data'];

export const ANNOTATION_PREFIX = 'io.katacontainers.config.hypervisor.';
/**
 * The pod's NUMA nodes (a Linux list, `0` or `0-1,3`) that the guest RAM is bound to. The cocolet
 * kubelet sets it on the sandbox from the memory manager's grant (host/kubelet/api/types.ts
 * `PodAnnotations.numaNodes`, the same key) and removes a value the pod carried itself; containerd
 * passes it through `pod_annotations = ["io.cocolet.*"]`.
 */
export const NUMA_NODES_ANNOTATION = 'io.cocolet.numa-nodes';
export const INIT_DATA_ANNOTATION = `${ANNOTATION_PREFIX}cc_init_data`;

export interface ShimConfig {
  hypervisor: {
    /** The hypervisor's registered name (hypervisors.ts). */
    kind: string;
    /** A module (absolute path) whose default export is the hypervisor `kind` names; empty: a built-in one. */
    module: string;
    /** QEMU binary (empty: qemu-system-x86_64 on PATH). */
    path: string;
    /** Guest image directory (kernel, initramfs, measured command line; `npm run guest-image`); empty: host/vmm's default. */
    imageDir: string;
    /** Extra kernel command-line words (appended after the image's measured command line). */
    kernelParams: string;
    /**
     * `none` (default): the development TEE (QEMU microvm + host swtpm, NOT confidential);
     * `snp` / `tdx`: a hardware-TEE launch (q35, KVM, OVMF; HOSTDATA / MRCONFIGID = init-data digest).
     */
    confidentialGuest: ConfidentialGuest;
    /** OVMF image for snp/tdx (empty: `$COCOLET_OVMF`, then /usr/share/ovmf/OVMF.fd). */
    firmware: string;
    /** QEMU CPU model of an SNP guest (empty: EPYC-v4); part of the launch measurement. */
    snpCpu: string;
    defaultVcpus: number;
    defaultMemoryMiB: number;
    enableAnnotations: string[];
    /**
     * Init-data for a pod that carries none (a file, in the annotation's format); empty: none, the
     * guest's strict built-in policy applies. The pod's own annotation always wins.
     */
    defaultInitData: string;
  };
  agent: {
    /** Seconds to wait for the agent to answer after the VM starts. */
    dialTimeoutS: number;
    /** Seconds allowed for CreateContainer (includes an in-guest image pull). */
    createContainerTimeoutS: number;
    /** The agent command (argv) of a hypervisor that runs one on the host (the tests' fake); empty = its default. */
    command: string[];
  };
  runtime: {
    socketDir: string;
    stateDir: string;
  };
  /** The file this was read from (names the handler in errors); undefined for the built-in defaults. */
  path?: string;
}

export function defaultShimConfig(): ShimConfig {
  return {
    hypervisor: { kind: 'qemu', module: '', path: '', imageDir: '', kernelParams: '', confidentialGuest: 'none', firmware: '', snpCpu: '', defaultVcpus: DEFAULT_VCPUS, defaultMemoryMiB: DEFAULT_MEMORY_MIB, enableAnnotations: [...DEFAULT_ENABLE_ANNOTATIONS], defaultInitData: '' },
    agent: { dialTimeoutS: DEFAULT_DIAL_TIMEOUT_S, createContainerTimeoutS: DEFAULT_CREATE_CONTAINER_TIMEOUT_S, command: [] },
    runtime: { socketDir: DEFAULT_SOCKET_DIR, stateDir: DEFAULT_STATE_DIR },
  };
}

type Table = Record<string, unknown>;

function bad(where: string, msg: string): CocoletError {
  return new CocoletError(ErrorCode.ConfigInvalid, `shim config: ${where}: ${msg}`, { context: { key: where } });
}

function table(t: Table, key: string): Table {
  const v = t[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'must be a table');
  return v as Table;
}

function checkKeys(t: Table, where: string, allowed: string[]): void {
  for (const k of Object.keys(t)) if (!allowed.includes(k)) throw bad(`${where}.${k}`, `unknown key (known: ${allowed.join(', ')})`);
}

function str(t: Table, where: string, key: string, dflt: string, opts: { absolute?: boolean } = {}): string {
  const v = t[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw bad(`${where}.${key}`, 'must be a string');
  if (opts.absolute && v !== '' && !isAbsolute(v)) throw bad(`${where}.${key}`, 'must be an absolute path');
  return v;
}

function int(t: Table, where: string, key: string, dflt: number, min: number, max: number): number {
  const v = t[key];
  if (v === undefined) return dflt;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(`${where}.${key}`, 'must be an integer');
  if (n < min || n > max) throw bad(`${where}.${key}`, `must be between ${min} and ${max}`);
  return n;
}

function strList(t: Table, where: string, key: string, dflt: string[]): string[] {
  const v = t[key];
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`${where}.${key}`, 'must be an array of strings');
  return v as string[];
}

/** Parses and validates the TOML text. */
export function parseShimConfig(text: string): ShimConfig {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (e) {
    throw new CocoletError(ErrorCode.ConfigInvalid, `shim config: not valid TOML: ${(e as Error).message}`, { cause: e });
  }
  checkKeys(doc, '', ['hypervisor', 'agent', 'runtime']);
  const d = defaultShimConfig();
  const h = table(doc, 'hypervisor');
  checkKeys(h, 'hypervisor', ['kind', 'module', 'path', 'image_dir', 'kernel_params', 'confidential_guest', 'firmware', 'snp_cpu', 'default_vcpus', 'default_memory', 'enable_annotations', 'default_init_data']);
  const kind = str(h, 'hypervisor', 'kind', d.hypervisor.kind);
  const module = str(h, 'hypervisor', 'module', '', { absolute: true });
  if (!module && !BUILT_IN_HYPERVISORS.includes(kind)) throw bad('hypervisor.kind', `must be "qemu" or "process" (got ${JSON.stringify(kind)})`);
  const cg = str(h, 'hypervisor', 'confidential_guest', d.hypervisor.confidentialGuest);
  if (!['none', 'snp', 'tdx'].includes(cg)) throw bad('hypervisor.confidential_guest', `must be "none", "snp" or "tdx" (got ${JSON.stringify(cg)})`);
  if (cg !== 'none' && kind !== 'qemu') throw bad('hypervisor.confidential_guest', `"${cg}" needs kind = "qemu" (the ${kind} hypervisor has no TEE)`);
  const a = table(doc, 'agent');
  checkKeys(a, 'agent', ['dial_timeout', 'create_container_timeout', 'command']);
  const r = table(doc, 'runtime');
  checkKeys(r, 'runtime', ['socket_dir', 'state_dir']);
  const cfg: ShimConfig = {
    hypervisor: {
      kind,
      module,
      path: str(h, 'hypervisor', 'path', '', { absolute: true }),
      imageDir: str(h, 'hypervisor', 'image_dir', '', { absolute: true }),
      kernelParams: str(h, 'hypervisor', 'kernel_params', ''),
      confidentialGuest: cg as ConfidentialGuest,
      firmware: str(h, 'hypervisor', 'firmware', '', { absolute: true }),
      snpCpu: str(h, 'hypervisor', 'snp_cpu', ''),
      defaultVcpus: int(h, 'hypervisor', 'default_vcpus', d.hypervisor.defaultVcpus, 1, 256),
      defaultMemoryMiB: int(h, 'hypervisor', 'default_memory', d.hypervisor.defaultMemoryMiB, 64, 1 << 20),
      enableAnnotations: strList(h, 'hypervisor', 'enable_annotations', d.hypervisor.enableAnnotations),
      defaultInitData: str(h, 'hypervisor', 'default_init_data', '', { absolute: true }),
    },
    agent: {
      dialTimeoutS: int(a, 'agent', 'dial_timeout', d.agent.dialTimeoutS, 1, 3600),
      createContainerTimeoutS: int(a, 'agent', 'create_container_timeout', d.agent.createContainerTimeoutS, 1, 3600),
      command: strList(a, 'agent', 'command', []),
    },
    runtime: {
      socketDir: str(r, 'runtime', 'socket_dir', d.runtime.socketDir, { absolute: true }),
      stateDir: str(r, 'runtime', 'state_dir', d.runtime.stateDir, { absolute: true }),
    },
  };
  const known = ['default_vcpus', 'default_memory', 'kernel_params', 'cc_init_data'];
  for (const k of cfg.hypervisor.enableAnnotations) if (!known.includes(k)) throw bad('hypervisor.enable_annotations', `unknown annotation key ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  return cfg;
}

/** Reads the config file; an empty path means the built-in defaults. */
export function loadShimConfig(path: string): ShimConfig {
  if (!path) return defaultShimConfig();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CocoletError(ErrorCode.ConfigInvalid, `shim config: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return { ...parseShimConfig(text), path };
}

/** What one sandbox gets after applying allowed annotation overrides. */
export interface SandboxVmSettings {
  vcpus: number;
  memoryMiB: number;
  kernelParams: string;
  /** Host NUMA nodes for the guest RAM (`io.cocolet.numa-nodes`); undefined: the default memory policy. */
  numaNodes?: number[];
  /** The init-data (the pod's annotation value, else the handler's default file), passed to the VM untouched; undefined when neither. */
  initData?: string;
  /** Where it came from (logged with its digest, never its content). */
  initDataSource: InitDataSource;
  initDataPath?: string;
  initDataDigest?: string;
}

/**
 * Applies `io.katacontainers.config.hypervisor.<key>` annotations listed in enable_annotations.
 * An annotation for a key that is not allowed is an error (a pod must not silently get less than
 * it asked for); annotations with other prefixes are ignored.
 */
export function sandboxSettings(cfg: ShimConfig, annotations: Record<string, string>): SandboxVmSettings {
  const s: SandboxVmSettings = { vcpus: cfg.hypervisor.defaultVcpus, memoryMiB: cfg.hypervisor.defaultMemoryMiB, kernelParams: cfg.hypervisor.kernelParams, initDataSource: 'built-in' };
  let annotated: string | undefined;
  const numa = annotations[NUMA_NODES_ANNOTATION];
  if (numa !== undefined && numa.trim() !== '') {
    try {
      s.numaNodes = parseNodeList(numa, `annotation ${NUMA_NODES_ANNOTATION}`);
    } catch (e) {
      throw new CocoletError(ErrorCode.InvalidArgument, (e as Error).message, { cause: e, context: { annotation: NUMA_NODES_ANNOTATION } });
    }
  }
  for (const [k, v] of Object.entries(annotations)) {
    if (!k.startsWith(ANNOTATION_PREFIX)) continue;
    const key = k.slice(ANNOTATION_PREFIX.length);
    if (!cfg.hypervisor.enableAnnotations.includes(key)) {
      throw new CocoletError(ErrorCode.PermissionDenied, `annotation ${k} is not enabled in the shim config (hypervisor.enable_annotations)`, { context: { annotation: k } });
    }
    switch (key) {
      case 'default_vcpus': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 256) throw new CocoletError(ErrorCode.InvalidArgument, `annotation ${k}: must be an integer 1..256`, { context: { annotation: k } });
        s.vcpus = n;
        break;
      }
      case 'default_memory': {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 64) throw new CocoletError(ErrorCode.InvalidArgument, `annotation ${k}: must be an integer number of MiB >= 64`, { context: { annotation: k } });
        s.memoryMiB = n;
        break;
      }
      case 'kernel_params':
        s.kernelParams = [s.kernelParams, v].filter(Boolean).join(' ');
        break;
      case 'cc_init_data':
        annotated = v;
        break;
    }
  }
  const chosen = chooseInitData({ annotation: annotated, defaultPath: cfg.hypervisor.defaultInitData, handler: handlerLabel(annotations, cfg.path) });
  s.initDataSource = chosen.source;
  if (chosen.initData !== undefined) s.initData = chosen.initData;
  if (chosen.path) s.initDataPath = chosen.path;
  if (chosen.digest) s.initDataDigest = chosen.digest;
  return s;
}
