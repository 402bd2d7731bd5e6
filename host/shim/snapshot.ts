/**
 * The shim daemon's V8 startup snapshot: `npm run build` (pack.ts) runs the shim bundle under
 * `node --build-snapshot`, which loads everything the daemon loads (pino, ttrpc, the generated
 * protobuf registries, the task service, the process hypervisor) and saves the initialized heap.
 * `start` then runs the daemon as `node --snapshot-blob <blob> -- <argv>`: it skips compiling the
 * bundle and initializing those modules (measured: host/shim/README.md). `start` itself runs the
 * installed binary, a smaller bundle without the daemon's modules (deserializing the snapshot's
 * heap costs more than the little `start` needs). Without a usable snapshot the daemon runs its
 * bundle (`….daemon.cjs`).
 *
 * A blob is only good for the Node binary that made it and the bundle it was made from, at the
 * path it was made at (module URLs are baked in): the stamp beside it records those, and `start`
 * falls back to the bundle when anything differs or COCOLET_SHIM_SNAPSHOT=0. Code deserialized from a
 * Node 20 snapshot cannot `import()` at run time, so a configuration that names `hypervisor.module`
 * (the tests' fake) gets the bundle too.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';

export const SNAPSHOT_ENV = 'COCOLET_SHIM_SNAPSHOT';

export interface SnapshotStamp {
  node: string;
  bundle: string;
  bundleBytes: number;
  bundleMtimeMs: number;
}

/** The daemon's bundle beside the installed one (`….cjs` → `….daemon.cjs`). */
export const daemonBundlePath = (bundle: string): string => bundle.replace(/\.cjs$/, '.daemon.cjs');
/** The snapshot made from a daemon bundle. */
export const blobPath = (bundle: string): string => bundle.replace(/\.cjs$/, '.snapshot.blob');
export const stampPath = (bundle: string): string => `${blobPath(bundle)}.json`;

/** What the bundle's file says about itself now (for the stamp). */
export function stampOf(bundle: string): SnapshotStamp {
  const st = statSync(bundle);
  return { node: process.version, bundle, bundleBytes: st.size, bundleMtimeMs: st.mtimeMs };
}

/**
 * The node arguments that start the daemon from `entry` (the running shim script): the snapshot's
 * when it matches this Node and this bundle, else the script itself. The daemon's own argv follows.
 */
export function daemonNodeArgs(entry: string, o: { snapshot: boolean } = { snapshot: true }): string[] {
  if (!entry.endsWith('.cjs')) return [entry];
  const daemon = daemonBundlePath(entry);
  try {
    const want = JSON.parse(readFileSync(stampPath(daemon), 'utf8')) as SnapshotStamp;
    const have = stampOf(daemon);
    if (o.snapshot && process.env[SNAPSHOT_ENV] !== '0' && want.node === have.node && want.bundle === have.bundle && want.bundleBytes === have.bundleBytes && want.bundleMtimeMs === have.bundleMtimeMs) {
      return ['--snapshot-blob', blobPath(daemon), '--'];
    }
    return [daemon];
  } catch {
    return existsSync(daemon) ? [daemon] : [entry];
  }
}
