/**
 * DNS for containers in a VM sandbox: containerd's CRI writes the pod's resolv.conf (from the
 * sandbox's DNS config) on the host and bind-mounts it at /etc/resolv.conf; a host bind means
 * nothing in the guest (spec.ts drops them). So, as Kata's shim does, the file's bytes are copied
 * into the guest with CopyFile under the shared-containers folder
 * (`<dir>/<container id>-<16 random>-resolv.conf`, the path the guest policy's CopyFile rule admits)
 * and the container gets a bind of that copy instead. The guest policy decides both the copy and
 * the mount (KUBELET_MOUNTS admits /etc/resolv.conf from the shared folder).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { OciSpec } from '../bundle.js';

/** The guest's shared-containers folder (guest/policy/inspect.ts SHARED_CONTAINERS_DIR). */
export const GUEST_SHARED_DIR = '/run/kata-containers/shared/containers';
export const RESOLV_CONF = '/etc/resolv.conf';
/** A resolv.conf larger than this is not a resolv.conf. */
export const MAX_RESOLV_CONF = 64 * 1024;

export interface SharedFile {
  /** Where CopyFile writes it in the guest. */
  path: string;
  data: Buffer;
  /** The mount the container gets instead of the host's. */
  mount: { destination: string; source: string; type: string; options: string[] };
}

/**
 * The container's resolv.conf as a file to copy and a mount of the copy; undefined when the spec
 * binds none (ctr run), the container id is not CRI's (64 hex digits) or the file is unreadable.
 */
export function resolvConfCopy(spec: OciSpec, containerId: string, read: (p: string) => Buffer = readSmallFile): SharedFile | undefined {
  if (!/^[0-9a-f]{64}$/.test(containerId)) return undefined;
  const m = (spec.mounts ?? []).find((x) => x.destination === RESOLV_CONF && x.source && (x.type === 'bind' || (x.options ?? []).some((o) => o === 'bind' || o === 'rbind')));
  if (!m?.source) return undefined;
  let data: Buffer;
  try {
    data = read(m.source);
  } catch {
    return undefined;
  }
  const path = `${GUEST_SHARED_DIR}/${containerId}-${randomBytes(8).toString('hex')}-resolv.conf`;
  const options = (m.options ?? []).filter((o) => ['bind', 'rbind', 'ro', 'rw', 'rprivate', 'private', 'nosuid', 'nodev', 'noexec'].includes(o));
  if (!options.includes('bind') && !options.includes('rbind')) options.unshift('rbind');
  return { path, data, mount: { destination: RESOLV_CONF, source: path, type: 'bind', options } };
}

function readSmallFile(p: string): Buffer {
  const st = statSync(p);
  if (!st.isFile() || st.size > MAX_RESOLV_CONF) throw new Error(`${p} is not a small regular file`);
  return readFileSync(p);
}
