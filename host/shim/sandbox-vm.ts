/**
 * The VM of one pod sandbox: it starts it (or adopts the daemon's early start), dials its agent,
 * connects the pod network, pins its vCPUs, notices when it dies, and stops it. Everything it
 * brings up is registered in one disposable store as it comes up, so every way down (a failed
 * boot, the VM lost, the sandbox's teardown) is the same call, in reverse order.
 * The task table (sandbox.ts) asks it for the agent and hears when the VM is lost.
 */
import { rmSync } from 'node:fs';
import type { Logger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode, isCocoletError } from '../../shared/errors/errors.js';
import { DisposableStore, delay } from '../../shared/lifecycle/disposables.js';
import { teeDescription } from '../../shared/tee/kind.js';
import type { ShimConfig } from './config.js';
import type { OciSpec } from './bundle.js';
import type { PodNetwork } from './network/pod-network.js';
import { reapLocalAgent } from './reap.js';
import { dialAgent, type AgentConnection } from './agent.js';
import type { Hypervisor, VmHandle } from './hypervisor.js';
import { launchVm, type Preboot } from './preboot.js';
import { writeTeeLabel } from './tee-label.js';
import { VcpuPinning, type VcpuPinningOptions } from './vcpu-pin.js';
import { joinVmCgroup, releaseVmCgroup, type VmCgroupOptions } from './vm-cgroup.js';

export interface SandboxVmOptions {
  id: string;
  config: ShimConfig;
  hypervisor: Hypervisor;
  workDir: string;
  /** Carries the `sandbox` key. */
  log: Logger;
  /** Called once the VM runs (the daemon records its pid for `delete`). */
  onVmStarted?: (vm: VmHandle, workDir: string) => void;
  /** A VM the daemon already started for this sandbox (see preboot.ts); adopted by the boot. */
  preboot?: Preboot;
  /** The VM or its agent went away (before its stop): the task table ends its tasks. */
  onLost: () => void;
  /** The agent reported an OOM kill in a container. */
  onOom: (containerId: string) => void;
  vcpuPinning?: VcpuPinningOptions;
  /** Where the cgroup hierarchies are (test seam; default /sys/fs/cgroup). */
  vmCgroup?: VmCgroupOptions;
}

export class SandboxVm {
  private vm: VmHandle | undefined;
  private agentConn: AgentConnection | undefined;
  private down = false;
  /** What the current boot brought up; disposed on every way down. */
  private store = new DisposableStore();
  private readonly pinning: VcpuPinning;
  private readonly log: Logger;
  /** cgroup directories the shim created for the VM (removed after it stopped; containerd/kubelet own the rest). */
  private cgroupDirs: string[] = [];

  constructor(private readonly o: SandboxVmOptions) {
    this.log = o.log;
    this.pinning = new VcpuPinning(this.log, o.vcpuPinning);
  }

  /** A VM was started (it may not answer yet). */
  get started(): boolean {
    return this.vm !== undefined;
  }

  /** The VM was lost or stopped: its agent is no longer asked anything. */
  get tornDown(): boolean {
    return this.down;
  }

  get pid(): number {
    return this.vm?.pid ?? 0;
  }

  get agent(): AgentConnection['api'] {
    if (!this.agentConn || this.down) throw new CocoletError(ErrorCode.Unavailable, 'the sandbox VM is not running', { context: { sandbox: this.o.id } });
    return this.agentConn.api;
  }

  /** Re-pins the VM's vCPU threads after a container's cpuset changed; a failure is logged, not fatal. */
  async cpusetChanged(containerId: string, cpus: string | undefined): Promise<void> {
    if (!this.pinning.record(containerId, cpus) || !this.vm || this.down) return;
    try {
      await this.pinning.apply(this.vm.pid);
    } catch (e) {
      this.log.warn({ container: containerId, cpuset: this.pinning.union().toString(), err: (e as Error).message }, 'pinning the vcpu threads failed');
    }
  }

