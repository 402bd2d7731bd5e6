/**
 * Pure helpers that read what a request asks for (image, argv, env, host mounts, privileges), used
 * by the policy engine and by the spec sanitiser so both agree.
 */
import type { CreateContainerRequest, Storage } from '../../shared/gen/kata/agent_pb.js';
import type { Mount } from '../../shared/gen/kata/oci_pb.js';
import { GUEST_FS_TYPES } from '../../shared/agent-policy/parse.js';

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

/** The default capability set of an unprivileged container (containerd/Docker defaults). */
export { DEFAULT_CAPABILITIES } from '../../shared/agent-policy/defaults.js';

export function imageReference(req: CreateContainerRequest): string | undefined {
  for (const s of req.storages) {
    if (s.driver !== IMAGE_GUEST_PULL) continue;
    if (s.source) return s.source;
    break; // the first image_guest_pull storage decides
  }
  return req.OCI?.Annotations[IMAGE_NAME_ANNOTATION] || undefined;
}

/** True when a path has `..` components or is not absolute. */
export function hasTraversal(p: string): boolean {
  // a `.` or `..` component (the path starts with `/`, so every component follows one: no `/.`, none), or NUL
  return !p.startsWith('/') || (p.includes('/.') && DOT_COMPONENT.test(p)) || p.includes('\0');
}
const DOT_COMPONENT = /\/\.{1,2}(?:\/|$)/;

/** Whether runc bind-mounts it: the type says bind (or none), or the options do, whatever the type. */
export function isBindMount(m: Pick<Mount, 'type' | 'options'>): boolean {
  if (m.type === 'bind' || m.type === '') return true;
  // one pass, compared inline (two includes() calls cost more on the few options of a mount)
  const o = m.options;
  for (let i = 0; i < o.length; i++) if (o[i] === 'bind' || o[i] === 'rbind') return true;
  return false;
}

/** A bind of a file the host copied in under the shared path (CopyFile). */
export function isSharedBind(m: Pick<Mount, 'type' | 'source' | 'options'>): boolean {
  return isBindMount(m) && isSharedSource(m.source);
}

/** A clean path under the shared folder (what a shared bind's source must be). */
export function isSharedSource(source: string): boolean {
  // hasTraversal(source) once the prefix is there: the path is absolute, and a `.`/`..` component can start no earlier than
  // the prefix's last `/`, so the search for `/.` starts there. lastIndexOf(prefix, 0) is startsWith, about four times
  // faster on a fresh 100-character string (a memory compare)
  return source.lastIndexOf(SHARED_PREFIX, 0) === 0 && source.indexOf('\0') === -1 && (source.indexOf('/.', SHARED_PREFIX.length - 1) === -1 || !DOT_COMPONENT.test(source));
}
const SHARED_PREFIX = SHARED_CONTAINERS_DIR + '/';

/** A mount is host-chosen unless it is a fresh kernel fs (not bound) or a bind of a file the host copied in under the shared path. */
export function isHostMount(m: Pick<Mount, 'type' | 'source' | 'options'>): boolean {
  if (isBindMount(m)) return !isSharedBind(m);
  return !GUEST_FS_TYPES.has(m.type);
}

/** Storages the host chose; in process mode the host's prepared rootfs is not one (the host owns that agent anyway). */
export function hostStorages(storages: readonly Storage[], processMode = false): Storage[] {
  return storages.filter((s) => isHostStorage(s, processMode));
}

/** Whether any storage is host-chosen (hostStorages(...).length > 0 without the list). */
export function hasHostStorage(storages: readonly Storage[], processMode = false): boolean {
  for (const s of storages) if (isHostStorage(s, processMode)) return true;
  return false;
}

const isHostStorage = (s: Storage, processMode: boolean): boolean => s.driver !== IMAGE_GUEST_PULL && !(processMode && s.driver === HOST_ROOTFS);

/** The host-prepared rootfs storage of a request, if any. */
export function hostRootfsStorage(req: CreateContainerRequest): Storage | undefined {
  return req.storages.find((s) => s.driver === HOST_ROOTFS);
}
