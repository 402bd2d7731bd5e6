/**
 * Builds the container manager (runc, the image store and puller, layer unpacking). Imported
 * dynamically by the agent on the first request that needs it, so none of this code, nor the
 * Node built-ins it uses (child_process, zlib, crypto), loads before Health answers.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { digestOf } from '../initdata/builtins.js';
import type { PolicyGate } from '../policy/gate.js';
import { ImageStore } from '../pull/store.js';
import { ContainerManager, type ContainerManagerOptions } from '../runtime/containers.js';
import { Runc } from '../runtime/runc.js';

export interface RuntimeOptions {
  stateDir: string;
  runcBinary?: string;
  /** runc must not pivot_root (the root is the initramfs). */
  noPivot: boolean;
  insecureRegistries: string[];
  registryMirrors: Record<string, string>;
  /** Where the guest's `/` is for CopyFile-d files. */
  sharedRoot: string;
  processMode: boolean;
  gate: PolicyGate;
  logger: Logger;
  /** Sealed secrets in CreateContainer (agent/secrets.ts). */
  secrets?: ContainerManagerOptions['secrets'];
}

export function createContainerManager(o: RuntimeOptions): ContainerManager {
  const images = new ImageStore({ root: join(o.stateDir, 'images'), logger: o.logger, insecureRegistries: o.insecureRegistries, registryMirrors: o.registryMirrors });
  const runc = new Runc({ binary: o.runcBinary, root: join(o.stateDir, 'runc'), noPivot: o.noPivot });
  const cgroupParent = `/cocolet-${digestOf('sha256', Buffer.from(o.stateDir)).toString('hex').slice(0, 8)}`;
  const gate = o.gate;
  return new ContainerManager({
    stateDir: o.stateDir, runc, images, logger: o.logger, cgroupParent, sharedRoot: o.sharedRoot,
    // No policy admits a bind of a host path (mount sources are guest or shared): the sanitiser refuses them too.
    allowHostMounts: () => false,
    checkImageDigest: (d, req) => gate.checkImageDigest(req, d),
    checkImageConfig: (req, config) => gate.checkImageConfig(req, config),
    keepSetuid: (req) => gate.keepsSetuid(req),
    // output the host may not read is drained and discarded (counted), never left to block the process
    outputReadable: (stream, containerId, execId) => gate.wouldAllow(stream === 'stdout' ? 'ReadStdout' : 'ReadStderr', { containerId, execId }),
    // Process mode only (NOT confidential): run on the rootfs containerd prepared instead of pulling,
    // unless the policy pins digests (only a pull learns the digest).
    ...(o.processMode ? { hostRootfsAllowed: () => !gate.pinsImageDigests() } : {}),
    ...(o.secrets ? { secrets: o.secrets } : {}),
  });
}
