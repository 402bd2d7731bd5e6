/**
 * Pod spec → CRI configs (kl/kuberuntime/kuberuntime_sandbox.go, kuberuntime_container.go):
 * sandbox config (metadata, hostname, log directory, labels, namespace options, port mappings)
 * and container config (image, command/args, env, mounts, log path `<name>/<restart>.log`,
 * labels/annotations the kubelet reads back, namespace options, resources). Namespace options are
 * set on BOTH the sandbox and each container, and oom_score_adj is never negative.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { NamespaceMode, Protocol } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import type { ContainerConfigInit, PodSandboxConfigInit } from '../../cri/api.js';
import { Annotations, ContainerAnnotations, Labels, type Container, type Pod } from '../api/types.js';
import { parseQuantity } from '../config/kubeletconfig.js';
import { podLimits, podOverhead, podRequests } from '../cm/requests.js';
import type { CriMount } from '../volumes/volumes.js';

/** `<podLogsDir>/<namespace>_<name>_<uid>` */
export function podLogDir(podLogsDir: string, pod: Pod): string {
  return join(podLogsDir, `${pod.metadata.namespace ?? 'default'}_${pod.metadata.name}_${pod.metadata.uid}`);
}

export function containerLogPath(name: string, restartCount: number): string {
  return `${name}/${restartCount}.log`;
}

/** Stable short hash of a container spec (changes restart the container). */
export function containerHash(c: Container): string {
  return createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export function qosClass(pod: Pod): QosClass {
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  let any = false;
  let guaranteed = true;
  for (const c of all) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const r of ['cpu', 'memory']) {
      const q = req[r] ?? lim[r];
      if (q !== undefined) any = true;
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** The kubelet's oom_score_adj by QoS, clamped at 0 (negative values need CAP_SYS_RESOURCE). */
export function oomScoreAdj(pod: Pod, c: Container, memoryCapacity = 8 * 1024 ** 3): number {
  const q = qosClass(pod);
  if (q === 'BestEffort') return 1000;
  if (q === 'Guaranteed') return 0;
  const req = parseQuantity(c.resources?.requests?.memory ?? 0) ?? 0;
  const adj = 1000 - Math.floor((1000 * req) / memoryCapacity);
  return Math.min(999, Math.max(2, adj));
}

function cpuMillis(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q * 1000;
  if (q.endsWith('m')) return Number(q.slice(0, -1));
  return Number(q) * 1000;
}

function namespaceOptions(pod: Pod): { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode } {
  return {
    network: pod.spec.hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD,
    pid: pod.spec.hostPID ? NamespaceMode.NODE : pod.spec.shareProcessNamespace ? NamespaceMode.POD : NamespaceMode.CONTAINER,
    ipc: pod.spec.hostIPC ? NamespaceMode.NODE : NamespaceMode.POD,
  };
}

export interface SandboxOptions {
  podLogsDir: string;
  attempt: number;
  /** The pod's cgroup (e.g. `/kubepods/pod<uid>`); '' lets the runtime choose. */
  cgroupParent?: string;
  /** NUMA nodes granted to the pod's memory (memory manager), as a Linux list; becomes `io.cocolet.numa-nodes`. */
  numaNodes?: string;
}

/** The pod's annotations, with `io.cocolet.numa-nodes` only as the kubelet grants it (never the pod's own value). */
function sandboxAnnotations(own: Record<string, string> | undefined, numaNodes: string | undefined): Record<string, string> {
  const out = { ...own };
  delete out[Annotations.numaNodes];
  if (numaNodes) out[Annotations.numaNodes] = numaNodes;
  return out;
}

export function sandboxConfig(pod: Pod, o: SandboxOptions): PodSandboxConfigInit {
  const md = pod.metadata;
  const portMappings = pod.spec.containers.flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => p.hostPort)
      .map((p) => ({
        containerPort: p.containerPort,
        hostPort: p.hostPort!,
        protocol: p.protocol === 'UDP' ? Protocol.UDP : p.protocol === 'SCTP' ? Protocol.SCTP : Protocol.TCP,
      })),
  );
  return {
    metadata: { name: md.name, namespace: md.namespace ?? 'default', uid: md.uid!, attempt: o.attempt },
    hostname: pod.spec.hostNetwork ? '' : (pod.spec.hostname ?? md.name).slice(0, 63),
    logDirectory: podLogDir(o.podLogsDir, pod),
    labels: { ...md.labels, [Labels.podName]: md.name, [Labels.podNamespace]: md.namespace ?? 'default', [Labels.podUid]: md.uid! },
    annotations: sandboxAnnotations(md.annotations, o.numaNodes),
    portMappings,
    linux: { cgroupParent: o.cgroupParent ?? '', securityContext: { namespaceOptions: namespaceOptions(pod) }, ...sandboxResources(pod) },
  };
}

/** CRI LinuxContainerResources from a cpu request and limit (cores) and a memory limit (bytes), as the kubelet's calculateLinuxResources. */
function linuxResources(cpuRequest: number | undefined, cpuLimit: number | undefined, memoryLimit: number | undefined): { cpuShares: bigint; cpuPeriod: bigint; cpuQuota: bigint; memoryLimitInBytes?: bigint } {
  const milli = (v: number | undefined): number => Math.round((v ?? 0) * 1000);
  const shares = Math.max(2, Math.floor((milli(cpuRequest ?? cpuLimit) * 1024) / 1000));
  const quota = milli(cpuLimit) === 0 ? 0 : Math.max(1000, Math.floor(milli(cpuLimit) * 100));
  return { cpuShares: BigInt(shares), cpuPeriod: 100_000n, cpuQuota: BigInt(quota), ...(memoryLimit ? { memoryLimitInBytes: BigInt(Math.floor(memoryLimit)) } : {}) };
}

