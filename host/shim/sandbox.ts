/**
 * One pod sandbox served by this shim: the task table — every task (containers and execs)
 * containerd created in it, their processes, stdio and events — over its VM (sandbox-vm.ts: the
 * VM, the agent client on it, the pod network, vCPU pinning, one teardown for every way down).
 * The task API in service.ts is a thin layer over these methods.
 *
 * Roles: the CRI pause container boots the VM and is otherwise virtual (its "process" is the VM);
 * later CRI containers become CreateContainer/StartContainer on the same VM; a lone `ctr run` task
 * is both: it boots the VM and runs as a real container in it.
 */
import { join } from 'node:path';
import { timestampFromDate, type Any } from '@bufbuild/protobuf/wkt';
import type { Logger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode, isCocoletError } from '../../shared/errors/errors.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import type { Mount } from '../../shared/gen/containerd/types/mount_pb.js';
import { MountSchema, type Process, type Spec } from '../../shared/gen/kata/oci_pb.js';
import { create } from '@bufbuild/protobuf';
import { TaskCreateSchema, TaskStartSchema, TaskExitSchema, TaskDeleteSchema, TaskExecAddedSchema, TaskExecStartedSchema, TaskOOMSchema, TaskPausedSchema, TaskResumedSchema } from '../../shared/gen/containerd/events/task_pb.js';
import { Status } from '../../shared/gen/containerd/types/task/task_pb.js';
import type { ShimConfig } from './config.js';
import { readSpec, taskRole, sharesHostNetwork, HOST_NETWORK_REFUSED, type OciSpec, type TaskRole } from './bundle.js';
import { podFileCopies } from './network/pod-files.js';
import { convertProcess, convertResources, convertSpec, sysctlsOf, withPodSysctls } from './spec.js';
import { unmountRootfs } from './rootfs.js';
import { startStdio, type StdioCopy } from './stdio.js';
import type { AgentConnection } from './agent.js';
import type { Hypervisor, VmHandle } from './hypervisor.js';
import type { Preboot } from './preboot.js';
import { SandboxVm } from './sandbox-vm.js';
import type { EventSink } from './events.js';
import { TaskProcess, type TaskIo, type ExitInfo } from './task.js';
import { metricsFromAgentStats } from './metrics.js';
import { cpusOfResources, type VcpuPinningOptions } from './vcpu-pin.js';

/** Exit status reported for processes that died with their VM (SIGKILL-style). */
export const VM_LOST_EXIT_STATUS = 137;
/** How long an exit waits for the last output to be copied. */
export const STDIO_DRAIN_MS = 2000;

export const TOPIC = {
  create: '/tasks/create',
  start: '/tasks/start',
  exit: '/tasks/exit',
  delete: '/tasks/delete',
  execAdded: '/tasks/exec-added',
  execStarted: '/tasks/exec-started',
  oom: '/tasks/oom',
  paused: '/tasks/paused',
  resumed: '/tasks/resumed',
} as const;

interface Exec {
  proc: TaskProcess;
  process: Process;
  stdio?: StdioCopy;
}

interface Container {
  id: string;
  role: TaskRole;
  bundle: string;
  rootfs: Mount[];
  mounted: boolean;
  init: TaskProcess;
  stdio?: StdioCopy;
  execs: Map<string, Exec>;
}

export interface CreateInput extends TaskIo {
  id: string;
  bundle: string;
  rootfs: Mount[];
}

export interface SandboxOptions {
  id: string;
  config: ShimConfig;
  hypervisor: Hypervisor;
  events: EventSink;
  logger: Logger;
  /** Called once the VM runs (the daemon records its pid for `delete`). */
  onVmStarted?: (vm: VmHandle, workDir: string) => void;
  /** A VM the daemon already started for this sandbox (see preboot.ts); adopted by the first Create. */
  preboot?: Preboot;
  /** Test seams of the vCPU pinning (thread lookup, affinity setter). */
  vcpuPinning?: VcpuPinningOptions;
}

