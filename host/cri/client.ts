/**
 * CRI client over grpc-js on a unix socket (RuntimeService + ImageService, `runtime.v1`).
 *
 * API: `const cri = new CriClient({ endpoint: '/path/containerd.sock' })`; it implements
 * `CriRuntime` and `CriImages` (api.ts). Every call has a deadline (`defaultTimeoutMs`, longer for
 * pulls and sandbox/stop operations) and rejects with a CocoletError whose context names the rpc
 * and the pod/container given in the call options. `close()` releases the channel.
 */
import type { Client } from '@grpc/grpc-js';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { RuntimeService, ImageService } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import type {
  Container,
  ContainerEventResponse,
  ContainerStats,
  ContainerStatus,
  Image,
  PodSandbox,
  PodSandboxStatus,
  StatusResponse,
  VersionResponse,
} from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { ServiceClient, connectChannel, type CallOptions } from './grpc.js';
import type {
  ContainerConfigInit,
  ContainerFilterInit,
  CriCallOptions,
  CriImages,
  CriRuntime,
  ExecResult,
  LinuxContainerResourcesInit,
  PodSandboxConfigInit,
  PodSandboxFilterInit,
  StreamAttachInit,
  StreamExecInit,
} from './api.js';

/** Deadline for quick calls (status, list, create). */
export const DEFAULT_CRI_TIMEOUT_MS = 2 * 60_000;
/** Deadline for image pulls (the kubelet's default runtime-request-timeout is 2 min too). */
export const DEFAULT_PULL_TIMEOUT_MS = 10 * 60_000;

export interface CriClientOptions {
  /** Unix socket path or `unix://` URL of the runtime (and image) service. */
  endpoint: string;
  /** Separate image service endpoint (defaults to `endpoint`). */
  imageEndpoint?: string;
  defaultTimeoutMs?: number;
}

type ShapeOf<S> = S extends GenService<infer M> ? M : never;

export class CriClient implements CriRuntime, CriImages {
  private readonly r: ServiceClient<ShapeOf<typeof RuntimeService>>;
  private readonly img: ServiceClient<ShapeOf<typeof ImageService>>;
  private readonly channels: Client[];
  private readonly timeoutMs: number;

  constructor(opts: CriClientOptions) {
    const ch = connectChannel(opts.endpoint);
    const ich = opts.imageEndpoint && opts.imageEndpoint !== opts.endpoint ? connectChannel(opts.imageEndpoint) : ch;
    this.channels = ich === ch ? [ch] : [ch, ich];
    this.r = new ServiceClient(RuntimeService, ch);
    this.img = new ServiceClient(ImageService, ich);
    this.timeoutMs = opts.defaultTimeoutMs ?? DEFAULT_CRI_TIMEOUT_MS;
  }

  private o(opts: CriCallOptions | undefined, ctx?: Record<string, string>): CallOptions {
    return {
      timeoutMs: opts?.timeoutMs ?? this.timeoutMs,
      signal: opts?.signal,
      context: { ...ctx, ...opts?.context },
    };
  }

  async version(opts?: CriCallOptions): Promise<VersionResponse> {
    return this.r.unary('version', { version: 'v1' }, this.o(opts));
  }

  async status(opts?: CriCallOptions): Promise<StatusResponse> {
    return this.r.unary('status', { verbose: false }, this.o(opts));
  }

  async runPodSandbox(config: PodSandboxConfigInit, runtimeHandler: string, opts?: CriCallOptions): Promise<string> {
    const pod = config.metadata ? `${config.metadata.namespace ?? ''}/${config.metadata.name ?? ''}` : '';
    const res = await this.r.unary('runPodSandbox', { config, runtimeHandler }, this.o(opts, { pod }));
    return res.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string, opts?: CriCallOptions): Promise<void> {
    await this.r.unary('stopPodSandbox', { podSandboxId }, this.o(opts, { sandbox: podSandboxId }));
  }

  async removePodSandbox(podSandboxId: string, opts?: CriCallOptions): Promise<void> {
    await this.r.unary('removePodSandbox', { podSandboxId }, this.o(opts, { sandbox: podSandboxId }));
  }

  async podSandboxStatus(podSandboxId: string, opts?: CriCallOptions): Promise<PodSandboxStatus | undefined> {
    const res = await this.r.unary('podSandboxStatus', { podSandboxId, verbose: false }, this.o(opts, { sandbox: podSandboxId }));
    return res.status;
  }

  async listPodSandbox(filter?: PodSandboxFilterInit, opts?: CriCallOptions): Promise<PodSandbox[]> {
    const res = await this.r.unary('listPodSandbox', filter ? { filter } : {}, this.o(opts));
    return res.items;
  }

  async createContainer(
    podSandboxId: string,
    config: ContainerConfigInit,
    sandboxConfig: PodSandboxConfigInit,
    opts?: CriCallOptions,
  ): Promise<string> {
    const res = await this.r.unary(
      'createContainer',
      { podSandboxId, config, sandboxConfig },
      this.o(opts, { sandbox: podSandboxId, container: config.metadata?.name ?? '' }),
    );
    return res.containerId;
  }

