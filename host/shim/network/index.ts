/**
 * Pod networking for VM sandboxes (see pod-network.ts for the whole path). This entry is light (no
 * generated protobuf): the daemon's early VM start reads it before its heavy modules load.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import type { OciSpec } from '../bundle.js';
import type { PodNetwork } from './pod-network.js';

/** What the hypervisor gets: the namespace (the process agent joins it) and the NIC QEMU attaches. */
export interface VmNetwork {
  netnsPath: string;
  nic?: { tap: string; mac: string };
}

/**
 * The pod's network namespace: the `network` namespace's path in the sandbox's OCI spec (CRI puts
 * the one it made and CNI set up there). Undefined when there is none to join (`ctr run`: a
 * `network` namespace without path; no `network` entry at all is hostNetwork, refused elsewhere).
 */
export function podNetnsPath(spec: OciSpec): string | undefined {
  const list = spec.linux?.namespaces;
  if (!Array.isArray(list)) return undefined;
  const net = list.find((n) => typeof n === 'object' && n !== null && (n as { type?: unknown }).type === 'network') as { path?: unknown } | undefined;
  if (net?.path === undefined || net.path === '') return undefined;
  if (typeof net.path !== 'string' || !net.path.startsWith('/') || net.path.includes('\0')) {
    throw new CocoletError(ErrorCode.InvalidArgument, `the OCI spec's network namespace path ${JSON.stringify(net.path)} is not an absolute path`);
  }
  return net.path;
}

/**
 * How a hypervisor's VM joins the pod's network (`Hypervisor.network`): `namespace` = its agent
 * runs in the namespace (process); `tap` = a tap in the namespace is its NIC (qemu); `none`.
 */
export type VmNetworkMode = 'namespace' | 'tap' | 'none';

/**
 * The network a sandbox's VM gets: `namespace` joins it; `tap` scans it and attaches a tap (the
 * PodNetwork connects it once QEMU runs); `none` gets none.
 */
export async function prepareVmNetwork(mode: VmNetworkMode, spec: OciSpec, sandboxId: string, logger: Logger): Promise<{ vm?: VmNetwork; pod?: PodNetwork }> {
  const netnsPath = podNetnsPath(spec);
  if (!netnsPath || mode === 'none') return {};
  if (mode === 'namespace') return { vm: { netnsPath } };
  const { PodNetwork, scanPodNetwork } = await import('./pod-network.js');
  const scan = await scanPodNetwork(netnsPath).catch((e: unknown) => {
    throw e instanceof CocoletError ? e.withContext({ sandbox: sandboxId }) : e;
  });
  const pod = new PodNetwork({ sandboxId, scan, logger: logger.child({ sandbox: sandboxId, component: 'pod-network' }) });
  return { vm: { netnsPath, nic: pod.nic }, pod };
}
