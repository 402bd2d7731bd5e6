/**
 * Starting the sandbox's VM as early as possible: the daemon knows from the bundle, before it has
 * even loaded the task service, whether its first task is a sandbox (or a lone task) and which
 * settings and init-data the pod asks for. Booting then overlaps the daemon's own start-up and
 * containerd's Create round trip. Kept free of the heavy modules (ttrpc, generated protobuf).
 */
import { mkdirSync } from 'node:fs';
import type { Logger } from '../../shared/log/logger.js';
import { sandboxSettings, type ShimConfig } from './config.js';
import { sharesHostNetwork, taskRole, type OciSpec } from './bundle.js';
import { createHypervisor, type VmHandle } from './hypervisor.js';
import { logInitData } from './initdata.js';
import { prepareVmNetwork } from './network/index.js';
import type { PodNetwork } from './network/pod-network.js';

export interface Preboot {
  kind: string;
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

/** Starts the VM for a sandbox or lone task; undefined for a container (its sandbox has the VM). */
export function prebootVm(o: { config: ShimConfig; id: string; workDir: string; spec: OciSpec; logger: Logger }): Preboot | undefined {
  // (a hostNetwork sandbox is refused by the Create, before any VM starts)
  if (taskRole(o.spec) === 'container' || sharesHostNetwork(o.spec)) return undefined;
  const startedAt = Date.now();
  let launched!: () => void;
  const launchedP = new Promise<void>((res) => (launched = res));
  const pre: Preboot = { kind: o.config.hypervisor.kind, startedAt, vm: undefined as unknown as Promise<VmHandle>, launched: launchedP };
  pre.vm = (async () => {
    try {
      const settings = sandboxSettings(o.config, o.spec.annotations ?? {});
      logInitData(o.logger.child({ sandbox: o.id }), settings);
      mkdirSync(o.workDir, { recursive: true, mode: 0o700 });
      const hv = await createHypervisor(o.config, o.logger);
      const net = await prepareVmNetwork(hv.kind, o.spec, o.id, o.logger);
      if (net.pod) pre.network = net.pod;
      // (the daemon's logger already carries the sandbox id)
      const started = hv.start({ id: o.id, workDir: o.workDir, vcpus: settings.vcpus, memoryMiB: settings.memoryMiB, kernelParams: settings.kernelParams, ...(settings.numaNodes ? { numaNodes: settings.numaNodes } : {}), ...(settings.initData !== undefined ? { initData: settings.initData } : {}), ...(net.vm ? { network: net.vm } : {}), logger: o.logger });
      launched();
      return await started;
    } finally {
      launched();
    }
  })();
  pre.vm.catch(() => {}); // reported by the Create that adopts it
  return pre;
}
