/**
 * Makes the `process` hypervisor's agent snapshot beside the image's agent bundle
 * (shared/build/agent-snapshot.ts): `node --build-snapshot <bundle>` runs the bundle's module
 * initialization, and the agent's entry (guest/cmd/cocolet-agent.ts) leaves its main function to
 * run once the snapshot is deserialized. Not part of the initramfs; the VM never sees it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { agentBlobPath, agentStampOf, agentStampPath, type AgentSnapshotStamp } from '../../shared/build/agent-snapshot.js';

/** Builds (or keeps, when its stamp matches) the snapshot of `bundle`; on failure none is left and the reason is returned. */
export function ensureAgentSnapshot(bundle: string): { built: boolean } | { error: string } {
  const stamp = agentStampOf(bundle);
  try {
    const old = JSON.parse(readFileSync(agentStampPath(bundle), 'utf8')) as AgentSnapshotStamp;
    if (old.node === stamp.node && old.bundle === stamp.bundle && old.bundleSha256 === stamp.bundleSha256) return { built: false };
  } catch {
    /* none yet */
  }
  rmSync(agentStampPath(bundle), { force: true });
  // (concurrent builders: each writes its own blob and renames it; the stamp comes last)
  const tmp = `${agentBlobPath(bundle)}.tmp-${process.pid}`;
  const r = spawnSync(process.execPath, ['--snapshot-blob', tmp, '--build-snapshot', bundle], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    rmSync(agentBlobPath(bundle), { force: true });
    return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' ') };
  }
  renameSync(tmp, agentBlobPath(bundle));
  const stampTmp = `${agentStampPath(bundle)}.tmp-${process.pid}`;
  writeFileSync(stampTmp, `${JSON.stringify(stamp)}\n`);
  renameSync(stampTmp, agentStampPath(bundle));
  return { built: true };
}
