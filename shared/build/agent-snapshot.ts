/**
 * The `process` hypervisor's agent snapshot: a V8 startup snapshot of the guest image's agent
 * bundle (`cocolet-agent.cjs`), made by the guest image tooling beside the bundle (never inside
 * the initramfs: a VM's /init runs the bundle itself), and used by the host's process launcher
 * when its stamp matches. Started as `node --snapshot-blob <blob> -- <bundle> <args>`, the agent
 * skips compiling the bundle and initializing its modules (the protobuf registries, the policy
 * engine, ttrpc): measured ~40 ms of its ~80 ms of CPU before it listens (host/shim/README.md).
 *
 * A blob is good only for the Node that made it and the bundle bytes it was made from, at the
 * path it was made at (module URLs are baked in): the stamp records those. The bundle's content
 * is hashed, not its mtime (the image build re-dates an unchanged bundle). Here, in shared/, as the
 * stamp's one definition for its writer (guest/image) and its reader (host/vmm).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface AgentSnapshotStamp {
  node: string;
  bundle: string;
  bundleSha256: string;
}

/** COCOLET_AGENT_SNAPSHOT=0: the process agent runs its bundle even when a snapshot is there. */
export const AGENT_SNAPSHOT_ENV = 'COCOLET_AGENT_SNAPSHOT';

/** The blob made from an agent bundle (`….cjs` → `….snapshot.blob`). */
export const agentBlobPath = (bundle: string): string => bundle.replace(/\.cjs$/, '.snapshot.blob');
export const agentStampPath = (bundle: string): string => `${agentBlobPath(bundle)}.json`;

/** The stamp a snapshot of `bundle` made by this Node would carry now. */
export function agentStampOf(bundle: string): AgentSnapshotStamp {
  return { node: process.version, bundle, bundleSha256: createHash('sha256').update(readFileSync(bundle)).digest('hex') };
}

/**
 * The node arguments that run `bundle` from its snapshot (`--snapshot-blob <blob> -- <bundle>`,
 * the agent's own arguments follow, so its argv reads as when the bundle runs), when the stamp
 * beside it matches this Node and the bundle's bytes; else undefined.
 */
export function agentSnapshotArgs(bundle: string, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (env[AGENT_SNAPSHOT_ENV] === '0' || !bundle.endsWith('.cjs')) return undefined;
  try {
    const want = JSON.parse(readFileSync(agentStampPath(bundle), 'utf8')) as Partial<AgentSnapshotStamp>;
    const have = agentStampOf(bundle);
    if (want.node !== have.node || want.bundle !== have.bundle || want.bundleSha256 !== have.bundleSha256) return undefined;
    return ['--snapshot-blob', agentBlobPath(bundle), '--', bundle];
  } catch {
    return undefined;
  }
}
