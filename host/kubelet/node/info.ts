/**
 * The Node's identity: nodeInfo (versions, OS, kernel, machine and boot ids), addresses and labels.
 *
 * Labels: `kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch` (and the beta
 * os/arch labels upstream still sets), `cocolet.io/confidential: "true"` and `cocolet.io/tee`
 * (`snp`, `tdx` or `dev`: which TEE the node's confidential pods get, as host/node reads it from
 * the shim's `hypervisor.confidential_guest`; `dev` = the development TEE, a VM boundary only), plus
 * `--node-labels`. A node may set only labels NodeRestriction allows (not `node-role...`).
 */
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces, release } from 'node:os';

export const LABEL_CONFIDENTIAL = 'cocolet.io/confidential';
export const LABEL_TEE = 'cocolet.io/tee';

export type NodeTee = 'snp' | 'tdx' | 'dev';

const read = (p: string): string => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
};

/** cocolet's version (package.json), as `v<version>-cocolet`. */
export function kubeletVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `v${pkg.version ?? '0.0.0'}-cocolet`;
  } catch {
    return 'v0.0.0-cocolet';
  }
}

/** GOARCH names, as Kubernetes labels and nodeInfo use them. */
export function goArch(arch: string = process.arch): string {
  const m: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return m[arch] ?? arch;
}

export interface NodeSystemInfo {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  containerRuntimeVersion: string;
  kubeletVersion: string;
  kubeProxyVersion: string;
  operatingSystem: string;
  architecture: string;
}

/** `runtime` is the CRI Version answer (`containerd` + `1.6.20`). */
export function nodeSystemInfo(runtime: { runtimeName: string; runtimeVersion: string }): NodeSystemInfo {
  const osRelease = read('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux';
  return {
    machineID: read('/etc/machine-id'),
    systemUUID: read('/sys/class/dmi/id/product_uuid').toLowerCase(),
    bootID: read('/proc/sys/kernel/random/boot_id'),
    kernelVersion: release(),
    osImage: pretty,
    containerRuntimeVersion: `${runtime.runtimeName}://${runtime.runtimeVersion}`,
    kubeletVersion: kubeletVersion(),
    kubeProxyVersion: '',
    operatingSystem: 'linux',
    architecture: goArch(),
  };
}

export interface NodeAddress {
  type: 'InternalIP' | 'ExternalIP' | 'Hostname';
  address: string;
}

/** The first non-internal IPv4 address of this machine, else 127.0.0.1. */
export function defaultNodeIp(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function nodeAddresses(o: { nodeIp?: string; hostname?: string }): NodeAddress[] {
  return [
    { type: 'InternalIP', address: o.nodeIp ?? defaultNodeIp() },
    { type: 'Hostname', address: (o.hostname ?? hostname()).toLowerCase() },
  ];
}

export function nodeLabels(o: { nodeName: string; tee: NodeTee; extra?: Record<string, string> }): Record<string, string> {
  const arch = goArch();
  return {
    'kubernetes.io/hostname': o.nodeName,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': arch,
    [LABEL_CONFIDENTIAL]: 'true',
    [LABEL_TEE]: o.tee,
    ...o.extra,
  };
}
