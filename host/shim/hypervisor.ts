/**
 * The hypervisor seam as the shim needs it (owned by the consumer): start a VM (or a stand-in)
 * for one sandbox and get back where its agent listens, its pid, and when it dies.
 *
 * `qemu` and `process` are host/vmm's (QEMU microVM + swtpm; the real agent as a local process);
 * `fake` is the test double in ./testing: the shim's own fake agent as a local process — no VM,
 * no isolation, not confidential.
 */
import type { Logger } from '../../shared/log/logger.js';
import { gunzipSync } from 'node:zlib';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import type { Hypervisor as VmmHypervisorType } from '../vmm/hypervisor.js';
import type { TeeKind } from '../../shared/tee/kind.js';
import type { ShimConfig } from './config.js';
import type { VmNetwork } from './network/index.js';

export interface VmStartRequest {
  /** Sandbox id. */
  id: string;
  /** A private directory for the VM's sockets, console log and state; removed by the shim. */
  workDir: string;
  vcpus: number;
  memoryMiB: number;
  kernelParams: string;
  /** Host NUMA nodes for the guest RAM (the kubelet's grant); undefined: the default policy. */
  numaNodes?: readonly number[];
  /** The pod's init-data annotation, handed to the VM untouched. */
  initData?: string;
  /** The pod's network (network/index.ts): the process agent joins the namespace, QEMU attaches the tap. */
  network?: VmNetwork;
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
  /** What protects the sandbox: snp / tdx (hardware), dev (QEMU + host swtpm, not confidential), none (no VM). */
  readonly tee: TeeKind;
  /** Resolves when the VM process has exited (for any reason), with the VMM's error output when it failed. */
  readonly exited: Promise<{ detail?: string } | void>;
  /** Stops the VM and everything it started; idempotent. */
  stop(): Promise<void>;
}

export interface Hypervisor {
  readonly kind: string;
  start(req: VmStartRequest): Promise<VmHandle>;
}

/**
 * Init-data as Kata carries it in the annotation: base64 of gzip(TOML) (or of the TOML), or plain
 * TOML. Only that transport encoding is undone; the document's bytes pass to the VM unchanged.
 */
export function decodeInitData(annotation: string): Uint8Array {
  if (/^\s*(version|algorithm|\[data\]|#)/.test(annotation)) return Buffer.from(annotation, 'utf8');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(annotation)) throw new CocoletError(ErrorCode.InvalidArgument, 'init-data annotation is neither TOML nor base64');
  const raw = Buffer.from(annotation.replace(/\s+/g, ''), 'base64');
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: 1 << 20 });
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `init-data annotation: gzip payload unreadable: ${(e as Error).message}`, { cause: e });
  }
}

/** Adapts host/vmm's hypervisors (qemu microVM + swtpm, or the agent as a local process). */
class VmmHypervisor implements Hypervisor {
  constructor(
    readonly kind: 'qemu' | 'process',
    private readonly cfg: ShimConfig,
    private readonly logger: Logger,
    private readonly mod: VmmModule,
  ) {}

  private inner(kernelParams: string): VmmHypervisorType {
    if (this.mod.kind === 'process') return new this.mod.ProcessHypervisor({ logger: this.logger });
    const h = this.cfg.hypervisor;
    return new this.mod.QemuHypervisor({
      logger: this.logger,
      ...(h.path ? { qemuBinary: h.path } : {}),
      ...(h.imageDir ? { imageDir: h.imageDir } : {}),
      ...(kernelParams.trim() ? { extraCmdline: kernelParams.trim().split(/\s+/) } : {}),
      confidentialGuest: h.confidentialGuest,
      ...(h.firmware ? { firmware: h.firmware } : {}),
      ...(h.snpCpu ? { snpCpu: h.snpCpu } : {}),
    });
  }

  /** The inner start runs synchronously up to its first await (the process kind spawns the agent there). */
  async start(req: VmStartRequest): Promise<VmHandle> {
    const h = await this.inner(req.kernelParams).start({
      id: req.id,
      stateDir: req.workDir,
      vcpus: req.vcpus,
      memoryMiB: req.memoryMiB,
      ...(req.numaNodes?.length ? { numaNodes: req.numaNodes } : {}),
      egress: true, // the guest pulls its images itself
      logger: req.logger,
      ...(req.initData !== undefined ? { initdata: decodeInitData(req.initData) } : {}),
      ...(req.network ? { netns: req.network.netnsPath, ...(req.network.nic ? { tapNics: [req.network.nic] } : {}) } : {}),
    });
    return {
      pid: h.pid,
      ...(this.kind === 'process' ? { pgid: h.pid } : {}),
      agentSocketPath: h.agentSocketPath,
      consoleLogPath: h.consoleLogPath,
      confidential: h.confidential,
      tee: h.tee,
      exited: h.exited.then((e) => (e.detail ? { detail: e.detail } : undefined)),
      stop: () => h.stop(),
    };
  }
}

type VmmModule = { kind: 'process'; ProcessHypervisor: typeof import('../vmm/process.js').ProcessHypervisor } | { kind: 'qemu'; QemuHypervisor: typeof import('../vmm/qemu.js').QemuHypervisor };

/** Loads only the chosen hypervisor's module (QEMU's pulls in swtpm, image and disk code the process kind never needs). */
async function loadVmm(kind: 'qemu' | 'process'): Promise<VmmModule> {
  if (kind === 'process') return { kind, ProcessHypervisor: (await import('../vmm/process.js')).ProcessHypervisor };
  return { kind, QemuHypervisor: (await import('../vmm/qemu.js')).QemuHypervisor };
}

/** Creates the configured hypervisor. */
export async function createHypervisor(cfg: ShimConfig, logger: Logger): Promise<Hypervisor> {
  const kind = cfg.hypervisor.kind;
  if (kind === 'fake') {
    const { FakeAgentHypervisor } = await import('./testing/fake-hypervisor.js');
    logger.warn({ kind }, 'hypervisor is the test fake: containers run as local processes, not confidential');
    return new FakeAgentHypervisor({ command: cfg.agent.command });
  }
  return new VmmHypervisor(kind, cfg, logger, await loadVmm(kind));
}
