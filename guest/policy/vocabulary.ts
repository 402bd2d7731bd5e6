/**
 * The fixed words the policy compares CreateContainer requests with: the OCI default mounts'
 * destinations, types, sources and options, the kubelet's bind destinations, capability names,
 * namespace types, the seccomp actions, flags and architectures, the syscall names, the image storage driver and the CRI annotation keys. The
 * agent decodes requests through an interner of these words (shared/ttrpc/intern.ts), so such a
 * string arrives as the one internalized copy the compiled policy holds too (container.ts
 * internalizes its strings) and compares by identity. The list is the same whatever the policy
 * (an allow-all gate decodes exactly as the strictest one) and never grows from requests.
 */
import { StringInterner } from '../../shared/ttrpc/intern.js';
import { DEFAULT_CAPABILITIES, KUBELET_FILE_DESTINATIONS, POD_DEFAULT_MOUNTS, SERVICE_ACCOUNT_DIR } from '../../shared/agent-policy/defaults.js';
import { GUEST_FS_TYPES } from '../../shared/agent-policy/parse.js';
import { NEUTRAL_OPTIONS } from './container.js';
import { CONTAINER_NAME_ANNOTATION } from './engine.js';
import { IMAGE_GUEST_PULL, IMAGE_NAME_ANNOTATION } from './inspect.js';
import { LINUX_SYSCALL_NAMES } from './syscalls.js';

/** Every Linux capability (linux/capability.h, through 6.x). */
export const LINUX_CAPABILITIES = [
  ...DEFAULT_CAPABILITIES, 'CAP_DAC_READ_SEARCH', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_LEASE', 'CAP_AUDIT_CONTROL', 'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** Mount options runtimes send besides the neutral ones (containerd's defaults, propagation, the ones policies deny). */
const MOUNT_OPTIONS = [
  'rw', 'ro', 'mode=755', 'mode=1777', 'mode=0620', 'ptmxmode=0666', 'gid=5', 'size=65536k', 'suid', 'exec', 'dev',
  'shared', 'rshared', 'remount', 'sync', 'async', 'atime', 'diratime', 'mand', 'nomand',
];

const SECCOMP_WORDS = [
  'SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP',
  'SCMP_ACT_LOG', 'SCMP_ACT_TRACE', 'SCMP_ACT_NOTIFY',
  'SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_S390X', 'SCMP_ARCH_PPC64LE',
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
  'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
];

export const POLICY_VOCABULARY: readonly string[] = [
  ...new Set([
    ...POD_DEFAULT_MOUNTS.map((m) => m.destination), ...KUBELET_FILE_DESTINATIONS, SERVICE_ACCOUNT_DIR, '/',
    ...GUEST_FS_TYPES, 'bind', 'none',
    ...NEUTRAL_OPTIONS, ...MOUNT_OPTIONS,
    ...LINUX_CAPABILITIES,
    'pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup', 'time',
    ...SECCOMP_WORDS, ...LINUX_SYSCALL_NAMES,
    IMAGE_GUEST_PULL, CONTAINER_NAME_ANNOTATION, IMAGE_NAME_ANNOTATION, 'io.kubernetes.cri.sandbox-name', 'io.kubernetes.cri.sandbox-namespace',
    'io.kubernetes.cri.sandbox-id', 'io.kubernetes.cri.container-type', 'container', 'sandbox',
  ]),
];

/** The interner the agent installs before it serves (one per process; the words never change). */
export const POLICY_INTERNER = new StringInterner(POLICY_VOCABULARY);
