/**
 * The hypervisor seam as the shim needs it (owned by the consumer): start a VM (or a stand-in)
 * for one sandbox and get back where its agent listens, its pid, and when it dies.
 *
 * `qemu` and `process` are implemented by host/vmm (loaded at run time so the shim keeps working,
 * with a clear error, on a build without it); `fake` is the test double in ./testing: the shim's
 * own fake agent as a local process — no VM, no isolation, not confidential.
 */
import type { Logger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import type { ShimConfig } from './config.js';

export interface VmStartRequest {
  /** Sandbox id. */
  id: string;
  /** A private directory for the VM's sockets, console log and state; removed by the shim. */
  workDir: string;
  vcpus: number;
  memoryMiB: number;
  kernelParams: string;
  /** The pod's init-data annotation, handed to the VM untouched. */
  initData?: string;
  logger: Logger;
}

export interface VmHandle {
  /** The VM process (qemu, or the agent process for `process`/`fake`). */
  readonly pid: number;
  /** Its process group when it has its own (so teardown reaches helpers like swtpm). */
  readonly pgid?: number;
  /** Unix socket on which the agent's ttrpc server is reached. */
  readonly agentSocketPath: string;
  readonly consoleLogPath?: string;
  /** False for every stand-in that is not a TEE. */
  readonly confidential: boolean;
  /** Resolves when the VM process has exited (for any reason). */
  readonly exited: Promise<void>;
  /** Stops the VM and everything it started; idempotent. */
  stop(): Promise<void>;
}

export interface Hypervisor {
  readonly kind: string;
  start(req: VmStartRequest): Promise<VmHandle>;
}

/** The shape host/vmm is expected to export (adapted in `fromVmm`). */
interface VmmModule {
  createHypervisor?: (kind: string, opts: Record<string, unknown>) => unknown;
}

/** Creates the configured hypervisor. */
export async function createHypervisor(cfg: ShimConfig, logger: Logger): Promise<Hypervisor> {
  const kind = cfg.hypervisor.kind;
  if (kind === 'fake') {
    const { FakeAgentHypervisor } = await import('./testing/fake-hypervisor.js');
    logger.warn({ kind }, 'hypervisor is the test fake: containers run as local processes, not confidential');
    return new FakeAgentHypervisor({ command: cfg.agent.command });
  }
  let mod: VmmModule;
  try {
    const spec = new URL('../vmm/index.js', import.meta.url).href;
    mod = (await import(spec)) as VmmModule;
  } catch (e) {
    throw new CocoletError(ErrorCode.VmFailed, `hypervisor ${kind}: host/vmm is not available in this build`, { cause: e });
  }
  if (typeof mod.createHypervisor !== 'function') throw new CocoletError(ErrorCode.VmFailed, `hypervisor ${kind}: host/vmm does not export createHypervisor`);
  const opts = { path: cfg.hypervisor.path, kernel: cfg.hypervisor.kernel, initrd: cfg.hypervisor.initrd, agentCommand: cfg.agent.command, logger };
  return mod.createHypervisor(kind, opts) as Hypervisor;
}
