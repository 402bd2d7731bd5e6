/**
 * Builds the runc config.json for a container from the host's OCI spec — sanitised: the agent
 * starts from its own safe template and takes from the host only the process (argv, env, cwd,
 * user), hostname, resource limits, and what the policy gate checked before this runs: the mounts,
 * the capability sets (each a subset of the policy's `capabilities`) and the sysctls (exact
 * key = value of the policy's `sysctls`). The host may add masked and read-only paths, never remove
 * the template's. No host-chosen devices, hooks, namespace paths or seccomp-off reach runc; a
 * container asking for the pod's PID namespace joins the agent's own pod namespace (pidns.ts).
 */
import type { LinuxSeccomp, Spec, LinuxResources as PbResources } from '../../shared/gen/kata/oci_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { join } from 'node:path';
import { DEFAULT_CAPABILITIES, hasTraversal, isBindMount, isHostMount, isSharedBind } from '../policy/inspect.js';
import type { ImageConfig } from '../pull/registry.js';

export interface OciMount { destination: string; type: string; source: string; options: string[] }

export interface RuncConfig {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted', string[]> & { inheritable?: string[]; ambient?: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath: string;
    resources?: Record<string, unknown>;
    sysctl?: Record<string, string>;
    maskedPaths: string[];
    readonlyPaths: string[];
    /** The host's filter as the policy admitted it (never a listener); written exactly by `runcConfigText`. */
    seccomp?: RuncSeccomp;
  };
}

export interface RuncSeccomp {
  defaultAction: string;
  architectures?: string[];
  flags?: string[];
  syscalls?: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: bigint; valueTwo: bigint; op: string }[] }[];
}

/** The runc filter from the request's (checked by the policy gate before this runs). */
export function seccompJson(f: LinuxSeccomp | undefined): RuncSeccomp | undefined {
  if (!f || f.DefaultAction === '') return undefined;
  // defence in depth: no listener can exist in the guest, and the policy refuses the action anyway
  for (const a of [f.DefaultAction, ...f.Syscalls.map((x) => x.Action)]) {
    if (a === 'SCMP_ACT_NOTIFY') throw new CocoletError(ErrorCode.PolicyDenied, 'seccomp action SCMP_ACT_NOTIFY is not applied: it hands syscalls to another process');
  }
  return {
    defaultAction: f.DefaultAction,
    ...(f.Architectures.length ? { architectures: [...f.Architectures] } : {}),
    ...(f.Flags.length ? { flags: [...f.Flags] } : {}),
    syscalls: f.Syscalls.map((x) => ({
      names: [...x.Names],
      action: x.Action,
      ...(x.ErrnoRet.case === 'errnoret' ? { errnoRet: x.ErrnoRet.value } : {}),
      ...(x.Args.length ? { args: x.Args.map((a) => ({ index: Number(a.Index), value: a.Value, valueTwo: a.ValueTwo, op: a.Op })) } : {}),
    })),
  };
}

/**
 * config.json text: JSON, with the filter's 64-bit argument values written exactly (JSON numbers
 * of any size; a JavaScript number would round those above 2^53).
 */
export function runcConfigText(c: RuncConfig): string {
  const { seccomp, ...linux } = c.linux;
  if (!seccomp) return JSON.stringify(c);
  const filter = JSON.stringify(seccomp, (_k, v: unknown) => (typeof v === 'bigint' ? `${U64_MARK}${v}` : v)).replace(new RegExp(`"${U64_MARK}(\\d+)"`, 'g'), '$1');
  const head = JSON.stringify({ ...c, linux });
  // linux is the last key of the config (its own text ends the document: `...}}`)
  return `${head.slice(0, -2)},"seccomp":${filter}}}`;
}
/** Marks a u64 in the filter's JSON before it is written as a bare number ('#' is in no action, flag, arch, op or syscall name the policy admits). */
const U64_MARK = '#u64#';

export const DEFAULT_MOUNTS: OciMount[] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
];

const MASKED = ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY = ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface BuildSpecInput {
  spec: Spec | undefined;
  image?: ImageConfig;
  rootfs: string;
  cgroupsPath: string;
  /** Host bind mounts allowed by the policy (otherwise only guest-private and shared-file mounts are kept). */
  allowHostMounts: boolean;
  /** Where the guest's `/` is for files copied in with CopyFile (default `/`; a state folder in process mode). */
  sharedRoot?: string;
  /**
   * The pod's PID namespace to join (`/proc/<holder>/ns/pid`, pidns.ts), when the request asked for
   * the pod's (sandbox_pidns) and the policy admitted it; absent: a namespace of the container's own.
   * Always the agent's path: the host's namespace paths never reach runc.
   */
  podPidNamespace?: string;
}

function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const m = new Map<string, string>();
  for (const e of [...base, ...over]) m.set(e.split('=')[0]!, e);
  return [...m.values()];
}

