/**
 * Built-in policies. The confidential default admits what an ordinary pod needs and nothing more:
 * the host may manage the sandbox and its containers' lifecycle, but may not exec into containers,
 * read or write their stdio, copy files outside the shared-container paths, change the policy,
 * mount host-chosen storage, add mounts beyond the OCI defaults and the kubelet's usual file binds,
 * add capabilities, devices, sysctls or host namespaces, or run privileged containers. Images,
 * commands and environment are NOT pinned by the default (it knows no pod): `cocolet policy
 * generate` writes a policy that pins them per container.
 */
import { createHash } from 'node:crypto';
import type { ContainerPolicy, MountRule, PolicyDocument, SeccompRule } from './types.js';

/** CopyFile targets Kata's shim uses for shared container files (bundle id, random, name). */
export const SHARED_COPY_PATH = '^/run/kata-containers/shared/containers/[0-9a-f]{64}-[a-z0-9]{16}-[A-Za-z0-9._-]+$';

/** The default capability set of an unprivileged container (containerd/Docker defaults). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const NO_SUID_EXEC_DEV = ['nosuid', 'noexec', 'nodev'];

/**
 * The OCI runtime's default mounts for a container: what containerd's CRI puts in every spec, and
 * containerd's own default spec (`ctr run`) adds a fresh tmpfs on /run.
 */
export const OCI_DEFAULT_MOUNTS: MountRule[] = [
  { destination: '/proc', type: 'proc', source: 'guest', options: NO_SUID_EXEC_DEV },
  { destination: '/dev', type: 'tmpfs', source: 'guest', options: ['nosuid'] },
  { destination: '/dev/pts', type: 'devpts', source: 'guest', options: ['nosuid', 'noexec'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'guest', options: NO_SUID_EXEC_DEV },
  { destination: '/dev/shm', type: 'shm', source: 'guest', options: NO_SUID_EXEC_DEV },
  { destination: '/run', type: 'tmpfs', source: 'guest', options: ['nosuid'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'guest', options: NO_SUID_EXEC_DEV },
  { destination: '/sys', type: 'sysfs', source: 'guest', options: NO_SUID_EXEC_DEV, readOnly: true },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'guest', options: NO_SUID_EXEC_DEV, readOnly: true },
  { destination: '/sys/fs/cgroup', type: 'cgroup2', source: 'guest', options: NO_SUID_EXEC_DEV, readOnly: true },
];

/** Where the kubelet binds files it writes for every container (copied into the guest with CopyFile). */
export const KUBELET_FILE_DESTINATIONS = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log'];
/** The service account token folder the kubelet mounts read-only. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The kubelet's usual binds of host-copied files. */
export const KUBELET_MOUNTS: MountRule[] = [
  ...KUBELET_FILE_DESTINATIONS.map((destination): MountRule => ({ destination, type: 'bind', source: 'shared' })),
  { destination: SERVICE_ACCOUNT_DIR, type: 'bind', source: 'shared', readOnly: true },
];

/** What an ordinary pod's container may mount: the OCI defaults and the kubelet's file binds. */
export const POD_DEFAULT_MOUNTS: MountRule[] = [...OCI_DEFAULT_MOUNTS, ...KUBELET_MOUNTS];

/**
 * A seccomp filter that only takes syscalls away (RuntimeDefault, a Localhost profile that blocks):
 * no action handing a syscall to another process (NOTIFY, TRACE), no flag weakening the process
 * (SPEC_ALLOW) or tied to a listener (WAIT_KILLABLE_RECV). What a policy entry without `seccomp` admits.
 */
export const SECCOMP_RESTRICTING: SeccompRule = {
  actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_LOG'],
  flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG'],
};

/** Any container (no image, argv or env pinned), with only what an ordinary pod needs. */
export const ANY_ORDINARY_CONTAINER: ContainerPolicy = {
  name: '*',
  mounts: POD_DEFAULT_MOUNTS,
  capabilities: DEFAULT_CAPABILITIES,
  privileged: false,
  hostNamespaces: [],
  podPidNamespace: false,
  seccomp: SECCOMP_RESTRICTING,
  sysctls: {},
  devices: [],
  keepSetuid: false,
};

/** SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGTERM, SIGWINCH (httpd's stop signal). */
export const STOP_SIGNALS = [1, 2, 3, 9, 15, 28];

/** Lifecycle rules the host needs and the denials that keep the TEE's contents inside. */
export const CONFIDENTIAL_RULES: PolicyDocument['rules'] = {
  // sandbox and container lifecycle the host needs
  CreateSandbox: { allow: true, allowGuestHooks: false, allowHostMounts: false },
  DestroySandbox: { allow: true },
  CreateContainer: { allow: true, allowHostMounts: false },
  StartContainer: { allow: true },
  RemoveContainer: { allow: true },
  // stop signals (containerd's default and the usual image STOPSIGNALs); never SIGSTOP/SIGCONT (a pause
  // by another name), SIGUSR*, or fault signals
  SignalProcess: { allow: true, signals: STOP_SIGNALS },
  WaitProcess: { allow: true },
  StatsContainer: { allow: true },
  TtyWinResize: { allow: true },
  GetOOMEvent: { allow: true },
  GetGuestDetails: { allow: true },
  OnlineCPUMem: { allow: true },
  RemoveStaleVirtiofsShareMounts: { allow: true },
  // the pod's network, which the host owns anyway (guards in guest/policy/network.ts keep loopback inside)
  UpdateInterface: { allow: true },
  UpdateRoutes: { allow: true },
  AddARPNeighbors: { allow: true },
  ListInterfaces: { allow: true },
  ListRoutes: { allow: true },
  // what stays inside the TEE
  ExecProcess: { allow: false },
  ReadStdout: { allow: false },
  ReadStderr: { allow: false },
  WriteStdin: { allow: false },
  CloseStdin: { allow: false },
  CopyFile: { allow: true, paths: [SHARED_COPY_PATH] },
  SetPolicy: { allow: false },
  PauseContainer: { allow: false },
  ResumeContainer: { allow: false },
  UpdateContainer: { allow: false },
  GetMetrics: { allow: false },
};

export const CONFIDENTIAL_DEFAULT_POLICY: PolicyDocument = {
  version: 2,
  name: 'confidential-default',
  default: 'deny',
  rules: CONFIDENTIAL_RULES,
  containers: [ANY_ORDINARY_CONTAINER],
};

/**
 * Every request type allowed, containers still limited to what an ordinary pod needs (no host
 * mounts, privileges, devices, sysctls): development and tests only.
 */
export const PERMISSIVE_POLICY: PolicyDocument = {
  version: 2,
  name: 'permissive',
  default: 'allow',
  rules: {
    CreateContainer: { allow: true, allowHostMounts: false },
    CreateSandbox: { allow: true, allowGuestHooks: false, allowHostMounts: false },
    CopyFile: { allow: true, paths: [SHARED_COPY_PATH] },
  },
  containers: [ANY_ORDINARY_CONTAINER],
};

/**
 * SHA-256 of the built-in confidential default policy document (its JSON as written here): what
 * the agent measures when a sandbox comes without init-data. A key broker expects it as the
 * init-data digest of such a sandbox (on the development TEE, PCR 8 = SHA-256(32 zero bytes ||
 * this digest); on SNP/TDX the init-data field stays zero).
 */
export function builtinPolicyDigest(): Buffer {
  return createHash('sha256').update(JSON.stringify(CONFIDENTIAL_DEFAULT_POLICY)).digest();
}
