/**
 * The shim tells the node which TEE a sandbox really got. containerd 1.6's CRI hands nothing
 * from a runtime shim to the kubelet but the task's pid and exit status, so the shim writes the
 * TEE kind into its sandbox folder (`<runtime.state_dir>/<sandbox id>/tee`, mode 0700 folder,
 * removed with the sandbox) and the kubelet on the same host reads it for the pod's events and
 * `cocolet status`. The label is for the operator's honesty, not a security claim: the host
 * writes it about itself; only the guest's attestation evidence proves a TEE to a relying party.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEE_KINDS, type TeeKind } from '../../shared/tee/kind.js';

export const TEE_LABEL_FILE = 'tee';

export function writeTeeLabel(sandboxDir: string, tee: TeeKind): void {
  writeFileSync(join(sandboxDir, TEE_LABEL_FILE), `${tee}\n`, { mode: 0o600 });
}

/** The label of a running sandbox, or undefined when the shim wrote none (or not yet). */
export function readTeeLabel(shimStateDir: string, sandboxId: string): TeeKind | undefined {
  if (!/^[A-Za-z0-9_.-]+$/.test(sandboxId)) return undefined;
  try {
    const v = readFileSync(join(shimStateDir, sandboxId, TEE_LABEL_FILE), 'utf8').trim();
    return (TEE_KINDS as readonly string[]).includes(v) ? (v as TeeKind) : undefined;
  } catch {
    return undefined;
  }
}
