/**
 * The files CRI writes for every container of a pod — /etc/hosts, /etc/hostname and
 * /etc/resolv.conf (containerd's sandbox files, or the kubelet's own /etc/hosts) — reach a VM
 * sandbox's containers as Kata's shim brings them: a host bind means nothing in the guest (spec.ts
 * drops them), so each file's bytes are copied into the guest with CopyFile under the
 * shared-containers folder (`<dir>/<container id>-<16 random>-<name>`, the path the guest policy's
 * CopyFile rule admits) and the container gets a bind of that copy instead. The guest policy decides
 * both the copy and the mount (KUBELET_MOUNTS admits these destinations from the shared folder).
 * The copy is taken once, at CreateContainer: a later change on the host (the kubelet rewriting
 * /etc/hosts) does not reach the guest.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { OciSpec } from '../bundle.js';

/** The guest's shared-containers folder (guest/policy/inspect.ts SHARED_CONTAINERS_DIR). */
export const GUEST_SHARED_DIR = '/run/kata-containers/shared/containers';
/** The files copied in, by destination, with the name the copy gets (Kata's names). */
export const POD_FILES: ReadonlyMap<string, string> = new Map([
  ['/etc/hosts', 'hosts'],
  ['/etc/hostname', 'hostname'],
  ['/etc/resolv.conf', 'resolv.conf'],
]);
/** A hosts / hostname / resolv.conf larger than this is not one. */
export const MAX_POD_FILE = 64 * 1024;

export interface SharedFile {
  /** Where CopyFile writes it in the guest. */
  path: string;
  data: Buffer;
  /** The mount the container gets instead of the host's. */
  mount: { destination: string; source: string; type: string; options: string[] };
}

const KEPT_OPTIONS = new Set(['bind', 'rbind', 'ro', 'rw', 'rprivate', 'private', 'nosuid', 'nodev', 'noexec']);

/**
 * The container's pod files as files to copy and mounts of the copies, in the spec's mount order
 * (of a destination bound twice, the last bind, as runc leaves it visible);
 * none when the container id is not CRI's (64 hex digits: `ctr run`); a file that is unreadable,
 * not a regular file or too large is left out (its destination then stays the image's own).
 */
export function podFileCopies(spec: OciSpec, containerId: string, read: (p: string) => Buffer = readSmallFile): SharedFile[] {
  if (!/^[0-9a-f]{64}$/.test(containerId)) return [];
  const out = new Map<string, SharedFile>();
  for (const m of spec.mounts ?? []) {
    const name = POD_FILES.get(m.destination);
    if (!name || !m.source || !(m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind'))) continue;
    let data: Buffer;
    try {
      data = read(m.source);
    } catch {
      continue;
    }
    const path = `${GUEST_SHARED_DIR}/${containerId}-${randomBytes(8).toString('hex')}-${name}`;
    const options = (m.options ?? []).filter((o) => KEPT_OPTIONS.has(o));
    if (!options.includes('bind') && !options.includes('rbind')) options.unshift('rbind');
    out.delete(m.destination); // a later bind over the same destination is the one runc would leave visible
    out.set(m.destination, { path, data, mount: { destination: m.destination, source: path, type: 'bind', options } });
  }
  return [...out.values()];
}

function readSmallFile(p: string): Buffer {
  const st = statSync(p);
  if (!st.isFile() || st.size > MAX_POD_FILE) throw new Error(`${p} is not a small regular file`);
  return readFileSync(p);
}
