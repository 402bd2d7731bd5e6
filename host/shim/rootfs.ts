/**
 * The container root filesystem containerd prepared (overlay or bind Mounts in Create) mounted on
 * `<bundle>/rootfs`, and unmounted again on Delete or by `delete` after a crash.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Mount } from '../../shared/gen/containerd/types/mount_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

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