/**
 * The sandbox's pod-level resources and overhead, as the kubelet's applySandboxResources: resources
 * from the containers' requests and limits without the overhead; the overhead as requests = limits.
 * A runtime that sizes the sandbox from them sees them (containerd >= 1.7 hands them to its shim as
 * `io.kubernetes.cri.sandbox-*` annotations; containerd 1.6 ignores them).
 */
function sandboxResources(pod: Pod): { resources: ReturnType<typeof linuxResources>; overhead?: ReturnType<typeof linuxResources> } {
  const req = podRequests(pod, { excludeOverhead: true });
  const lim = podLimits(pod, { excludeOverhead: true });
  const oh = podOverhead(pod);
  return {
    resources: linuxResources(req.cpu, lim.cpu, lim.memory),
    ...(pod.spec.overhead ? { overhead: linuxResources(oh.cpu ?? 0, oh.cpu ?? 0, oh.memory) } : {}),
  };
}

/**
 * What resource managers add to a container's config (the device manager's Allocate answers):
 * envs go before the container's own, mounts and annotations after, device nodes and CDI names as given.
 */
export interface ResourceRunOptions {
  envs: { key: string; value: string }[];
  mounts: { containerPath: string; hostPath: string; readonly: boolean }[];
  devices: { containerPath: string; hostPath: string; permissions: string }[];
  annotations: Record<string, string>;
  cdiDevices: string[];
  /** The CPU manager's cpuset (exclusive CPUs or the shared pool), Linux list syntax. */
  cpusetCpus?: string;
  /** The memory manager's NUMA nodes for the container's memory, Linux list syntax. */
  cpusetMems?: string;
}

export interface ContainerOptions {
  restartCount: number;
  image: string;
  mounts: CriMount[];
  init: boolean;
  /** The resolved environment (VolumeManager.envFor); default: the literal `value`s of `env`. */
  envs?: { key: string; value: string }[];
  /** Devices and the like from the resource managers. */
  resources?: ResourceRunOptions;
}

export function containerConfig(pod: Pod, c: Container, o: ContainerOptions): ContainerConfigInit {
  const md = pod.metadata;
  const annotations: Record<string, string> = {
    [ContainerAnnotations.hash]: containerHash(c),
    [ContainerAnnotations.restartCount]: String(o.restartCount),
    [ContainerAnnotations.terminationGrace]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
  };
  if (c.lifecycle?.preStop) annotations[ContainerAnnotations.preStop] = JSON.stringify(c.lifecycle.preStop);
  if (o.init) annotations[ContainerAnnotations.initContainer] = 'true';
  const cpuLimit = cpuMillis(c.resources?.limits?.cpu);
  const cpuRequest = cpuMillis(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu);
  const memLimit = c.resources?.limits?.memory !== undefined ? parseQuantity(c.resources.limits.memory) : undefined;
  const sc = c.securityContext ?? {};
  const extra = o.resources;
  const ownEnvs = o.envs ?? (c.env ?? []).map((e) => ({ key: e.name, value: e.value ?? '' }));
  const ownMounts = new Set(o.mounts.map((m) => m.containerPath));
  return {
    metadata: { name: c.name, attempt: o.restartCount },
    image: { image: o.image },
    command: c.command ?? [],
    args: c.args ?? [],
    workingDir: c.workingDir ?? '',
    envs: [...(extra?.envs ?? []), ...ownEnvs].map((e) => ({ key: e.key, value: new TextEncoder().encode(e.value) })),
    mounts: [...o.mounts, ...(extra?.mounts ?? []).filter((m) => !ownMounts.has(m.containerPath))].map((m) => ({
      containerPath: m.containerPath,
      hostPath: m.hostPath,
      readonly: m.readonly,
    })),
    devices: (extra?.devices ?? []).map((d) => ({ containerPath: d.containerPath, hostPath: d.hostPath, permissions: d.permissions })),
    CDIDevices: (extra?.cdiDevices ?? []).map((name) => ({ name })),
    labels: { [Labels.podName]: md.name, [Labels.podNamespace]: md.namespace ?? 'default', [Labels.podUid]: md.uid!, [Labels.containerName]: c.name },
    annotations: { ...extra?.annotations, ...annotations },
    logPath: containerLogPath(c.name, o.restartCount),
    stdin: Boolean(c.stdin),
    tty: Boolean(c.tty),
    linux: {
      resources: {
        oomScoreAdj: BigInt(oomScoreAdj(pod, c)),
        cpuShares: BigInt(cpuRequest !== undefined ? Math.max(2, Math.floor((cpuRequest * 1024) / 1000)) : 2),
        ...(cpuLimit !== undefined ? { cpuPeriod: 100_000n, cpuQuota: BigInt(Math.max(1000, Math.floor(cpuLimit * 100))) } : {}),
        ...(memLimit !== undefined ? { memoryLimitInBytes: BigInt(Math.floor(memLimit)) } : {}),
        ...(extra?.cpusetCpus ? { cpusetCpus: extra.cpusetCpus } : {}),
        ...(extra?.cpusetMems ? { cpusetMems: extra.cpusetMems } : {}),
      },
      securityContext: {
        namespaceOptions: namespaceOptions(pod),
        privileged: Boolean(sc.privileged),
        readonlyRootfs: Boolean(sc.readOnlyRootFilesystem),
        ...(sc.runAsUser !== undefined ? { runAsUser: { value: BigInt(sc.runAsUser) } } : {}),
        ...(sc.runAsGroup !== undefined ? { runAsGroup: { value: BigInt(sc.runAsGroup) } } : {}),
      },
    },
  };
}
