/**
 * Test fixture: one private containerd (with the standard pause + busybox images imported) per
 * test file.
 *
 *   const h = new Harness();
 *   const c = await startContainerd(h, t, { shimDir });   // undefined → the test was skipped
 *   ... c.address (CRI gRPC), c.ttrpcAddress, c.dir ...
 *   after(() => h.dispose());                              // stops containerd and cleans up
 *
 * Skips with one line when not root or when containerd / runc / ctr / busybox are missing.
 * Tarballs of the images are cached under `$COCOLET_IMAGE_CACHE` or `<tmp>/cocolet-image-cache`.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Harness } from '../../shared/testing/harness.js';
import { have, isRoot } from '../../shared/testing/harness.js';
import { launchContainerd, type Containerd, type LaunchOptions } from '../../host/containerd/launcher.js';
import { CriClient } from '../../host/cri/client.js';
import { ensureStandardImages } from '../../host/images/oci.js';

export interface ContainerdFixture {
  address: string;
  ttrpcAddress: string;
  dir: string;
  containerd: Containerd;
  stop(): Promise<void>;
}

export interface FixtureOptions extends Partial<Omit<LaunchOptions, 'dir'>> {
  /** Skip image import (default: import pause + busybox). */
  noImages?: boolean;
}

/** Why containerd tests cannot run here, or undefined when they can. */
export function containerdSkipReason(): string | undefined {
  if (!isRoot()) return 'needs root (containerd + runc)';
  for (const cmd of ['containerd', 'runc', 'ctr', 'tar', 'ip']) if (!have(cmd)) return `${cmd} is not installed`;
  if (!existsSync('/bin/busybox')) return 'busybox-static is not installed';
  if (!existsSync('/usr/lib/cni/bridge')) return 'containernetworking-plugins are not installed';
  return undefined;
}

export const imageCacheDir = (): string => process.env.COCOLET_IMAGE_CACHE ?? join(tmpdir(), 'cocolet-image-cache');

interface Skippable {
  skip(message?: string): void;
}

/**
 * Starts containerd under a fresh temp dir owned by `h`. When the environment cannot run it,
 * calls `t.skip(reason)` (if given) and returns undefined.
 */
export async function startContainerd(h: Harness, t?: Skippable, opts: FixtureOptions = {}): Promise<ContainerdFixture | undefined> {
  const why = containerdSkipReason();
  if (why) {
    t?.skip(why);
    return undefined;
  }
  // Short path: unix socket paths are limited to 108 bytes.
  const dir = h.tempDir('ccd-');
  const c = await launchContainerd({ ...opts, dir });
  h.defer(`containerd ${c.pid}`, () => c.stop());
  if (!opts.noImages) {
    const cri = new CriClient({ endpoint: c.address });
    try {
      await ensureStandardImages({ address: c.address, cacheDir: imageCacheDir(), cri });
    } finally {
      cri.close();
    }
  }
  return { address: c.address, ttrpcAddress: c.ttrpcAddress, dir: c.dir, containerd: c, stop: () => c.stop() };
}
