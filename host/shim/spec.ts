/**
 * OCI runtime spec (config.json, JSON) → the Kata agent's protobuf `grpc.Spec`, plus the host
 * details a confidential guest must not get: host bind mounts (containerd's /etc/hosts,
 * resolv.conf, hostname, the CRI sandbox dir) and host namespace paths are dropped. The guest
 * builds its own network and files; what it accepts is decided by its policy.
 */
import { create } from '@bufbuild/protobuf';
import { LinuxSchema, SpecSchema, type Spec } from '../../shared/gen/kata/oci_pb.js';
import type { OciSpec } from './bundle.js';

/** Mount types the guest can provide by itself (no host path involved). */
const GUEST_MOUNT_TYPES = new Set(['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2', 'shm']);

export interface ConvertedSpec {
  spec: Spec;
  /**
   * The container shares the pod's PID namespace: containerd names the sandbox's pid namespace by
   * path (the CRI's POD mode, and NODE/hostPID, where for a VM pod the "host" is the pod's guest).
   * The agent is asked for its own pod namespace instead (CreateContainer.sandbox_pidns); the path
   * itself is dropped. CONTAINER mode names none: a namespace of the container's own.
   */
  sandboxPidns: boolean;
  /** Destinations of mounts that were dropped because they name host paths. */
  droppedMounts: string[];
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const big = (v: unknown): bigint => (typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Converts the `process` object (also used for exec specs). */
export function convertProcess(p: Json): NonNullable<Spec['Process']> {
  const user = obj(p.user);
  const caps = obj(p.capabilities);
  const size = obj(p.consoleSize);
  return create(SpecSchema, {
    Process: {
      Terminal: p.terminal === true,
      ...(p.consoleSize ? { ConsoleSize: { Height: num(size.height), Width: num(size.width) } } : {}),
      User: { UID: num(user.uid), GID: num(user.gid), AdditionalGids: (Array.isArray(user.additionalGids) ? user.additionalGids : []).map(num), Username: str(user.username) },
      Args: strs(p.args),
      Env: strs(p.env),
      Cwd: str(p.cwd) || '/',
      ...(p.capabilities
        ? { Capabilities: { Bounding: strs(caps.bounding), Effective: strs(caps.effective), Inheritable: strs(caps.inheritable), Permitted: strs(caps.permitted), Ambient: strs(caps.ambient) } }
        : {}),
      Rlimits: (Array.isArray(p.rlimits) ? p.rlimits : []).map((r) => ({ Type: str(obj(r).type), Hard: big(obj(r).hard), Soft: big(obj(r).soft) })),
      NoNewPrivileges: p.noNewPrivileges === true,
      ApparmorProfile: str(p.apparmorProfile),
      OOMScoreAdj: big(p.oomScoreAdj),
      SelinuxLabel: str(p.selinuxLabel),
    },
  }).Process!;
}

export interface ResourceConversion {
  /**
   * The agent runs on the host (the `process` hypervisor): host CPU and NUMA numbers are its own,
   * so `cpus` / `mems` pass through and its runc applies them as the container's cpuset.cpus /
   * cpuset.mems. In a VM they are dropped.
   */
  hostCpuset?: boolean;
}

export function convertResources(r: Json, o: ResourceConversion = {}): Json {
  const mem = obj(r.memory);
  const cpu = obj(r.cpu);
  const pids = obj(r.pids);
  return {
    ...(r.memory ? { Memory: { Limit: big(mem.limit), Reservation: big(mem.reservation), Swap: big(mem.swap), DisableOOMKiller: mem.disableOOMKiller === true } } : {}),
    // cpus / mems are host CPU and NUMA numbers, meaningless in the guest: the shim pins the VM's
    // vCPU threads to them instead (vcpu-pin.ts) and binds the guest RAM to the pod's NUMA nodes at
    // boot (io.cocolet.numa-nodes), and the guest gets none.
    ...(r.cpu ? { CPU: { Shares: big(cpu.shares), Quota: big(cpu.quota), Period: big(cpu.period), Cpus: o.hostCpuset ? str(cpu.cpus) : '', Mems: o.hostCpuset ? str(cpu.mems) : '' } } : {}),
    ...(r.pids ? { Pids: { Limit: big(pids.limit) } } : {}),
  };
}

/** A u64 of the spec (a JSON number: exact up to 2^53, and 2^64-1 — parsed as 2^64 — stays itself); 0 when not one. */
const u64 = (v: unknown): bigint => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? (v >= 2 ** 64 ? 0xffff_ffff_ffff_ffffn : BigInt(v)) : 0n);

/**
 * The spec's seccomp filter for the guest to apply (its policy decides what it admits). The Kata
 * message has no listener path or metadata: a filter here can never name a socket on the host.
 */
export function convertSeccomp(s: Json): Json {
  return {
    DefaultAction: str(s.defaultAction),
    Architectures: strs(s.architectures),
    Flags: strs(s.flags),
    Syscalls: (Array.isArray(s.syscalls) ? s.syscalls : []).map((x) => {
      const sc = obj(x);
      return {
        Names: strs(sc.names),
        Action: str(sc.action),
        ...(typeof sc.errnoRet === 'number' ? { ErrnoRet: { case: 'errnoret', value: num(sc.errnoRet) } } : {}),
        Args: (Array.isArray(sc.args) ? sc.args : []).map((a) => ({ Index: u64(obj(a).index), Value: u64(obj(a).value), ValueTwo: u64(obj(a).valueTwo), Op: str(obj(a).op) })),
      };
    }),
  };
}

/**
 * @param rootPath where the container's root filesystem is as seen by the agent
 */
export function convertSpec(oci: OciSpec, rootPath: string, o: ResourceConversion = {}): ConvertedSpec {
  const dropped: string[] = [];
  const mounts = [];
  for (const m of oci.mounts ?? []) {
    const type = m.type ?? '';
    const isBind = type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
    if (isBind || !GUEST_MOUNT_TYPES.has(type)) {
      dropped.push(m.destination);
      continue;
    }
    mounts.push({ destination: m.destination, source: m.source ?? type, type, options: m.options ?? [] });
  }
  const linux = obj(oci.linux);
  const spec = create(SpecSchema, {
    Version: oci.ociVersion ?? '1.0.2',
    Process: convertProcess(obj(oci.process)),
    Root: { Path: rootPath, Readonly: oci.root?.readonly === true },
    Hostname: oci.hostname ?? '',
    Mounts: mounts,
    Annotations: { ...(oci.annotations ?? {}) },
    Linux: {
      Sysctl: Object.fromEntries(Object.entries(obj(linux.sysctl)).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
      ...(linux.resources ? { Resources: convertResources(obj(linux.resources), o) } : {}),
      CgroupsPath: str(linux.cgroupsPath),
      // Host namespace paths (e.g. CRI's netns) mean nothing inside the guest: keep only the types.
      Namespaces: (Array.isArray(linux.namespaces) ? linux.namespaces : []).map((n) => ({ Type: str(obj(n).type), Path: '' })),
      ...(linux.seccomp ? { Seccomp: convertSeccomp(obj(linux.seccomp)) } : {}),
      MaskedPaths: strs(linux.maskedPaths),
      ReadonlyPaths: strs(linux.readonlyPaths),
    },
  });
  const sandboxPidns = (Array.isArray(linux.namespaces) ? linux.namespaces : []).some((n) => str(obj(n).type) === 'pid' && str(obj(n).path) !== '');
  return { spec, droppedMounts: dropped, sandboxPidns };
}

/**
 * The pod's sysctls (the sandbox spec's `linux.sysctl`) added to a container's spec where it sets
 * none of its own: under runc a pod's containers join the sandbox's IPC and network namespaces,
 * where containerd set them once; in the guest each container gets them itself (the guest policy
 * checks them like any container sysctl).
 */
export function withPodSysctls(spec: Spec, pod: Readonly<Record<string, string>>): Spec {
  const keys = Object.keys(pod);
  if (keys.length === 0) return spec;
  const linux = spec.Linux ?? create(LinuxSchema);
  for (const k of keys) if (!Object.hasOwn(linux.Sysctl, k)) linux.Sysctl[k] = pod[k]!;
  spec.Linux = linux;
  return spec;
}

/** The string-valued entries of an OCI spec's `linux.sysctl`. */
export function sysctlsOf(oci: OciSpec): Record<string, string> {
  return Object.fromEntries(Object.entries(obj(obj(oci.linux).sysctl)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

