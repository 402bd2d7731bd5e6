/**
 * What host/vmm's hypervisors take and give back: their start options and the running VM's
 * handle. Implementations: `QemuHypervisor` (QEMU microVM + swtpm, the confidential path's
 * development TEE) and `ProcessHypervisor` (the agent as a local child process on a unix socket —
 * NOT confidential, for development and tests; it says so in its logs). The seam they plug into
 * is the shim's (host/shim/hypervisor.ts, registered by name in host/shim/hypervisors.ts); they
 * satisfy it by shape, so this folder imports nothing of the shim.
 */
import type { Logger } from 'pino';
import type { TeeKind } from '../../shared/tee/kind.js';

export { teeLabel, type TeeKind } from '../../shared/tee/kind.js';

export type HypervisorKind = 'qemu' | 'process';

export interface VcpuThread {
  /** vCPU index inside the guest. */
  index: number;
  /** Host thread id (pin with sched_setaffinity / taskset). */
  tid: number;
}

export interface HypervisorStartOptions {
  /** Sandbox id: names the VM's files and appears in logs. */
  id: string;
  /** Folder for this VM's sockets, logs and temp files (created; removed on stop). */
  stateDir: string;
  /** vCPUs for the workload (the VM gets this many; minimum 1). */
  vcpus?: number;
  /** Memory for the workload in MiB; the VM gets this plus GUEST_MEMORY_OVERHEAD_MIB. */
  memoryMiB?: number;
  /** Kernel command-line words for this VM (qemu: appended after the image's measured command line and the hypervisor's own). */
  extraCmdline?: string[];
  /**
   * Host NUMA nodes the guest RAM must come from (the memory manager's grant to the pod). qemu:
   * `policy=bind` on the RAM backend, a node the host lacks is refused before QEMU runs; process:
   * the agent's own memory is not bound (see host/vmm/README.md). Absent: the default policy.
   */
  numaNodes?: readonly number[];
  /**
   * CoCo init-data TOML exactly as delivered (the bytes are measured). The qemu hypervisor
   * attaches it as an init-data block device; the process hypervisor passes a file.
   */
  initdata?: Uint8Array;
  /** Let the guest open connections to the host (needed to pull images from a host registry). */
  egress?: boolean;
  /** Called once the vCPU threads exist (e.g. to pin them); errors are logged, not fatal. */
  onVcpuThreads?: (threads: VcpuThread[]) => void | Promise<void>;
  /** The pod's network namespace (process hypervisor: the agent runs in it, so its containers share the pod IP). */
  netns?: string;
  /** Tap devices QEMU attaches as virtio-net NICs (by name, created by QEMU; the shim moves them into the pod's namespace). */
  tapNics?: TapNic[];
  /** Process hypervisor: an agent another process launched for this sandbox (process-launch.ts), taken over instead of spawning one. */
  adopt?: { pid: number; entry: string };
  /** Extra environment for the process hypervisor's agent. */
  env?: Record<string, string>;
  logger?: Logger;
}

export interface TapNic {
  tap: string;
  /** The guest NIC's MAC (the pod veth's). */
  mac: string;
}

export interface VmExit {
  code: number | null;
  signal: string | null;
  /** The VMM's last error output when it failed (e.g. QEMU's `vm-type SEV-SNP not supported by KVM`). */
  detail?: string;
}

export interface VmHandle {
  readonly id: string;
  readonly kind: HypervisorKind;
  /** True only when the workload runs inside a VM boundary (see `tee` for what that boundary is worth). */
  readonly confidential: boolean;
  /** The TEE actually launched. */
  readonly tee: TeeKind;
  /** pid of the VMM (or the agent process). */
  readonly pid: number;
  /** Its process group when it leads one of its own (the process hypervisor's agent), so teardown reaches its children. */
  readonly pgid?: number;
  /** Helper processes of the VM (qemu: its swtpm), so the shim can put them in the pod's cgroup with it. */
  readonly helperPids?: readonly number[];
  /** Unix socket that carries the agent's ttrpc byte stream. */
  readonly agentSocketPath: string;
  /** Guest serial console (qemu) or the agent's stderr (process). */
  readonly consoleLogPath: string;
  /** The full kernel command line booted (qemu only). */
  readonly cmdline?: string;
  /** Resolves when the VM (or process) has exited. */
  readonly exited: Promise<VmExit>;
  /** Stops the VM and removes everything it created (processes, sockets, temp files). */
  stop(): Promise<void>;
}

/** Memory the guest needs beyond the workload: the unpacked initramfs (~100 MiB) and Node. */
export const GUEST_MEMORY_OVERHEAD_MIB = 320;
/** Workload memory when none is asked for. */
export const DEFAULT_WORKLOAD_MEMORY_MIB = 192;
/** virtio-serial port name the agent looks for. */
export const AGENT_CHANNEL_NAME = 'agent.channel.0';
