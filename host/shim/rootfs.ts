/**
 * A container's root filesystem. Where the agent runs in a VM, the guest pulls the image itself
 * and the host's rootfs is never used; where it runs on the host, the rootfs containerd prepared
 * (overlay or bind Mounts in Create) is mounted on `<bundle>/rootfs` and handed over, and
 * unmounted again on Delete or by `delete` after a crash. Each hypervisor names its way
 * (`Hypervisor.rootfs`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Mount } from '../../shared/gen/containerd/types/mount_pb.js';
import type { StorageSchema } from '../../shared/gen/kata/agent_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { CRI_IMAGE_NAME, type OciSpec } from './bundle.js';

/** Storage driver of a host-prepared rootfs; only a process-mode agent accepts it (guest/policy/inspect.ts HOST_ROOTFS). */
export const HOST_ROOTFS_DRIVER = 'cocolet.host_rootfs';
/** Where guest-pulled images are mounted in the guest (Kata's layout). */
export const GUEST_ROOTFS_DIR = '/run/kata-containers';

export type Storage = MessageInitShape<typeof StorageSchema>;

export interface RootfsInput {
  containerId: string;
  bundle: string;
  /** containerd's rootfs Mounts (none for a prepared root, `ctr run --rootfs`). */
  mounts: Mount[];
  spec: OciSpec;
  /** The hypervisor's name (for errors). */
  hypervisor: string;
}

export interface RootfsPlan {
  /** The root path the agent's OCI spec names. */
  rootPath: string;
  /** What the agent mounts or pulls for it. */
  storages: Storage[];
  /** `<bundle>/rootfs` was mounted on the host (unmount it when the container goes). */
  mounted: boolean;
}

export type RootfsSource = (i: RootfsInput) => RootfsPlan;

const guestPull = (i: RootfsInput, image: string, mountPoint: string): Storage => ({
  driver: 'image_guest_pull',
  source: image,
  fstype: 'overlay',
  mountPoint,
  driverOptions: [`image_guest_pull=${JSON.stringify({ metadata: i.spec.annotations ?? {} })}`],
});

/** The agent in a VM pulls the image itself; the host's rootfs is never used. */
export const guestPulledRootfs: RootfsSource = (i) => {
  const image = i.spec.annotations?.[CRI_IMAGE_NAME];
  if (!image) throw new CocoletError(ErrorCode.FailedPrecondition, `with the ${i.hypervisor} hypervisor the guest pulls the image itself and needs its name (io.kubernetes.cri.image-name): run the container through CRI`, { context: { container: i.containerId } });
  const rootPath = `${GUEST_ROOTFS_DIR}/${i.containerId}/rootfs`;
  return { rootPath, storages: [guestPull(i, image, rootPath)], mounted: false };
};

/**
 * The agent on the host (NOT confidential) gets containerd's rootfs, so it need not pull; the
 * image storage stays for its policy (and for a pull if the policy pins digests). Without rootfs
 * mounts it pulls, as in a VM.
 */
export const hostOrGuestPulledRootfs: RootfsSource = (i) => {
  if (i.mounts.length === 0) return guestPulledRootfs(i);
  const rootPath = mountRootfs(i.bundle, i.mounts);
  const image = i.spec.annotations?.[CRI_IMAGE_NAME];
  return { rootPath, storages: [...(image ? [guestPull(i, image, rootPath)] : []), { driver: HOST_ROOTFS_DRIVER, source: rootPath, fstype: 'bind', mountPoint: rootPath }], mounted: true };
};

/** containerd's rootfs mounted on the host, or the bundle's prepared root; no storages (test agents). */
export const hostRootfs: RootfsSource = (i) => {
  if (i.mounts.length > 0) return { rootPath: mountRootfs(i.bundle, i.mounts), storages: [], mounted: true };
  return { rootPath: resolve(i.bundle, i.spec.root?.path ?? 'rootfs'), storages: [], mounted: false };
};

export function rootfsPath(bundle: string): string {
  return join(resolve(bundle), 'rootfs');
}

/** Mounts the layers onto `<bundle>/rootfs` (one Mount, like containerd's own shims support). */
export function mountRootfs(bundle: string, mounts: Mount[]): string {
  const target = rootfsPath(bundle);
  mkdirSync(target, { recursive: true });
  if (mounts.length === 0) return target; // a prepared rootfs (ctr run --rootfs)
  if (mounts.length > 1) throw new CocoletError(ErrorCode.InvalidArgument, 'more than one rootfs mount is not supported');
  const m = mounts[0]!;
  const args = ['-t', m.type || 'bind'];
  if (m.options.length) args.push('-o', m.options.join(','));
  args.push(m.source, target);
  const r = spawnSync('mount', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new CocoletError(ErrorCode.RuntimeFailed, `mounting the rootfs failed: ${(r.stderr || r.stdout || '').trim()}`, { context: { bundle } });
  return target;
}

export function isMounted(path: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === path);
  } catch {
    return false;
  }
}

/** Unmounts `<bundle>/rootfs` if mounted (lazily if busy). */
export function unmountRootfs(bundle: string): void {
  const target = rootfsPath(bundle);
  for (let i = 0; i < 4 && isMounted(target); i++) {
    const r = spawnSync('umount', [target], { timeout: 30_000 });
    if (r.status !== 0) spawnSync('umount', ['-l', target], { timeout: 30_000 });
  }
}
