/**
 * The hypervisor seam as the shim needs it (owned by the consumer): start a VM (or a stand-in)
 * for one sandbox and get back where its agent listens, its pid, and when it dies; and, per
 * implementation, how a container's root filesystem reaches that agent.
 *
 * Implementations are registered by name (hypervisors.ts): `qemu` and `process` are host/vmm's
 * (QEMU microVM + swtpm; the real agent as a local process), which fit `VmLauncher` by shape.
 * A test registers its own through the configuration's `hypervisor.module`.
 */
import type { Logger } from '../../shared/log/logger.js';
import type { TeeKind } from '../../shared/tee/kind.js';
import type { LaunchedAgent } from '../vmm/process-launch.js';
import type { ShimConfig } from './config.js';
import type { RootfsSource } from './rootfs.js';
import type { VmNetworkMode } from './network/index.js';

export interface VmStartRequest {
  /** Sandbox id. */
  id: string;
  /** A private directory for the VM's sockets, console log and state; removed when the VM stops. */
  stateDir: string;
  vcpus: number;
  memoryMiB: number;
  /** Kernel command-line words (the configuration's and the pod's `kernel_params`). */
  extraCmdline: string[];
  /** Host NUMA nodes for the guest RAM (the kubelet's grant); undefined: the default policy. */
  numaNodes?: readonly number[];
  /** The init-data document's bytes, decoded from its transport form only (they are measured). */
  initdata?: Uint8Array;
  /** Let the guest open connections to the host (it pulls its images itself). */
  egress: boolean;
  /** The pod's network namespace (the process agent runs in it). */
  netns?: string;
  /** The pod's NIC: a tap QEMU attaches as virtio-net with the pod veth's MAC (network/index.ts). */
  tapNics?: { tap: string; mac: string }[];
  /** The agent the shim's `start` already launched for this sandbox (early-agent.ts): a `process` launcher adopts it instead of spawning one. */
  adopt?: LaunchedAgent;
  logger: Logger;
}

export interface VmHandle {
  /** The VM process (qemu, or the agent process). */
  readonly pid: number;
  /** Its process group when it has its own (so teardown reaches helpers like swtpm). */
  readonly pgid?: number;
  /** Helper processes the VM needs (swtpm): they join the sandbox's cgroup with it. */
  readonly helperPids?: readonly number[];
  /** Unix socket on which the agent's ttrpc server is reached. */
  readonly agentSocketPath: string;
  readonly consoleLogPath?: string;
  /** False for every stand-in that is not a TEE. */
  readonly confidential: boolean;
  /** What protects the sandbox: snp / tdx (hardware), dev (QEMU + host swtpm, not confidential), none (no VM). */
  readonly tee: TeeKind;
  /** Resolves when the VM process has exited (for any reason), with the VMM's error output when it failed. */
  readonly exited: Promise<{ detail?: string } | void>;
  /** Stops the VM and everything it started; idempotent. */
  stop(): Promise<void>;
}

/** What starts VMs: host/vmm's QemuHypervisor and ProcessHypervisor have this shape. */
export interface VmLauncher {
  start(req: VmStartRequest): Promise<VmHandle>;
}

/** One hypervisor a shim configuration can name (`hypervisor.kind`). */
export interface Hypervisor {
  readonly name: string;
  /** How a container's root filesystem reaches this hypervisor's agent. */
  readonly rootfs: RootfsSource;
  /** How the VM joins the pod's network namespace: its agent runs in it, or a tap there is its NIC, or not at all. */
  readonly network: VmNetworkMode;
  /**
   * The agent runs on the host, not in a VM: what a dead one left there (containers, mounts) is the
   * shim's to remove, and containers keep their host cpuset / mems (its runc applies them).
   */
  readonly agentOnHost: boolean;
  /** The launcher for this configuration; loads the implementation's module only now. */
  launcher(cfg: ShimConfig, logger: Logger): Promise<VmLauncher>;
}
