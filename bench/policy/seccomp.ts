/**
 * A seccomp filter of the shape containerd's CRI sends for `RuntimeDefault` (its default profile):
 * default action ERRNO, the three x86 architectures, one ALLOW rule naming most syscalls, rules
 * allowing personality() for a few arguments and clone() without namespace flags, and clone3
 * answered with ENOSYS. The names are the x86_64 syscall table (linux/unistd_64.h) without the
 * ones that profile leaves to capabilities or blocks (mount, ptrace, bpf, kexec, module loading,
 * namespaces, keyrings, ...): 297 names in the ALLOW rule, as many as containerd's list carries.
 * Bench input only: what matters here is the size and shape the policy's seccomp check reads.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { LinuxSeccompSchema } from '../../shared/gen/kata/oci_pb.js';

const ALLOWED =
  'accept accept4 access adjtimex alarm arch_prctl bind brk capget capset chdir chmod chown chroot clock_getres ' +
  'clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3 epoll_create ' +
  'epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 ' +
  'execve execveat exit exit_group faccessat faccessat2 fadvise64 fallocate fanotify_init fanotify_mark fchdir ' +
  'fchmod fchmodat fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat ' +
  'fstatfs fsync ftruncate futex futex_waitv futimesat get_robust_list get_thread_area getcpu getcwd getdents ' +
  'getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid getppid getpriority ' +
  'getrandom getresgid getresuid getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday getuid ' +
  'getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents ' +
  'io_pgetevents io_setup io_submit io_uring_enter io_uring_register io_uring_setup ioctl ioprio_get ioprio_set ' +
  'kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen ' +
  'listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise membarrier memfd_create memfd_secret ' +
  'migrate_pages mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify ' +
  'mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall ' +
  'munmap nanosleep newfstatat open openat openat2 pause pidfd_getfd pidfd_open pidfd_send_signal pipe pipe2 ' +
  'pkey_alloc pkey_free pkey_mprotect poll ppoll prctl pread64 preadv preadv2 prlimit64 process_madvise ' +
  'process_mrelease pselect6 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recvfrom recvmmsg ' +
  'recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction ' +
  'rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo ' +
  'sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam ' +
  'sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam sched_setscheduler ' +
  'sched_yield seccomp select semctl semget semop semtimedop sendfile sendmmsg sendmsg sendto ' +
  'set_mempolicy_home_node set_robust_list set_thread_area set_tid_address setdomainname setfsgid setfsuid setgid ' +
  'setgroups sethostname setitimer setpgid setpriority setregid setresgid setresuid setreuid setrlimit setsid ' +
  'setsockopt setuid setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socket socketpair ' +
  'splice stat statfs statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create ' +
  'timer_delete timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime times ' +
  'tkill truncate umask uname unlink unlinkat utime utimensat utimes vfork vmsplice wait4 waitid write writev';

/** Personality values the profile allows (PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, query). */
const PERSONALITIES = [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn];
/** clone() flags that create namespaces (CLONE_NEW*): the profile allows clone only with none of them. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000n;

export function runtimeDefaultSeccomp(): MessageInitShape<typeof LinuxSeccompSchema> {
  return {
    DefaultAction: 'SCMP_ACT_ERRNO',
    Architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    Syscalls: [
      { Names: ALLOWED.split(' '), Action: 'SCMP_ACT_ALLOW' },
      ...PERSONALITIES.map((v) => ({ Names: ['personality'], Action: 'SCMP_ACT_ALLOW', Args: [{ Index: 0n, Value: v, Op: 'SCMP_CMP_EQ' }] })),
      { Names: ['clone'], Action: 'SCMP_ACT_ALLOW', Args: [{ Index: 0n, Value: CLONE_NAMESPACE_FLAGS, ValueTwo: 0n, Op: 'SCMP_CMP_MASKED_EQ' }] },
      { Names: ['clone3'], Action: 'SCMP_ACT_ERRNO', ErrnoRet: { case: 'errnoret', value: 38 } },
    ],
  };
}