  /** The network and the VM, each registered for teardown as soon as it exists. */
  private async start(spec: OciSpec): Promise<{ vm: VmHandle; network?: PodNetwork; kind: string; t0: number }> {
    const pre = this.o.preboot;
    if (pre) {
      this.o.preboot = undefined;
      const vm = await this.adopt(pre);
      if (!vm) await pre.vm; // (rejects: the early start failed)
      return { vm: vm!, ...(pre.network ? { network: pre.network } : {}), kind: pre.name, t0: pre.startedAt };
    }
    const { config, hypervisor, id, workDir } = this.o;
    const { vm, t0, network } = await launchVm({ config, hypervisor, id, workDir, spec, log: this.log, logger: this.log });
    if (network) this.store.add('pod network', () => network.disconnect());
    const handle = await vm;
    this.registerVm(handle);
    return { vm: handle, ...(network ? { network } : {}), kind: hypervisor.name, t0 };
  }

  /** An early-started VM (and its network) joins the store; undefined when its start failed. */
  private async adopt(pre: Preboot): Promise<VmHandle | undefined> {
    const vm = await pre.vm.catch(() => undefined);
    if (pre.network) {
      const network = pre.network;
      this.store.add('pod network', () => network.disconnect());
    }
    if (vm) this.registerVm(vm);
    return vm;
  }

  private registerVm(vm: VmHandle): void {
    this.vm = vm;
    this.store.add('vm', async () => {
      this.reap();
      await vm.stop().catch((e: unknown) => {
        if (!this.quietStop) this.log.warn({ err: (e as Error).message }, 'VM stop failed');
      });
      this.reap();
      await this.releaseCgroup();
    });
  }

  /**
   * QEMU and its helpers join the sandbox's cgroup (the spec's linux.cgroupsPath), so the VM's memory
   * and CPU are the pod's (charged, limited, seen by eviction). Before any vCPU pinning: joining a
   * v1 cpuset resets the threads' affinity to the cgroup's CPUs. A failure is logged, not fatal.
   */
  private joinCgroup(spec: OciSpec, vm: VmHandle): void {
    if (this.o.hypervisor.agentOnHost) return; // the host agent's runc puts its containers in their cgroups
    const cgroupsPath = (spec.linux as { cgroupsPath?: unknown } | undefined)?.cgroupsPath;
    const pids = [vm.pid, ...(vm.helperPids ?? [])].filter((p) => p > 0);
    const r = joinVmCgroup(cgroupsPath, pids, this.o.vmCgroup);
    this.cgroupDirs = r.created;
    if (r.path === undefined && r.errors.length === 0) {
      this.log.warn({ pids }, 'the sandbox spec has no linux.cgroupsPath (no cgroup parent from the kubelet): the VM stays in the shim\'s cgroup, its memory is not charged to the pod');
    } else if (r.errors.length) {
      this.log.error({ cgroupsPath, pids, joined: r.joined, errors: r.errors }, `the VM could not join the sandbox cgroup ${r.path ?? String(cgroupsPath)} everywhere; where it did not, its memory and CPU are not charged to the pod (the pod starts anyway)`);
    } else {
      this.log.info({ cgroupsPath, pids, hierarchies: r.joined.length, created: r.created.length }, 'VM joined the sandbox cgroup');
    }
  }

  /** Removes the cgroup directories the shim created, once the VM left them. */
  private async releaseCgroup(): Promise<void> {
    const dirs = this.cgroupDirs;
    this.cgroupDirs = [];
    if (!dirs.length) return;
    const left = await releaseVmCgroup(dirs);
    if (left.length) this.log.warn({ left }, 'cgroup directories the shim created could not be removed');
  }

  /** Set while the VM is going down because it was lost (its stop failing is no news then). */
  private quietStop = false;