export class Sandbox {
  private readonly vm: SandboxVm;
  /** The sandbox spec's sysctls, which every container of the pod gets (spec.ts withPodSysctls). */
  private podSysctls: Record<string, string> = {};
  private readonly containers = new Map<string, Container>();
  private readonly log: Logger;
  readonly workDir: string;

  constructor(private readonly opts: SandboxOptions) {
    this.log = opts.logger.child({ sandbox: opts.id });
    this.workDir = join(opts.config.runtime.stateDir, opts.id);
    this.vm = new SandboxVm({
      id: opts.id,
      config: opts.config,
      hypervisor: opts.hypervisor,
      workDir: this.workDir,
      log: this.log,
      ...(opts.onVmStarted ? { onVmStarted: opts.onVmStarted } : {}),
      ...(opts.preboot ? { preboot: opts.preboot } : {}),
      ...(opts.vcpuPinning ? { vcpuPinning: opts.vcpuPinning } : {}),
      onLost: () => this.vmLost(),
      onOom: (containerId) => {
        if (this.containers.has(containerId)) this.opts.events.publish(TOPIC.oom, TaskOOMSchema, { containerId });
      },
    });
  }

  get vmPid(): number {
    return this.vm.pid;
  }

  get taskCount(): number {
    return this.containers.size;
  }

  private get tornDown(): boolean {
    return this.vm.tornDown;
  }

  private get agent(): AgentConnection['api'] {
    return this.vm.agent;
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw new CocoletError(ErrorCode.NotFound, `task ${id} not found`, { context: { container: id } });
    return c;
  }

  private process(id: string, execId: string): { c: Container; proc: TaskProcess; exec?: Exec } {
    const c = this.container(id);
    if (!execId) return { c, proc: c.init };
    const exec = c.execs.get(execId);
    if (!exec) throw new CocoletError(ErrorCode.NotFound, `exec ${execId} not found in task ${id}`, { context: { container: id } });
    return { c, proc: exec.proc, exec };
  }

  /** The VM or its agent went away: every task that has not exited exits now. */
  private vmLost(): void {
    for (const c of this.containers.values()) {
      for (const p of [c.init, ...[...c.execs.values()].map((e) => e.proc)]) {
        if (p.status !== Status.CREATED || p === c.init) this.exitProcess(p, VM_LOST_EXIT_STATUS);
      }
      c.stdio?.close();
    }
  }

  /** Stops the VM and removes what the sandbox made (idempotent). */
  async teardown(): Promise<void> {
    await this.vm.stop();
    for (const c of this.containers.values()) {
      c.stdio?.close();
      for (const e of c.execs.values()) e.stdio?.close();
      if (c.mounted) unmountRootfs(c.bundle);
    }
    this.vm.removeWorkDir();
  }

  private exitProcess(p: TaskProcess, status: number): void {
    if (p.markExited(status)) {
      this.opts.events.publish(TOPIC.exit, TaskExitSchema, { containerId: p.containerId, id: p.execId || p.containerId, pid: p.pid, exitStatus: p.exit!.status, exitedAt: timestampFromDate(p.exit!.at) });
    }
  }

  /** Waits for the agent's WaitProcess, lets output drain, records the exit and publishes it. */
  private watchExit(p: TaskProcess, stdio: StdioCopy | undefined): void {
    const agent = this.agent;
    void (async () => {
      let status = VM_LOST_EXIT_STATUS;
      try {
        status = (await agent.waitProcess({ containerId: p.containerId, execId: p.execId })).status;
      } catch (e) {
        if (this.tornDown) return; // vmLost publishes
        this.log.warn({ container: p.containerId, err: (e as Error).message }, 'waiting for the process failed');
      }
      if (stdio) await Promise.race([stdio.done, delay(STDIO_DRAIN_MS)]);
      stdio?.close();
      this.exitProcess(p, status);
    })();
  }

