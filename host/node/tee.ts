/**
 * What the node learns about its confidential pods' TEE from the cocolet shim: the TEE its
 * configuration launches (the Node's `cocolet.io/tee` label) and the TEE each sandbox really got
 * (the label the shim writes beside the sandbox, read for the pod's events and `cocolet status`).
 */
import { existsSync } from 'node:fs';
import type { TeeKind } from '../../shared/tee/kind.js';
import type { NodeTee } from '../kubelet/node/info.js';
import { loadShimConfig } from '../shim/config.js';
import { readTeeLabel } from '../shim/tee-label.js';

/** The TEE of this node's confidential pods, from the shim configuration (absent → `dev`). */
export function nodeTee(shimConfigPath?: string): NodeTee {
  if (!shimConfigPath || !existsSync(shimConfigPath)) return 'dev';
  const cg = loadShimConfig(shimConfigPath).hypervisor.confidentialGuest;
  return cg === 'snp' || cg === 'tdx' ? cg : 'dev';
}

/** The kubelet's `teeOf`: the label the shim wrote for a sandbox under its `runtime.state_dir`. */
export function shimTeeReader(shimStateDir: string): (sandboxId: string) => TeeKind | undefined {
  return (sandboxId) => readTeeLabel(shimStateDir, sandboxId);
}
