/**
 * Test peer: Debian's docker-registry on host loopback with a busybox image (built from
 * busybox-static, pushed with skopeo). Shared by the guest agent tests and the guest benchmark;
 * the registry itself is host/images/registry.ts (what `cocolet up` uses), owned by the harness here.
 */
import { pushBusybox, startLocalRegistry, REGISTRY_BUSYBOX_REPO, REGISTRY_BUSYBOX_TAG } from '../../host/images/registry.js';
import type { Harness } from '../../shared/testing/harness.js';

export { buildBusyboxLayout, freePort } from '../../host/images/registry.js';
export const TEST_IMAGE_REPO = REGISTRY_BUSYBOX_REPO;
export const TEST_IMAGE_TAG = REGISTRY_BUSYBOX_TAG;

export interface TestRegistry {
  port: number;
  /** `127.0.0.1:<port>` (from the host); from a QEMU user-net guest use `10.0.2.2:<port>`. */
  host: string;
  /** Pushed busybox image `127.0.0.1:<port>/cocolet/busybox:1`. */
  image: string;
}

/** Starts docker-registry on a free loopback port and pushes the busybox image to it. */
export async function startRegistry(h: Harness): Promise<TestRegistry> {
  const dir = h.tempDir('cocolet-registry-');
  const reg = await startLocalRegistry({ dir: `${dir}/registry` });
  h.defer('docker-registry', () => reg.stop());
  const image = pushBusybox(reg, { workDir: `${dir}/img` });
  return { port: reg.port, host: reg.host, image };
}
