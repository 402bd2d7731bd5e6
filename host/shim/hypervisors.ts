/**
 * The hypervisors a shim configuration can name, registered by name. Each loads its module only
 * when chosen (QEMU's pulls in swtpm, image and disk code the process hypervisor never needs).
 * `hypervisor.module` names a module whose default export is one more `Hypervisor` (the tests'
 * fake agent is brought in this way; production code never imports it).
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import type { ShimConfig } from './config.js';
import type { Hypervisor, VmLauncher } from './hypervisor.js';
import { guestPulledRootfs, hostOrGuestPulledRootfs } from './rootfs.js';

const qemu: Hypervisor = {
  name: 'qemu',
  rootfs: guestPulledRootfs,
  network: 'tap',
  agentOnHost: false,
  async launcher(cfg: ShimConfig, logger: Logger): Promise<VmLauncher> {
    const { QemuHypervisor } = await import('../vmm/qemu.js');
    const h = cfg.hypervisor;
    return new QemuHypervisor({
      logger,
      ...(h.path ? { qemuBinary: h.path } : {}),
      ...(h.imageDir ? { imageDir: h.imageDir } : {}),
      confidentialGuest: h.confidentialGuest,
      ...(h.firmware ? { firmware: h.firmware } : {}),
      ...(h.snpCpu ? { snpCpu: h.snpCpu } : {}),
    });
  },
};

const processHypervisor: Hypervisor = {
  name: 'process',
  rootfs: hostOrGuestPulledRootfs,
  network: 'namespace',
  agentOnHost: true,
  async launcher(_cfg: ShimConfig, logger: Logger): Promise<VmLauncher> {
    const { ProcessHypervisor } = await import('../vmm/process.js');
    return new ProcessHypervisor({ logger });
  },
};

const registry = new Map<string, Hypervisor>([qemu, processHypervisor].map((h) => [h.name, h]));

/** Adds an implementation (a name registered twice is an error). */
export function registerHypervisor(h: Hypervisor): void {
  const had = registry.get(h.name);
  if (had && had !== h) throw new CocoletError(ErrorCode.ConfigInvalid, `hypervisor ${JSON.stringify(h.name)} is registered twice`);
  registry.set(h.name, h);
}

/** The implementation the configuration names (after loading its `hypervisor.module`, if any). */
export async function hypervisorOf(cfg: ShimConfig): Promise<Hypervisor> {
  const { kind, module } = cfg.hypervisor;
  if (module) {
    if (!isAbsolute(module)) throw new CocoletError(ErrorCode.ConfigInvalid, `hypervisor.module must be an absolute path (got ${JSON.stringify(module)})`);
    const m = (await import(pathToFileURL(module).href)) as { default?: Hypervisor };
    if (!m.default || typeof m.default.launcher !== 'function' || typeof m.default.rootfs !== 'function') {
      throw new CocoletError(ErrorCode.ConfigInvalid, `hypervisor.module ${module} has no hypervisor as its default export`);
    }
    if (m.default.name !== kind) throw new CocoletError(ErrorCode.ConfigInvalid, `hypervisor.module ${module} provides ${JSON.stringify(m.default.name)}, not hypervisor.kind ${JSON.stringify(kind)}`);
    registerHypervisor(m.default);
  }
  const h = registry.get(kind);
  if (!h) throw new CocoletError(ErrorCode.ConfigInvalid, `hypervisor.kind: no hypervisor ${JSON.stringify(kind)} (known: ${[...registry.keys()].join(', ')})`);
  return h;
}