  /** Starts the VM, dials its agent, creates the sandbox in it and connects the pod network. */
  async boot(spec: OciSpec): Promise<void> {
    const { config } = this.o;
    this.store = new DisposableStore();
    this.down = false;
    let vm: VmHandle;
    try {
      const started = await this.start(spec);
      vm = started.vm;
      const t0 = started.t0;
      this.o.onVmStarted?.(vm, this.o.workDir);
      this.joinCgroup(spec, vm);
      const tee = teeDescription(vm.tee);
      if (vm.tee === 'snp' || vm.tee === 'tdx') this.log.info({ kind: started.kind, tee }, 'sandbox TEE');
      else this.log.warn({ kind: started.kind, tee }, 'sandbox is NOT confidential');
      writeTeeLabel(this.o.workDir, vm.tee);
      const t1 = Date.now();
      const conn = await dialAgent(vm.agentSocketPath, { timeoutMs: config.agent.dialTimeoutS * 1000, until: vm.exited });
      this.agentConn = conn;
      this.store.add('agent connection', () => conn.conn.close());
      const t2 = Date.now();
      await conn.api.createSandbox({ sandboxId: this.o.id, hostname: spec.hostname ?? '' }, { timeoutMs: config.agent.createContainerTimeoutS * 1000 });
      const t3 = Date.now();
      if (started.network) {
        let gone = false;
        void vm.exited.then(() => (gone = true));
        await started.network.connect(() => gone);
        await started.network.configureGuest(conn.api, config.agent.createContainerTimeoutS * 1000);
      }
      this.log.info({ vmPid: vm.pid, vmStartMs: t1 - t0, agentReadyMs: t2 - t1, createSandboxMs: t3 - t2, ...(started.network ? { networkMs: Date.now() - t3 } : {}) }, 'sandbox ready');
    } catch (e) {
      this.quietStop = true;
      await this.store.dispose().catch(() => {});
      this.quietStop = false;
      this.agentConn = undefined;
      this.vm = undefined;
      rmSync(this.o.workDir, { recursive: true, force: true });
      throw isCocoletError(e) ? e.withContext({ sandbox: this.o.id }) : new CocoletError(ErrorCode.VmFailed, `starting the sandbox VM failed: ${(e as Error).message}`, { cause: e, context: { sandbox: this.o.id } });
    }
    const lost = (why: string): void => void this.lost(why);
    this.agentConn!.conn.onClose(() => lost('agent connection closed'));
    void vm.exited.then(() => lost('VM exited'));
    void this.watchOom();
  }

  private async watchOom(): Promise<void> {
    for (let i = 0; i < 1_000_000 && !this.down && this.agentConn; i++) {
      try {
        const ev = await this.agentConn.api.getOOMEvent({});
        if (ev.containerId) this.o.onOom(ev.containerId);
      } catch (e) {
        if (this.down || isCocoletError(e, ErrorCode.Unimplemented) || isCocoletError(e, ErrorCode.Unavailable)) return;
        await delay(1000);
      }
    }
  }

  /** The VM or its agent went away: the tasks exit, then what the VM brought up goes. */
  private async lost(why: string): Promise<void> {
    if (this.down) return;
    this.down = true;
    this.log.warn({ why }, 'sandbox VM lost; publishing exits for its tasks');
    this.o.onLost();
    this.quietStop = true;
    await this.store.dispose().catch(() => {});
  }

  /** What a dead local agent left on the host (hypervisors whose agent runs on the host). */
  private reap(): void {
    if (!this.o.hypervisor.agentOnHost) return;
    const r = reapLocalAgent(this.o.workDir);
    if (r.containers.length || r.mounts.length) this.log.warn({ containers: r.containers, mounts: r.mounts }, 'removed what the agent process left behind');
  }

  /** Stops the VM (asking its agent to destroy the sandbox first when it is up) and what it brought up; idempotent. */
  async stop(): Promise<void> {
    const pre = this.o.preboot;
    this.o.preboot = undefined;
    if (pre && !this.vm) await this.adopt(pre); // started early, never adopted
    const wasUp = !this.down;
    this.down = true;
    if (wasUp && this.agentConn) await this.agentConn.api.destroySandbox({}, { timeoutMs: 5000 }).catch(() => {});
    await this.store.dispose().catch(() => {});
  }

  /** The sandbox's work dir (sockets, console log, TEE label) goes last. */
  removeWorkDir(): void {
    rmSync(this.o.workDir, { recursive: true, force: true });
  }
}