  // ---- task API operations ----

  async create(input: CreateInput): Promise<number> {
    if (this.containers.has(input.id)) throw new CocoletError(ErrorCode.AlreadyExists, `task ${input.id} already exists`, { context: { container: input.id } });
    const spec = readSpec(input.bundle);
    const role = taskRole(spec);
    const log = this.log.child({ container: input.id });
    if (role !== 'container' && sharesHostNetwork(spec)) throw new CocoletError(ErrorCode.FailedPrecondition, HOST_NETWORK_REFUSED, { context: { sandbox: this.opts.id, container: input.id } });
    if (role !== 'container' && !this.vm.started) await this.vm.boot(spec);
    if (role === 'sandbox') this.podSysctls = sysctlsOf(spec);
    if (!this.vm.started) throw new CocoletError(ErrorCode.FailedPrecondition, 'the sandbox of this container is not running', { context: { container: input.id } });
    const c: Container = { id: input.id, role, bundle: input.bundle, rootfs: input.rootfs, mounted: false, init: new TaskProcess(input.id, '', this.vm.pid, input), execs: new Map() };
    if (role !== 'sandbox') {
      const { rootPath, storages, mounted } = this.opts.hypervisor.rootfs({ containerId: input.id, bundle: input.bundle, mounts: input.rootfs, spec, hypervisor: this.opts.hypervisor.name });
      c.mounted = mounted;
      const { spec: converted, droppedMounts, sandboxPidns } = convertSpec(spec, rootPath, { hostCpuset: this.opts.hypervisor.agentOnHost });
      const agentSpec = withPodSysctls(converted, this.podSysctls);
      if (droppedMounts.length) log.info({ mounts: droppedMounts }, 'host bind mounts are not passed into the sandbox');
      try {
        // (a VM off the pod network, the tests' fake, gets no pod DNS either)
        if (this.opts.hypervisor.network !== 'none') await this.copyPodFiles(spec, input.id, agentSpec.Mounts);
        await this.agent.createContainer({ containerId: input.id, execId: input.id, OCI: agentSpec, storages, sandboxPidns }, { timeoutMs: this.opts.config.agent.createContainerTimeoutS * 1000 });
      } catch (e) {
        if (c.mounted) unmountRootfs(input.bundle);
        throw e;
      }
    }
    this.containers.set(input.id, c);
    if (role !== 'sandbox') await this.vm.cpusetChanged(input.id, cpusOfResources((spec.linux as { resources?: unknown } | undefined)?.resources));
    this.opts.events.publish(TOPIC.create, TaskCreateSchema, { containerId: input.id, bundle: input.bundle, rootfs: input.rootfs, io: { stdin: input.stdin, stdout: input.stdout, stderr: input.stderr, terminal: input.terminal }, pid: c.init.pid });
    log.info({ role }, 'task created');
    return c.init.pid;
  }

  /** The pod's hosts, hostname and resolv.conf into the guest (CopyFile) and binds of the copies in the container (network/pod-files.ts). */
  private async copyPodFiles(spec: OciSpec, containerId: string, mounts: Spec['Mounts']): Promise<void> {
    for (const f of podFileCopies(spec, containerId)) {
      await this.agent.copyFile({ path: f.path, fileSize: BigInt(f.data.length), fileMode: 0o100644, dirMode: 0o40755, offset: 0n, data: f.data });
      mounts.push(create(MountSchema, f.mount));
    }
  }

