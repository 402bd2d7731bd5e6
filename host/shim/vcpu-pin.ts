/**
 * The kubelet's cpusets applied to the sandbox VM. Under the static CPU manager policy the kubelet
 * gives every container a cpuset (its exclusive CPUs, or the shared pool) in the OCI spec
 * (`linux.resources.cpu.cpus`) at create and in UpdateContainerResources. Inside a VM those host
 * CPU numbers mean nothing (the guest has its own vCPUs), so the shim keeps them from the guest
 * and pins the VM's vCPU threads instead:
 *
 *   - the target is the union of the cpusets of the sandbox's live containers;
 *   - as many CPUs as vCPUs: vCPU i runs on the i-th CPU (1:1, the exclusive-CPU case);
 *   - otherwise every vCPU thread may run on any CPU of the union;
 *   - when no container has a cpuset any more, the threads get every online CPU back.
 *
 * Only QEMU VMs have vCPU threads; for the process and fake hypervisors this does nothing.
 */
import type { Logger } from '../../shared/log/logger.js';
import { CpuSet } from '../../shared/cpuset/cpuset.js';
import { setThreadAffinity, vcpuThreads } from '../vmm/pin.js';
import type { VcpuThread } from '../vmm/hypervisor.js';
import { readFileSync } from 'node:fs';

export interface VcpuPinningOptions {
  threads?: (vmPid: number) => VcpuThread[];
  setAffinity?: (tid: number, cpuList: string) => Promise<void>;
  onlineCpus?: () => string;
}

/** The cpuset in an OCI LinuxResources object (`cpu.cpus`), if any. */
export function cpusOfResources(resources: unknown): string | undefined {
  const cpu = (resources as { cpu?: { cpus?: unknown } } | undefined)?.cpu;
  return typeof cpu?.cpus === 'string' && cpu.cpus.trim() !== '' ? cpu.cpus.trim() : undefined;
}

export class VcpuPinning {
  private readonly sets = new Map<string, CpuSet>();
  private applied: string | undefined;
  private readonly threads: (pid: number) => VcpuThread[];
  private readonly setAffinity: (tid: number, cpuList: string) => Promise<void>;
  private readonly onlineCpus: () => string;

  constructor(
    private readonly log: Logger,
    o: VcpuPinningOptions = {},
  ) {
    this.threads = o.threads ?? vcpuThreads;
    this.setAffinity = o.setAffinity ?? setThreadAffinity;
    this.onlineCpus = o.onlineCpus ?? (() => readFileSync('/sys/devices/system/cpu/online', 'utf8').trim());
  }

  /** Records a container's cpuset (undefined: none); true if the union changed. */
  record(containerId: string, cpus: string | undefined): boolean {
    const before = this.union().toString();
    if (cpus === undefined) this.sets.delete(containerId);
    else {
      try {
        this.sets.set(containerId, CpuSet.parse(cpus));
      } catch (e) {
        this.log.warn({ container: containerId, cpuset: cpus, err: (e as Error).message }, 'ignoring a cpuset that is not a CPU list');
        this.sets.delete(containerId);
      }
    }
    return this.union().toString() !== before;
  }

  union(): CpuSet {
    return CpuSet.EMPTY.union(...this.sets.values());
  }

  /** Pins the VM's vCPU threads to the current union (no-op if nothing changed since last time). */
  async apply(vmPid: number): Promise<{ cpuset: string; mode: '1:1' | 'shared' | 'reset' } | undefined> {
    const threads = this.threads(vmPid);
    if (threads.length === 0) return undefined;
    const union = this.union();
    let plan: { tid: number; cpus: string }[];
    let mode: '1:1' | 'shared' | 'reset';
    if (union.isEmpty()) {
      if (this.applied === undefined) return undefined; // never pinned: leave the VM as it started
      const all = this.onlineCpus();
      plan = threads.map((t) => ({ tid: t.tid, cpus: all }));
      mode = 'reset';
    } else if (union.size === threads.length) {
      const ids = union.toArray();
      plan = threads.map((t, i) => ({ tid: t.tid, cpus: String(ids[i]) }));
      mode = '1:1';
    } else {
      plan = threads.map((t) => ({ tid: t.tid, cpus: union.toString() }));
      mode = 'shared';
    }
    const key = `${mode}:${plan.map((p) => `${p.tid}=${p.cpus}`).join(';')}`;
    if (key === this.applied) return undefined;
    for (const p of plan) await this.setAffinity(p.tid, p.cpus);
    this.applied = mode === 'reset' ? undefined : key;
    const cpuset = mode === 'reset' ? plan[0]!.cpus : union.toString();
    this.log.info({ vmPid, cpuset, vcpus: threads.length, mode }, 'vcpu threads pinned');
    return { cpuset, mode };
  }
}
