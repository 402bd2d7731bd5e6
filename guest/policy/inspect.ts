/**
 * Pure helpers that read what a request asks for (image, argv, env, host mounts, privileges), used
 * by the policy engine and by the spec sanitiser so both agree.
 */
import type { CreateContainerRequest, Storage } from '../../shared/gen/kata/agent_pb.js';
import type { Mount, Spec } from '../../shared/gen/kata/oci_pb.js';

/** Storage driver for images the guest pulls itself. */
export const IMAGE_GUEST_PULL = 'image_guest_pull';
/**
 * Storage driver naming a root file system the host already prepared (containerd's snapshot,
 * mounted by the shim). Only a process-mode agent (on the host, NOT confidential) may use it; a
 * VM agent treats it as host-chosen storage (denied by the policies that forbid host mounts) and
 * refuses it anyway.
 */
export const HOST_ROOTFS = 'cocolet.host_rootfs';
/** Guest folder holding files the host copied in with CopyFile (Kata's shared container path). */
export const SHARED_CONTAINERS_DIR = '/run/kata-containers/shared/containers';
/** OCI annotation carrying the image name (containerd CRI). */
export const IMAGE_NAME_ANNOTATION = 'io.kubernetes.cri.image-name';

/** The default capability set of an unprivileged container (Docker/containerd defaults). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Mount types that create guest-private file systems (never expose host data). */
const PRIVATE_FS_TYPES = new Set(['proc', 'tmpfs', 'devpts', 'mqueue', 'sysfs', 'cgroup', 'cgroup2', 'shm']);

export function imageReference(req: CreateContainerRequest): string | undefined {
  const st = req.storages.find((s) => s.driver === IMAGE_GUEST_PULL);
  if (st && st.source) return st.source;
  return req.OCI?.Annotations[IMAGE_NAME_ANNOTATION] || undefined;
}

/** True when a path has `..` components or is not absolute. */
export function hasTraversal(p: string): boolean {
  return !p.startsWith('/') || p.split('/').some((c) => c === '..' || c === '.') || p.includes('\0');
}

/** A mount is host-chosen unless it is a private fs or a bind of a file the host copied in under the shared path. */
export function isHostMount(m: Pick<Mount, 'type' | 'source' | 'options'>): boolean {
  if (PRIVATE_FS_TYPES.has(m.type)) return false;
  const bind = m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind');
  if (bind && !hasTraversal(m.source) && m.source.startsWith(SHARED_CONTAINERS_DIR + '/')) return false;
  return true;
}

/** Storages the host chose; in process mode the host's prepared rootfs is not one (the host owns that agent anyway). */
export function hostStorages(storages: readonly Storage[], processMode = false): Storage[] {
  return storages.filter((s) => s.driver !== IMAGE_GUEST_PULL && !(processMode && s.driver === HOST_ROOTFS));
}

/** The host-prepared rootfs storage of a request, if any. */
export function hostRootfsStorage(req: CreateContainerRequest): Storage | undefined {
  return req.storages.find((s) => s.driver === HOST_ROOTFS);
}

/** Reasons a spec asks for privileges beyond an ordinary container (empty when none). */
export function privilegeRequests(spec: Spec | undefined): string[] {
  if (!spec) return [];
  const why: string[] = [];
  const caps = spec.Process?.Capabilities;
  if (caps) {
    const all = new Set([...caps.Bounding, ...caps.Effective, ...caps.Permitted, ...caps.Inheritable, ...caps.Ambient]);
    const extra = [...all].filter((c) => !DEFAULT_CAPABILITIES.includes(c));
    if (extra.length > 0) why.push(`capabilities ${extra.sort().join(',')}`);
  }
  if ((spec.Linux?.Devices.length ?? 0) > 0) why.push('host devices');
  if (spec.Linux?.Namespaces.some((n) => n.Path !== '')) why.push('joining existing namespaces');
  if (spec.Process?.ApparmorProfile === 'unconfined') why.push('apparmor unconfined');
  if (spec.Hooks && [spec.Hooks.Prestart, spec.Hooks.Poststart, spec.Hooks.Poststop, spec.Hooks.CreateRuntime, spec.Hooks.CreateContainer, spec.Hooks.StartContainer].some((h) => h.length > 0)) {
    why.push('OCI hooks');
  }
  return why;
}