  async start(id: string, execId: string): Promise<number> {
    const { c, proc, exec } = this.process(id, execId);
    if (proc.status !== Status.CREATED) throw new CocoletError(ErrorCode.FailedPrecondition, `task ${proc.label} was already started`, { context: { container: id } });
    if (c.role === 'sandbox' && !exec) {
      proc.markRunning();
      this.opts.events.publish(TOPIC.start, TaskStartSchema, { containerId: id, pid: proc.pid });
      return proc.pid;
    }
    const agent = this.agent;
    const io = { agent, containerId: id, execId, stdin: proc.io.stdin, stdout: proc.io.stdout, stderr: proc.io.stderr, logger: this.log };
    if (exec) {
      await agent.execProcess({ containerId: id, execId, process: exec.process });
      exec.stdio = startStdio(io);
      proc.markRunning();
      this.opts.events.publish(TOPIC.execStarted, TaskExecStartedSchema, { containerId: id, execId, pid: proc.pid });
      this.watchExit(proc, exec.stdio);
    } else {
      await agent.startContainer({ containerId: id });
      c.stdio = startStdio(io);
      proc.markRunning();
      this.opts.events.publish(TOPIC.start, TaskStartSchema, { containerId: id, pid: proc.pid });
      this.watchExit(proc, c.stdio);
    }
    return proc.pid;
  }

  async wait(id: string, execId: string): Promise<ExitInfo> {
    return this.process(id, execId).proc.exited;
  }

