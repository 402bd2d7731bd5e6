/**
 * The guest agent's policy document, as data: the host authors it (into a pod's init-data), the
 * guest parses and enforces it (guest/policy/). A declarative JSON document, no Rego:
 *
 * - `rules`: keyed by RPC method name (`CreateContainer`, `ExecProcess`, ...); a method without a
 *   rule takes `default`. A rule allows or denies the request type and may narrow an allow.
 * - `containers`: what each container of the pod may be (image, argv, env, working dir, user,
 *   mounts, capabilities, privileges, host namespaces, sysctls, devices). A CreateContainer request
 *   is allowed only when it matches, field by field, the entry its container name selects (entry
 *   name `*` matches any name). No entry at all means no container may be created.
 *
 * Version 2. Version 1 documents (no mount rules) are refused with a message saying so.
 */

export const POLICY_VERSION = 2;

export interface PolicyRule {
  allow: boolean;
  /** Exact argv lists the process may run (ExecProcess). */
  commands?: string[][];
  /** Regexes over the argv joined with single spaces (ExecProcess). */
  commandPatterns?: string[];
  /** Every environment entry must match one of these regexes (ExecProcess). */
  env?: string[];
  /** Regexes a CopyFile path must match. */
  paths?: string[];
  /** SignalProcess: the signal numbers the host may send (absent = any). */
  signals?: number[];
  /** CreateContainer / CreateSandbox: host-chosen storages (block devices, host paths) allowed (default false). */
  allowHostMounts?: boolean;
  /** CreateSandbox: guest hooks and kernel modules allowed (default false). */
  allowGuestHooks?: boolean;
}

/** Where a mount's data comes from. */
export type MountSource =
  /** A kernel file system made fresh in the guest (proc, sysfs, tmpfs, devpts, mqueue, cgroup): no host data. */
  | 'guest'
  /** A bind of a file or folder the host copied in with CopyFile (under the shared-containers folder). */
  | 'shared';

export interface MountRule {
  /** Absolute, clean path inside the container. */
  destination: string;
  /** File system type (`proc`, `sysfs`, `tmpfs`, `devpts`, `mqueue`, `cgroup`, `cgroup2`, `shm`) or `bind`. */
  type: string;
  source: MountSource;
  /** Options the mount must carry (e.g. `nosuid`, `noexec`, `nodev`). Harmless options (atime, mode=, size=, propagation) may always be added. */
  options?: string[];
  /** The mount must be read-only (`ro`, and never `rw`). */
  readOnly?: boolean;
}

export interface UserRule {
  uid: number;
  /** Absent: any group (Kubernetes' runAsUser without runAsGroup leaves it to the image's /etc/passwd). */
  gid?: number;
  additionalGids?: number[];
}

/** Every seccomp action of the OCI runtime spec. */
export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
/** Every seccomp filter flag of the OCI runtime spec. */
export const SECCOMP_FLAGS = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] as const;

/**
 * A seccomp filter only takes syscalls away, except through actions that hand a syscall to another
 * process (SCMP_ACT_NOTIFY to a listener, SCMP_ACT_TRACE to a ptracer), flags that weaken the
 * process (SPEC_ALLOW turns off the speculative store bypass mitigation) and SCMP_ACT_ERRNO with
 * errno 0 (the syscall seems to succeed without running: a "dropped" privilege is kept). The rule
 * lists what a filter may use; ERRNO with errno 0 is never admitted.
 */
export interface SeccompRule {
  /** Actions the filter may take (its default action and each syscall rule's). */
  actions: string[];
  /** Filter flags it may set. */
  flags: string[];
}

export interface ContainerPolicy {
  /** Container name (the CRI `io.kubernetes.cri.container-name` annotation); `*` matches any. */
  name: string;
  /** Image reference (normalized before comparing); absent = any image. */
  image?: string;
  /** Manifest digest the pulled image must have (`sha256:<hex>`), checked once the guest resolved it. */
  imageDigest?: string;
  /** The exact argv (the pod's command + args); absent = any, or see `imageDefaults`. */
  command?: string[];
  /** With `imageDefaults` and no `command`: the argv is the image's entrypoint + these args (the pod's args). */
  args?: string[];
  /** Every environment entry must fully match one of these regexes; absent = any. */
  env?: string[];
  /** Working directory; absent = any, or see `imageDefaults`. */
  workingDir?: string;
  /**
   * What this entry leaves to the image must be the pinned image's own (checked after the pull,
   * from the image config): without `command`, the argv is the image's entrypoint + (`args` or its
   * cmd); env entries not matched by `env` must be exactly in the image's env; without
   * `workingDir`, the working dir is the image's (or `/`); without `user`, a numeric user of the
   * image config (none = root) is the user (a user name cannot be checked and is not).
   */
  imageDefaults?: boolean;
  /** User; absent = any, or see `imageDefaults`. */
  user?: UserRule;
  /** The only mounts allowed: every mount of the request must match one rule. */
  mounts: MountRule[];
  /** Capabilities the process may hold (each set of the request must be a subset). */
  capabilities: string[];
  /** Privileged containers (default false). */
  privileged?: boolean;
  /** Namespaces the container may share with the sandbox's guest (joined by path); default none. */
  hostNamespaces?: string[];
  /**
   * The container may join the pod's PID namespace (Kubernetes' shareProcessNamespace, the CRI's
   * POD pid mode; CreateContainer.sandbox_pidns): the one the guest agent keeps for the pod, never a
   * path the host names. Its processes then see (and, as the same user, may signal or trace) the
   * other containers' that joined it. Default false: a PID namespace of its own.
   */
  podPidNamespace?: boolean;
  /**
   * What the host's seccomp filter (the OCI spec's linux.seccomp, applied by the guest) may be.
   * Absent: SECCOMP_RESTRICTING (defaults.ts), a filter that only takes syscalls away.
   */
  seccomp?: SeccompRule;
  /** Sysctls (exact key = value) the container may set; default none. */
  sysctls?: Record<string, string>;
  /** Device paths the container may get; default none. */
  devices?: string[];
  /** Keep setuid/setgid bits from the image's layers (default false: stripped when unpacking). */
  keepSetuid?: boolean;
}

export interface PolicyDocument {
  version: 2;
  name: string;
  default: 'allow' | 'deny';
  rules: Record<string, PolicyRule>;
  containers: ContainerPolicy[];
}
