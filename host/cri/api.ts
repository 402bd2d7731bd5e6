/**
 * The CRI operations the kubelet needs, as two small interfaces owned by their consumer:
 * `CriRuntime` (RuntimeService subset) and `CriImages` (ImageService subset). The real
 * implementation is `CriClient` (client.ts, grpc-js on a unix socket); `FakeCri` (fake.ts) is the
 * in-memory one for unit tests and benchmarks. Messages are the generated CRI types.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  Container,
  ContainerConfigSchema,
  ContainerEventResponse,
  ContainerFilterSchema,
  ContainerStats,
  ContainerStatus,
  Image,
  LinuxContainerResourcesSchema,
  PodSandbox,
  PodSandboxConfigSchema,
  PodSandboxFilterSchema,
  PodSandboxStatus,
  StatusResponse,
  VersionResponse,
} from '../../shared/gen/cri/runtime/v1/api_pb.js';
import type { ErrorContext } from '../../shared/errors/errors.js';

export type PodSandboxConfigInit = MessageInitShape<typeof PodSandboxConfigSchema>;
export type ContainerConfigInit = MessageInitShape<typeof ContainerConfigSchema>;
export type PodSandboxFilterInit = MessageInitShape<typeof PodSandboxFilterSchema>;
export type ContainerFilterInit = MessageInitShape<typeof ContainerFilterSchema>;
export type LinuxContainerResourcesInit = MessageInitShape<typeof LinuxContainerResourcesSchema>;

/** Per-call options: identifiers for errors and an optional deadline override. */
export interface CriCallOptions {
  context?: ErrorContext;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  stdout: Uint8Array;
  stderr: Uint8Array;
  exitCode: number;
}

export interface CriRuntime {
  version(opts?: CriCallOptions): Promise<VersionResponse>;
  status(opts?: CriCallOptions): Promise<StatusResponse>;
  runPodSandbox(config: PodSandboxConfigInit, runtimeHandler: string, opts?: CriCallOptions): Promise<string>;
  stopPodSandbox(podSandboxId: string, opts?: CriCallOptions): Promise<void>;
  removePodSandbox(podSandboxId: string, opts?: CriCallOptions): Promise<void>;
  podSandboxStatus(podSandboxId: string, opts?: CriCallOptions): Promise<PodSandboxStatus | undefined>;
  listPodSandbox(filter?: PodSandboxFilterInit, opts?: CriCallOptions): Promise<PodSandbox[]>;
  createContainer(
    podSandboxId: string,
    config: ContainerConfigInit,
    sandboxConfig: PodSandboxConfigInit,
    opts?: CriCallOptions,
  ): Promise<string>;
  startContainer(containerId: string, opts?: CriCallOptions): Promise<void>;
  stopContainer(containerId: string, timeoutSeconds: number, opts?: CriCallOptions): Promise<void>;
  removeContainer(containerId: string, opts?: CriCallOptions): Promise<void>;
  listContainers(filter?: ContainerFilterInit, opts?: CriCallOptions): Promise<Container[]>;
  containerStatus(containerId: string, opts?: CriCallOptions): Promise<ContainerStatus | undefined>;
  execSync(containerId: string, cmd: string[], timeoutSeconds: number, opts?: CriCallOptions): Promise<ExecResult>;
  /** Changes a running container's resources (the CPU manager's reconcile loop sets `cpusetCpus`). */
  updateContainerResources?(containerId: string, linux: LinuxContainerResourcesInit, opts?: CriCallOptions): Promise<void>;
  /** Asks the runtime to reopen the container's log file (after rotation). */
  reopenContainerLog?(containerId: string, opts?: CriCallOptions): Promise<void>;
  /** Resource usage of every container (or those matching the filter), where the runtime reports it. */
  listContainerStats?(filter?: { id?: string; podSandboxId?: string; labelSelector?: Record<string, string> }, opts?: CriCallOptions): Promise<ContainerStats[]>;
  /** Container events stream, where the runtime offers it (containerd 1.6 does not). */
  getContainerEvents?(signal: AbortSignal): AsyncIterable<ContainerEventResponse>;
  /** A one-use URL on the runtime's streaming server for an exec / attach / port-forward session. */
  exec?(req: StreamExecInit, opts?: CriCallOptions): Promise<string>;
  attach?(req: StreamAttachInit, opts?: CriCallOptions): Promise<string>;
  portForward?(podSandboxId: string, ports: number[], opts?: CriCallOptions): Promise<string>;
}

export interface StreamIo {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}
export interface StreamExecInit extends StreamIo {
  containerId: string;
  cmd: string[];
}
export interface StreamAttachInit extends StreamIo {
  containerId: string;
}

export interface CriImages {
  /** The image if present locally, else undefined (never an error for "not found"). */
  imageStatus(image: string, opts?: CriCallOptions): Promise<Image | undefined>;
  pullImage(image: string, sandboxConfig?: PodSandboxConfigInit, opts?: CriCallOptions): Promise<string>;
  listImages(opts?: CriCallOptions): Promise<Image[]>;
  removeImage(image: string, opts?: CriCallOptions): Promise<void>;
  /** Image filesystem usage (mountpoint and used bytes), where the runtime reports it. */
  imageFsInfo?(opts?: CriCallOptions): Promise<{ mountpoint: string; usedBytes: number }[]>;
}
