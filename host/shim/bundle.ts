/**
 * What the shim learns from a task's bundle (containerd's cwd for `start`/`delete`): the OCI spec
 * in config.json, the task's role in its pod, the id that groups tasks onto one shim, and the
 * shim's own files in the bundle (`address`, `cocolet-shim.json`).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

export const CRI_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const CRI_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
export const CRI_IMAGE_NAME = 'io.kubernetes.cri.image-name';
export const CRI_SANDBOX_NAME = 'io.kubernetes.cri.sandbox-name';
export const CRI_SANDBOX_NAMESPACE = 'io.kubernetes.cri.sandbox-namespace';
/** containerd's runc shim honours this grouping annotation first; so do we. */
export const GROUP_ANNOTATION = 'io.containerd.runc.v2.group';

/** The subset of the OCI runtime spec the shim reads (the rest is passed through). */
export interface OciSpec {
  ociVersion?: string;
  process?: Record<string, unknown> & { args?: string[]; env?: string[]; cwd?: string; terminal?: boolean };
  root?: { path?: string; readonly?: boolean };
  hostname?: string;
  mounts?: { destination: string; source?: string; type?: string; options?: string[] }[];
  annotations?: Record<string, string>;
  linux?: Record<string, unknown>;
}

/**
 * sandbox: the CRI pause container (starts the VM);
 * container: a CRI container in an existing sandbox;
 * standalone: a lone task (`ctr run`), which is its own sandbox and runs a real container.
 */
export type TaskRole = 'sandbox' | 'container' | 'standalone';

export function readSpec(bundle: string): OciSpec {
  try {
    return JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as OciSpec;
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `cannot read the OCI spec in the bundle: ${(e as Error).message}`, { cause: e });
  }
}

export function taskRole(spec: OciSpec): TaskRole {
  const a = spec.annotations ?? {};
  if (a[CRI_CONTAINER_TYPE] === 'sandbox') return 'sandbox';
  if (a[CRI_CONTAINER_TYPE] === 'container' && a[CRI_SANDBOX_ID]) return 'container';
  return 'standalone';
}

export const HOST_NETWORK_REFUSED = "a confidential pod cannot share the host's network namespace (hostNetwork: true)";

/**
 * True when a sandbox (or lone task) would run in the host's network namespace: its spec lists
 * namespaces but no `network` one (containerd drops it for hostNetwork pods and `ctr run --net-host`).
 * A VM sandbox cannot honour that, and a confidential pod must not pretend to.
 */
export function sharesHostNetwork(spec: OciSpec): boolean {
  const ns = spec.linux?.namespaces;
  return Array.isArray(ns) && !ns.some((n) => typeof n === 'object' && n !== null && (n as { type?: unknown }).type === 'network');
}

/** The id whose shim serves this task: the group annotation, else the CRI sandbox id, else the task id. */
export function groupId(spec: OciSpec, id: string): string {
  const a = spec.annotations ?? {};
  return a[GROUP_ANNOTATION] || a[CRI_SANDBOX_ID] || id;
}

/** `<dir>/<hex sha256("<containerd address>/<namespace>/<group id>")>`, the same formula as containerd's shims. */
export function socketPath(dir: string, address: string, namespace: string, group: string): string {
  return join(dir, createHash('sha256').update(`${address}/${namespace}/${group}`).digest('hex'));
}

/** The shim's record in a bundle, used by `delete` when the daemon is gone. */
export interface ShimRecord {
  version: 1;
  id: string;
  group: string;
  socket: string;
  /** The daemon's pid (its process group id too). */
  daemonPid: number;
  /** Where the sandbox keeps its working files (only in the group's own bundle). */
  workDir?: string;
  /** The VM (or agent process) pid, so `delete` can stop it if the daemon died. */
  vmPid?: number;
  vmPgid?: number;
}

export const RECORD_FILE = 'cocolet-shim.json';

/** Atomically writes a file in the bundle (temp + rename). */
export function writeBundleFile(bundle: string, name: string, text: string): void {
  const tmp = join(bundle, `.${name}.tmp`);
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, join(bundle, name));
}

export function writeRecord(bundle: string, rec: ShimRecord): void {
  writeBundleFile(bundle, RECORD_FILE, `${JSON.stringify(rec)}\n`);
}

export function readRecord(bundle: string): ShimRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(bundle, RECORD_FILE), 'utf8')) as ShimRecord;
    return r.version === 1 ? r : undefined;
  } catch {
    return undefined;
  }
}

export function removeRecord(bundle: string): void {
  rmSync(join(bundle, RECORD_FILE), { force: true });
}