  async startContainer(containerId: string, opts?: CriCallOptions): Promise<void> {
    await this.r.unary('startContainer', { containerId }, this.o(opts, { container: containerId }));
  }

  async stopContainer(containerId: string, timeoutSeconds: number, opts?: CriCallOptions): Promise<void> {
    const o = this.o(opts, { container: containerId });
    // The runtime may take the whole grace period; give the call that plus the default deadline.
    o.timeoutMs = (o.timeoutMs ?? this.timeoutMs) + timeoutSeconds * 1000;
    await this.r.unary('stopContainer', { containerId, timeout: BigInt(timeoutSeconds) }, o);
  }

  async removeContainer(containerId: string, opts?: CriCallOptions): Promise<void> {
    await this.r.unary('removeContainer', { containerId }, this.o(opts, { container: containerId }));
  }

  async listContainers(filter?: ContainerFilterInit, opts?: CriCallOptions): Promise<Container[]> {
    const res = await this.r.unary('listContainers', filter ? { filter } : {}, this.o(opts));
    return res.containers;
  }

  async containerStatus(containerId: string, opts?: CriCallOptions): Promise<ContainerStatus | undefined> {
    const res = await this.r.unary('containerStatus', { containerId, verbose: false }, this.o(opts, { container: containerId }));
    return res.status;
  }

  /** Resource usage of one container (CPU nanoseconds, memory working set, …). */
  async containerStats(containerId: string, opts?: CriCallOptions): Promise<ContainerStats | undefined> {
    const res = await this.r.unary('containerStats', { containerId }, this.o(opts, { container: containerId }));
    return res.stats;
  }

  /** Resource usage of every container (or those matching the filter) in one call. */
  async listContainerStats(filter?: { id?: string; podSandboxId?: string; labelSelector?: Record<string, string> }, opts?: CriCallOptions): Promise<ContainerStats[]> {
    const res = await this.r.unary('listContainerStats', { filter: filter ?? {} }, this.o(opts));
    return res.stats;
  }

  async execSync(containerId: string, cmd: string[], timeoutSeconds: number, opts?: CriCallOptions): Promise<ExecResult> {
    const o = this.o(opts, { container: containerId });
    o.timeoutMs = timeoutSeconds * 1000 + 10_000;
    const res = await this.r.unary('execSync', { containerId, cmd, timeout: BigInt(timeoutSeconds) }, o);
    return { stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode };
  }

  async updateContainerResources(containerId: string, linux: LinuxContainerResourcesInit, opts?: CriCallOptions): Promise<void> {
    await this.r.unary('updateContainerResources', { containerId, linux }, this.o(opts, { container: containerId }));
  }

  async reopenContainerLog(containerId: string, opts?: CriCallOptions): Promise<void> {
    await this.r.unary('reopenContainerLog', { containerId }, this.o(opts, { container: containerId }));
  }

  async exec(req: StreamExecInit, opts?: CriCallOptions): Promise<string> {
    const res = await this.r.unary('exec', req, this.o(opts, { container: req.containerId }));
    return res.url;
  }

  async attach(req: StreamAttachInit, opts?: CriCallOptions): Promise<string> {
    const res = await this.r.unary('attach', req, this.o(opts, { container: req.containerId }));
    return res.url;
  }

  async portForward(podSandboxId: string, ports: number[], opts?: CriCallOptions): Promise<string> {
    const res = await this.r.unary('portForward', { podSandboxId, port: ports }, this.o(opts, { sandbox: podSandboxId }));
    return res.url;
  }

  getContainerEvents(signal: AbortSignal): AsyncIterable<ContainerEventResponse> {
    return this.r.serverStream('getContainerEvents', {}, { signal });
  }

  async imageStatus(image: string, opts?: CriCallOptions): Promise<Image | undefined> {
    const res = await this.img.unary('imageStatus', { image: { image } }, this.o(opts, { image }));
    return res.image;
  }

  async pullImage(image: string, sandboxConfig?: PodSandboxConfigInit, opts?: CriCallOptions): Promise<string> {
    const o = this.o(opts, { image });
    if (opts?.timeoutMs === undefined) o.timeoutMs = DEFAULT_PULL_TIMEOUT_MS;
    const res = await this.img.unary('pullImage', { image: { image }, ...(sandboxConfig ? { sandboxConfig } : {}) }, o);
    return res.imageRef;
  }

  async listImages(opts?: CriCallOptions): Promise<Image[]> {
    const res = await this.img.unary('listImages', {}, this.o(opts));
    return res.images;
  }

  async removeImage(image: string, opts?: CriCallOptions): Promise<void> {
    await this.img.unary('removeImage', { image: { image } }, this.o(opts, { image }));
  }

  async imageFsInfo(opts?: CriCallOptions): Promise<{ mountpoint: string; usedBytes: number }[]> {
    const res = await this.img.unary('imageFsInfo', {}, this.o(opts));
    return res.imageFilesystems.map((f) => ({ mountpoint: f.fsId?.mountpoint ?? '', usedBytes: Number(f.usedBytes?.value ?? 0n) }));
  }

  close(): void {
    for (const c of this.channels) c.close();
  }
}