  async kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    const { c, proc } = this.process(id, execId);
    if (proc.exit) return;
    if (c.role === 'sandbox' && !execId) {
      // The pause "process" is the VM itself: a terminating signal ends it.
      if (proc.status === Status.CREATED || [1, 2, 9, 15].includes(signal)) this.exitProcess(proc, 128 + signal);
      return;
    }
    if (proc.status === Status.CREATED) {
      this.exitProcess(proc, 128 + signal);
      return;
    }
    if (this.tornDown) return;
    // an exit that raced the signal is no failure of it (containerd's StopContainer fails on an error)
    await this.agent.signalProcess({ containerId: id, execId: all ? '' : execId, signal }).catch((e: unknown) => {
      if (!proc.exit) throw e;
    });
  }

  async delete(id: string, execId: string): Promise<ExitInfo & { pid: number }> {
    const { c, proc, exec } = this.process(id, execId);
    if (proc.status === Status.RUNNING || proc.status === Status.PAUSED) {
      throw new CocoletError(ErrorCode.FailedPrecondition, `task ${proc.label} is still running`, { context: { container: id } });
    }
    if (!proc.exit) proc.markExited(0);
    const exit = proc.exit!;
    if (exec) {
      exec.stdio?.close();
      c.execs.delete(execId);
      this.opts.events.publish(TOPIC.delete, TaskDeleteSchema, { containerId: id, id: execId, pid: proc.pid, exitStatus: exit.status, exitedAt: timestampFromDate(exit.at) });
      return { pid: proc.pid, ...exit };
    }
    c.stdio?.close();
    for (const e of c.execs.values()) e.stdio?.close();
    if (c.role !== 'sandbox' && !this.tornDown) {
      await this.agent.removeContainer({ containerId: id, timeout: 10 }, { timeoutMs: 15_000 }).catch((e: unknown) => {
        if (!isCocoletError(e, ErrorCode.NotFound)) this.log.warn({ container: id, err: (e as Error).message }, 'agent RemoveContainer failed');
      });
    }
    if (c.mounted) unmountRootfs(c.bundle);
    c.mounted = false;
    this.containers.delete(id);
    if (c.role === 'container') await this.vm.cpusetChanged(id, undefined);
    if (c.role !== 'container') {
      // The sandbox (or lone task) goes: everything still in it dies with the VM.
      for (const other of this.containers.values()) this.exitProcess(other.init, VM_LOST_EXIT_STATUS);
      await this.teardown();
    }
    this.opts.events.publish(TOPIC.delete, TaskDeleteSchema, { containerId: id, id, pid: proc.pid, exitStatus: exit.status, exitedAt: timestampFromDate(exit.at) });
    this.log.info({ container: id }, 'task deleted');
    return { pid: proc.pid, ...exit };
  }

  async exec(id: string, execId: string, io: TaskIo, processJson: Uint8Array): Promise<void> {
    const c = this.container(id);
    if (!execId) throw new CocoletError(ErrorCode.InvalidArgument, 'exec id is required');
    if (c.execs.has(execId)) throw new CocoletError(ErrorCode.AlreadyExists, `exec ${execId} already exists`, { context: { container: id } });
    if (c.init.exit) throw new CocoletError(ErrorCode.FailedPrecondition, `task ${id} has exited`, { context: { container: id } });
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(Buffer.from(processJson).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new CocoletError(ErrorCode.InvalidArgument, 'exec spec is not a JSON OCI process', { cause: e });
    }
    c.execs.set(execId, { proc: new TaskProcess(id, execId, this.vmPid, io), process: convertProcess(json) });
    this.opts.events.publish(TOPIC.execAdded, TaskExecAddedSchema, { containerId: id, execId });
  }

  state(id: string, execId: string): { proc: TaskProcess; bundle: string } {
    const { c, proc } = this.process(id, execId);
    return { proc, bundle: c.bundle };
  }

  async pause(id: string, paused: boolean): Promise<void> {
    const c = this.container(id);
    if (c.role !== 'sandbox') await (paused ? this.agent.pauseContainer({ containerId: id }) : this.agent.resumeContainer({ containerId: id }));
    c.init.setPaused(paused);
    for (const e of c.execs.values()) if (e.proc.status === Status.RUNNING || e.proc.status === Status.PAUSED) e.proc.setPaused(paused);
    if (paused) this.opts.events.publish(TOPIC.paused, TaskPausedSchema, { containerId: id });
    else this.opts.events.publish(TOPIC.resumed, TaskResumedSchema, { containerId: id });
  }

  async closeIO(id: string, execId: string, stdin: boolean): Promise<void> {
    const { c, exec } = this.process(id, execId);
    if (!stdin || this.tornDown) return;
    // While stdin is being copied, the copy closes the agent's stdin after the last byte (stdio.ts).
    const copy = exec ? exec.stdio : c.stdio;
    if (copy?.closeStdin) return copy.closeStdin();
    await this.agent.closeStdin({ containerId: id, execId }).catch((e: unknown) => {
      // A guest policy that keeps stdin from the host also refuses to close it: nothing to do.
      if (!isCocoletError(e, ErrorCode.PolicyDenied) && !isCocoletError(e, ErrorCode.PermissionDenied)) throw e;
    });
  }

  async resize(id: string, execId: string, width: number, height: number): Promise<void> {
    this.process(id, execId);
    await this.agent.ttyWinResize({ containerId: id, execId, row: height, column: width });
  }

  /** cgroup metrics of a container from the guest (the sandbox task has none of its own). */
  async stats(id: string): Promise<Any> {
    const c = this.container(id);
    if (c.role === 'sandbox') throw new CocoletError(ErrorCode.NotFound, 'the sandbox task has no metrics of its own; its containers have', { context: { sandbox: this.opts.id, container: id } });
    return metricsFromAgentStats(await this.agent.statsContainer({ containerId: id }));
  }

  async update(id: string, resourcesJson: Uint8Array | undefined): Promise<void> {
    const c = this.container(id);
    if (c.role === 'sandbox' || !resourcesJson?.length) return;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(Buffer.from(resourcesJson).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new CocoletError(ErrorCode.InvalidArgument, 'resources are not JSON OCI LinuxResources', { cause: e });
    }
    await this.agent.updateContainer({ containerId: id, resources: convertResources(json, { hostCpuset: this.opts.hypervisor.agentOnHost }) });
    const cpus = cpusOfResources(json);
    if (cpus !== undefined) await this.vm.cpusetChanged(id, cpus); // no cpuset in an update: unchanged
  }

  has(id: string): boolean {
    return this.containers.has(id);
  }
}
