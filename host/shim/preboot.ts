/**
 * Starting the sandbox's VM, and starting it as early as possible: the daemon knows from the
 * bundle, before it has even loaded the task service, whether its first task is a sandbox (or a
 * lone task) and which settings and init-data the pod asks for. Booting then overlaps the
 * daemon's own start-up and containerd's Create round trip. Kept free of the heavy modules
 * (ttrpc, generated protobuf).
 */
import { mkdirSync } from 'node:fs';
import type { Logger } from '../../shared/log/logger.js';
import { sandboxSettings, type ShimConfig } from './config.js';
import { sharesHostNetwork, taskRole, type OciSpec } from './bundle.js';
import type { Hypervisor, VmHandle } from './hypervisor.js';
import { decodeInitData, logInitData } from './initdata.js';
import { prepareVmNetwork } from './network/index.js';
import type { PodNetwork } from './network/pod-network.js';
import type { LaunchedAgent } from '../vmm/process-launch.js';

export interface Preboot {
  /** The hypervisor's name. */
  name: string;
  /** ms since epoch when the hypervisor was asked to start. */
  startedAt: number;
  vm: Promise<VmHandle>;
  /**
   * Settles once the hypervisor has been asked to start (its process is spawned): the daemon waits
   * for it before loading its heavy modules, which would otherwise delay the spawn behind their load.
   */
  launched: Promise<void>;
  /** The pod network the VM was started with (set before `vm` settles; the adopting Create connects it). */
  network?: PodNetwork;
}

export interface VmLaunch {
  config: ShimConfig;
  hypervisor: Hypervisor;
  id: string;
  workDir: string;
  /** The sandbox's OCI spec: VM settings and init-data from its annotations (as the configuration allows), its network namespace. */
  spec: OciSpec;
  /** Logs the init-data choice; carries the `sandbox` key. */
  log: Logger;
  /** The VM's own logger. */
  logger: Logger;
  /** `process`: the agent `start` already launched (early-agent.ts), adopted instead of spawning one. */
  launched?: LaunchedAgent;
}

/**
 * Applies the pod's settings, logs its init-data (source and digest, never content), makes the
 * work dir, prepares the pod network the hypervisor's way and asks the hypervisor to start;
 * resolves once it has been asked (`t0`), with the VM still booting and the network (if any)
 * still to be connected.
 */
export async function launchVm(o: VmLaunch): Promise<{ vm: Promise<VmHandle>; t0: number; network?: PodNetwork }> {
  const settings = sandboxSettings(o.config, o.spec.annotations ?? {});
  logInitData(o.log, settings);
  const initdata = settings.initData !== undefined ? decodeInitData(settings.initData) : undefined;
  mkdirSync(o.workDir, { recursive: true, mode: 0o700 });
  const launcher = await o.hypervisor.launcher(o.config, o.logger);
  const net = await prepareVmNetwork(o.hypervisor.network, o.spec, o.id, o.logger);
  const t0 = Date.now();
  const vm = launcher.start({
    id: o.id,
    stateDir: o.workDir,
    vcpus: settings.vcpus,
    memoryMiB: settings.memoryMiB,
    extraCmdline: settings.kernelParams.trim() ? settings.kernelParams.trim().split(/\s+/) : [],
    ...(settings.numaNodes?.length ? { numaNodes: settings.numaNodes } : {}),
    ...(initdata ? { initdata } : {}),
    egress: true, // the guest pulls its images itself
    ...(net.vm ? { netns: net.vm.netnsPath, ...(net.vm.nic ? { tapNics: [net.vm.nic] } : {}) } : {}),
    ...(o.launched ? { adopt: o.launched } : {}),
    logger: o.logger,
  });
  return { vm, t0, ...(net.pod ? { network: net.pod } : {}) };
}

/** Starts the VM for a sandbox or lone task; undefined for a container (its sandbox has the VM). */
export function prebootVm(o: { config: ShimConfig; hypervisor: Hypervisor; id: string; workDir: string; spec: OciSpec; logger: Logger; launched?: LaunchedAgent }): Preboot | undefined {
  // (a hostNetwork sandbox is refused by the Create, before any VM starts)
  if (taskRole(o.spec) === 'container' || sharesHostNetwork(o.spec)) return undefined;
  let launched!: () => void;
  const launchedP = new Promise<void>((res) => (launched = res));
  const pre: Preboot = { name: o.hypervisor.name, startedAt: Date.now(), vm: undefined as unknown as Promise<VmHandle>, launched: launchedP };
  pre.vm = (async () => {
    try {
      // (the daemon's logger already carries the sandbox id)
      const { vm: started, network } = await launchVm({ config: o.config, hypervisor: o.hypervisor, id: o.id, workDir: o.workDir, spec: o.spec, log: o.logger.child({ sandbox: o.id }), logger: o.logger, ...(o.launched ? { launched: o.launched } : {}) });
      if (network) pre.network = network;
      launched();
      return await started;
    } finally {
      launched();
    }
  })();
  pre.vm.catch(() => {}); // reported by the Create that adopts it
  return pre;
}