/** OCI runtime-spec resources from the proto message (only the limits the agent supports). */
export function resourcesJson(r: PbResources | undefined): Record<string, unknown> | undefined {
  if (!r) return undefined;
  const out: Record<string, unknown> = {};
  if (r.Memory && r.Memory.Limit > 0n) out.memory = { limit: Number(r.Memory.Limit) };
  if (r.CPU) {
    const cpu: Record<string, unknown> = {};
    if (r.CPU.Shares > 0n) cpu.shares = Number(r.CPU.Shares);
    if (r.CPU.Quota !== 0n) cpu.quota = Number(r.CPU.Quota);
    if (r.CPU.Period > 0n) cpu.period = Number(r.CPU.Period);
    if (r.CPU.Cpus) cpu.cpus = r.CPU.Cpus;
    if (r.CPU.Mems) cpu.mems = r.CPU.Mems;
    if (Object.keys(cpu).length > 0) out.cpu = cpu;
  }
  if (r.Pids && r.Pids.Limit > 0n) out.pids = { limit: Number(r.Pids.Limit) };
  return Object.keys(out).length > 0 ? out : undefined;
}

export function buildRuncConfig(i: BuildSpecInput): RuncConfig {
  const p = i.spec?.Process;
  const img = i.image?.config;
  const args = p && p.Args.length > 0 ? [...p.Args] : [...(img?.Entrypoint ?? []), ...(img?.Cmd ?? [])];
  if (args.length === 0) throw new CocoletError(ErrorCode.InvalidArgument, 'container has no command (spec and image both empty)');
  const mounts: OciMount[] = [...DEFAULT_MOUNTS];
  const taken = new Set(mounts.map((m) => m.destination));
  for (const m of i.spec?.Mounts ?? []) {
    if (hasTraversal(m.destination)) throw new CocoletError(ErrorCode.InvalidArgument, `mount destination ${JSON.stringify(m.destination.slice(0, 200))} is not a clean absolute path`);
    if (taken.has(m.destination)) continue;
    if (isHostMount(m) && !i.allowHostMounts) {
      throw new CocoletError(ErrorCode.PolicyDenied, `host mount at ${m.destination} not allowed`);
    }
    const shared = isSharedBind(m);
    const source = shared && i.sharedRoot && i.sharedRoot !== '/' ? join(i.sharedRoot, m.source) : m.source;
    const options = [...m.options];
    const bind = isBindMount(m);
    if (bind && !options.includes('bind') && !options.includes('rbind')) options.push('rbind');
    // a file the host copied in never carries setuid bits or device nodes into the container
    if (shared && bind) for (const o of ['nosuid', 'nodev']) if (!options.includes(o)) options.push(o);
    mounts.push({ destination: m.destination, type: bind ? 'bind' : m.type, source, options });
    taken.add(m.destination);
  }
  // The request's capability sets (the gate admitted each as a subset of the policy's); none: the defaults.
  const rc = p?.Capabilities;
  const caps = [...DEFAULT_CAPABILITIES];
  const capabilities: RuncConfig['process']['capabilities'] = rc
    ? { bounding: [...rc.Bounding], effective: [...rc.Effective], permitted: [...rc.Permitted], ...(rc.Inheritable.length ? { inheritable: [...rc.Inheritable] } : {}), ...(rc.Ambient.length ? { ambient: [...rc.Ambient] } : {}) }
    : { bounding: caps, effective: caps, permitted: caps };
  const sysctl = Object.entries(i.spec?.Linux?.Sysctl ?? {});
  const seccomp = seccompJson(i.spec?.Linux?.Seccomp);
  const union = (mine: readonly string[], theirs: readonly string[] | undefined): string[] => [...new Set([...mine, ...(theirs ?? []).filter((x) => x.startsWith('/') && !hasTraversal(x))])];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: p?.Terminal === true,
      user: { uid: p?.User?.UID ?? 0, gid: p?.User?.GID ?? 0, ...(p?.User?.AdditionalGids.length ? { additionalGids: [...p.User.AdditionalGids] } : {}) },
      args,
      env: mergeEnv(img?.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], p?.Env ?? []),
      cwd: p?.Cwd || img?.WorkingDir || '/',
      capabilities,
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: i.rootfs, readonly: i.spec?.Root?.Readonly ?? false },
    hostname: i.spec?.Hostname ?? '',
    mounts,
    linux: {
      namespaces: [{ type: 'pid', ...(i.podPidNamespace ? { path: i.podPidNamespace } : {}) }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      cgroupsPath: i.cgroupsPath,
      ...(resourcesJson(i.spec?.Linux?.Resources) ? { resources: resourcesJson(i.spec?.Linux?.Resources) } : {}),
      ...(sysctl.length ? { sysctl: Object.fromEntries(sysctl) } : {}),
      maskedPaths: union(MASKED, i.spec?.Linux?.MaskedPaths),
      readonlyPaths: union(READONLY, i.spec?.Linux?.ReadonlyPaths),
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
