/**
 * In-memory CRI runtime + image service for unit tests and benchmarks. Sandboxes and containers
 * move through the CRI states; tests drive what a real process would do (`exit(id, code)`),
 * script exec results (`execHandler`), inject failures (`failNext(method, error)`), and read the
 * call log (`calls`). Time comes from the injected clock. `evented: true` offers
 * GetContainerEvents; otherwise it answers Unimplemented like containerd 1.6.
 */
import { create } from '@bufbuild/protobuf';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import {
  ContainerEventResponseSchema,
  ContainerEventType,
  ContainerSchema,
  ContainerState,
  ContainerStatusSchema,
  ImageSchema,
  PodSandboxSchema,
  PodSandboxState,
  PodSandboxStatusSchema,
  StatusResponseSchema,
  VersionResponseSchema,
  type Container,
  type ContainerEventResponse,
  type ContainerStatus,
  type Image,
  type PodSandbox,
  type PodSandboxStatus,
  type StatusResponse,
  type VersionResponse,
} from '../../shared/gen/cri/runtime/v1/api_pb.js';
import type {
  ContainerConfigInit,
  ContainerFilterInit,
  CriImages,
  CriRuntime,
  ExecResult,
  LinuxContainerResourcesInit,
  PodSandboxConfigInit,
  PodSandboxFilterInit,
} from './api.js';

interface Clockish {
  now(): number;
}

interface FakeSandbox {
  id: string;
  config: PodSandboxConfigInit;
  handler: string;
  state: PodSandboxState;
  createdAt: bigint;
  ip: string;
}

interface FakeContainer {
  id: string;
  sandboxId: string;
  config: ContainerConfigInit;
  state: ContainerState;
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
}

export interface FakeCriOptions {
  clock?: Clockish;
  images?: string[];
  evented?: boolean;
  /** Handlers the runtime knows ('' always). */
  handlers?: string[];
  /** Keep the call log (default true; benchmarks turn it off and read `callCounts`). */
  recordCalls?: boolean;
}

const ms2ns = (ms: number): bigint => BigInt(Math.round(ms)) * 1_000_000n;

export class FakeCri implements CriRuntime, CriImages {
  readonly sandboxes = new Map<string, FakeSandbox>();
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Set<string>();
  readonly calls: { method: string; id?: string; detail?: string }[] = [];
  /** Exec result per call; default exit 0. */
  execHandler: (containerId: string, cmd: string[]) => ExecResult | Promise<ExecResult> = () => ({ stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: 0 });
  /** Called when a container starts (e.g. to make it exit at once). */
  onStart: ((c: FakeContainer) => void) | undefined;
  /** Exit code used when StopContainer kills a container. */
  stopExitCode = 143;
  private readonly failures = new Map<string, Error[]>();
  private seq = 0;
  private ipSeq = 2;
  private readonly clock: Clockish;
  private readonly handlers: Set<string>;
  private eventListeners: ((e: ContainerEventResponse) => void)[] = [];

  constructor(private readonly opts: FakeCriOptions = {}) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    for (const i of opts.images ?? []) this.images.add(i);
    this.handlers = new Set(['', ...(opts.handlers ?? [])]);
    if (opts.evented) {
      this.getContainerEvents = (signal: AbortSignal): AsyncIterable<ContainerEventResponse> => this.eventStream(signal);
    }
  }

  getContainerEvents?: (signal: AbortSignal) => AsyncIterable<ContainerEventResponse>;

  /** The next call to `method` throws `err`. */
  failNext(method: string, err: Error = new CocoletError(ErrorCode.Internal, `injected ${method} failure`)): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), err]);
  }

  /** Calls per method (always kept). */
  readonly callCounts = new Map<string, number>();

  private enter(method: string, id?: string, detail?: string): void {
    this.callCounts.set(method, (this.callCounts.get(method) ?? 0) + 1);
    if (this.opts.recordCalls !== false) this.calls.push({ method, ...(id ? { id } : {}), ...(detail ? { detail } : {}) });
    const f = this.failures.get(method);
    if (f && f.length) {
      const e = f.shift()!;
      throw e;
    }
  }

  private now(): bigint {
    return ms2ns(this.clock.now());
  }

  private nextId(prefix: string): string {
    return `${prefix}${(++this.seq).toString(16).padStart(12, '0')}`;
  }

  private emit(c: FakeContainer, type: ContainerEventType): void {
    if (!this.eventListeners.length) return;
    const sb = this.sandboxes.get(c.sandboxId);
    const ev = create(ContainerEventResponseSchema, {
      containerId: c.id,
      containerEventType: type,
      createdAt: this.now(),
      ...(sb ? { podSandboxStatus: this.sandboxStatusOf(sb) } : {}),
      containersStatuses: [this.statusOf(c)],
    });
    for (const l of this.eventListeners) l(ev);
  }

  private async *eventStream(signal: AbortSignal): AsyncGenerator<ContainerEventResponse> {
    const queue: ContainerEventResponse[] = [];
    let wake: (() => void) | undefined;
    const l = (e: ContainerEventResponse): void => {
      queue.push(e);
      wake?.();
    };
    this.eventListeners.push(l);
    try {
      while (!signal.aborted) {
        if (queue.length) {
          yield queue.shift()!;
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
          signal.addEventListener('abort', () => r(), { once: true });
        });
        wake = undefined;
      }
    } finally {
      this.eventListeners = this.eventListeners.filter((x) => x !== l);
    }
  }

  // ---- test controls ----

  /** Makes a running container exit with `code`. */
  exit(containerId: string, code: number, reason = code === 0 ? 'Completed' : 'Error'): void {
    const c = this.containers.get(containerId);
    if (!c || c.state !== ContainerState.CONTAINER_RUNNING) return;
    c.state = ContainerState.CONTAINER_EXITED;
    c.exitCode = code;
    c.reason = reason;
    c.finishedAt = this.now();
    this.emit(c, ContainerEventType.CONTAINER_STOPPED_EVENT);
  }

  /** Containers (any state) of a pod UID with a given name, newest first. */
  containersOf(uid: string, name?: string): FakeContainer[] {
    return [...this.containers.values()]
      .filter((c) => c.config.labels?.['io.kubernetes.pod.uid'] === uid && (name === undefined || c.config.metadata?.name === name))
      .sort((a, b) => Number(b.createdAt - a.createdAt));
  }

  running(uid: string, name: string): FakeContainer | undefined {
    return this.containersOf(uid, name).find((c) => c.state === ContainerState.CONTAINER_RUNNING);
  }

  /** Adds `n` pods with one running container each, without going through a kubelet (bench). */
  populate(n: number, containersPerPod = 1): void {
    for (let i = 0; i < n; i++) {
      const uid = `bulk-${i}`;
      const config: PodSandboxConfigInit = { metadata: { name: `p${i}`, namespace: 'bench', uid, attempt: 0 }, labels: { 'io.kubernetes.pod.uid': uid } };
      const sid = this.nextId('s');
      this.sandboxes.set(sid, { id: sid, config, handler: '', state: PodSandboxState.SANDBOX_READY, createdAt: this.now(), ip: `10.0.${(i >> 8) & 255}.${i & 255}` });
      for (let j = 0; j < containersPerPod; j++) {
        const id = this.nextId('c');
        this.containers.set(id, {
          id, sandboxId: sid,
          config: { metadata: { name: `c${j}`, attempt: 0 }, image: { image: 'img' }, labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': `c${j}` } },
          state: ContainerState.CONTAINER_RUNNING, createdAt: this.now(), startedAt: this.now(), finishedAt: 0n, exitCode: 0, reason: '',
        });
      }
    }
  }

  // ---- RuntimeService ----

  version(): Promise<VersionResponse> {
    this.enter('Version');
    return Promise.resolve(create(VersionResponseSchema, { version: '0.1.0', runtimeName: 'fake', runtimeVersion: '1', runtimeApiVersion: 'v1' }));
  }

  status(): Promise<StatusResponse> {
    this.enter('Status');
    return Promise.resolve(
      create(StatusResponseSchema, { status: { conditions: [{ type: 'RuntimeReady', status: true }, { type: 'NetworkReady', status: true }] } }),
    );
  }

  runPodSandbox(config: PodSandboxConfigInit, runtimeHandler: string): Promise<string> {
    this.enter('RunPodSandbox', undefined, config.metadata?.name);
    if (!this.handlers.has(runtimeHandler)) {
      return Promise.reject(new CocoletError(ErrorCode.NotFound, `no runtime for "${runtimeHandler}" is configured`, { context: { rpc: 'RunPodSandbox' } }));
    }
    const id = this.nextId('s');
    this.sandboxes.set(id, { id, config, handler: runtimeHandler, state: PodSandboxState.SANDBOX_READY, createdAt: this.now(), ip: `10.99.0.${this.ipSeq++ % 250}` });
    return Promise.resolve(id);
  }

  stopPodSandbox(id: string): Promise<void> {
    this.enter('StopPodSandbox', id);
    const s = this.sandboxes.get(id);
    if (s) {
      for (const c of this.containers.values()) if (c.sandboxId === id && c.state === ContainerState.CONTAINER_RUNNING) this.exit(c.id, 137);
      s.state = PodSandboxState.SANDBOX_NOTREADY;
    }
    return Promise.resolve();
  }

  removePodSandbox(id: string): Promise<void> {
    this.enter('RemovePodSandbox', id);
    for (const c of [...this.containers.values()]) if (c.sandboxId === id) this.containers.delete(c.id);
    this.sandboxes.delete(id);
    return Promise.resolve();
  }

  private sandboxStatusOf(s: FakeSandbox): PodSandboxStatus {
    return create(PodSandboxStatusSchema, {
      id: s.id,
      metadata: s.config.metadata ?? {},
      state: s.state,
      createdAt: s.createdAt,
      network: { ip: s.state === PodSandboxState.SANDBOX_READY ? s.ip : '' },
      labels: s.config.labels ?? {},
      annotations: s.config.annotations ?? {},
      runtimeHandler: s.handler,
    });
  }

  podSandboxStatus(id: string): Promise<PodSandboxStatus | undefined> {
    this.enter('PodSandboxStatus', id);
    const s = this.sandboxes.get(id);
    if (!s) return Promise.reject(new CocoletError(ErrorCode.NotFound, `sandbox ${id} not found`));
    return Promise.resolve(this.sandboxStatusOf(s));
  }

  listPodSandbox(filter?: PodSandboxFilterInit): Promise<PodSandbox[]> {
    this.enter('ListPodSandbox');
    const out: PodSandbox[] = [];
    for (const s of this.sandboxes.values()) {
      if (filter?.id && filter.id !== s.id) continue;
      if (filter?.labelSelector && !Object.entries(filter.labelSelector).every(([k, v]) => s.config.labels?.[k] === v)) continue;
      out.push(
        create(PodSandboxSchema, {
          id: s.id, metadata: s.config.metadata ?? {}, state: s.state, createdAt: s.createdAt,
          labels: s.config.labels ?? {}, annotations: s.config.annotations ?? {}, runtimeHandler: s.handler,
        }),
      );
    }
    return Promise.resolve(out);
  }

  createContainer(podSandboxId: string, config: ContainerConfigInit, _sandboxConfig?: PodSandboxConfigInit): Promise<string> {
    this.enter('CreateContainer', undefined, config.metadata?.name);
    const s = this.sandboxes.get(podSandboxId);
    if (!s || s.state !== PodSandboxState.SANDBOX_READY) return Promise.reject(new CocoletError(ErrorCode.FailedPrecondition, 'sandbox not ready'));
    if (!this.images.has(config.image?.image ?? '')) return Promise.reject(new CocoletError(ErrorCode.NotFound, `image ${config.image?.image} not found`));
    const id = this.nextId('c');
    this.containers.set(id, {
      id, sandboxId: podSandboxId, config, state: ContainerState.CONTAINER_CREATED,
      createdAt: this.now(), startedAt: 0n, finishedAt: 0n, exitCode: 0, reason: '',
    });
    return Promise.resolve(id);
  }

  startContainer(id: string): Promise<void> {
    this.enter('StartContainer', id);
    const c = this.containers.get(id);
    if (!c) return Promise.reject(new CocoletError(ErrorCode.NotFound, `container ${id} not found`));
    c.state = ContainerState.CONTAINER_RUNNING;
    c.startedAt = this.now();
    this.emit(c, ContainerEventType.CONTAINER_STARTED_EVENT);
    this.onStart?.(c);
    return Promise.resolve();
  }

  stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    this.enter('StopContainer', id, String(timeoutSeconds));
    this.exit(id, this.stopExitCode);
    return Promise.resolve();
  }

  removeContainer(id: string): Promise<void> {
    this.enter('RemoveContainer', id);
    this.containers.delete(id);
    return Promise.resolve();
  }

  listContainers(filter?: ContainerFilterInit): Promise<Container[]> {
    this.enter('ListContainers');
    const out: Container[] = [];
    for (const c of this.containers.values()) {
      if (filter?.podSandboxId && filter.podSandboxId !== c.sandboxId) continue;
      if (filter?.labelSelector && !Object.entries(filter.labelSelector).every(([k, v]) => c.config.labels?.[k] === v)) continue;
      out.push(
        create(ContainerSchema, {
          id: c.id, podSandboxId: c.sandboxId, metadata: c.config.metadata ?? {}, image: { image: c.config.image?.image ?? '' },
          imageRef: c.config.image?.image ?? '', state: c.state, createdAt: c.createdAt,
          labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {},
        }),
      );
    }
    return Promise.resolve(out);
  }

  private statusOf(c: FakeContainer): ContainerStatus {
    return create(ContainerStatusSchema, {
      id: c.id, metadata: c.config.metadata ?? {}, state: c.state, createdAt: c.createdAt, startedAt: c.startedAt,
      finishedAt: c.finishedAt, exitCode: c.exitCode, reason: c.reason, image: { image: c.config.image?.image ?? '' },
      imageRef: `sha256:${c.config.image?.image ?? ''}`, labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {},
      logPath: c.config.logPath ?? '',
    });
  }

  containerStatus(id: string): Promise<ContainerStatus | undefined> {
    this.enter('ContainerStatus', id);
    const c = this.containers.get(id);
    if (!c) return Promise.reject(new CocoletError(ErrorCode.NotFound, `container ${id} not found`));
    return Promise.resolve(this.statusOf(c));
  }

  async execSync(id: string, cmd: string[]): Promise<ExecResult> {
    this.enter('ExecSync', id, cmd.join(' '));
    const c = this.containers.get(id);
    if (!c || c.state !== ContainerState.CONTAINER_RUNNING) throw new CocoletError(ErrorCode.FailedPrecondition, 'container not running');
    return this.execHandler(id, cmd);
  }

  /** container id -> the latest resources given by UpdateContainerResources. */
  readonly resourceUpdates = new Map<string, LinuxContainerResourcesInit>();

  updateContainerResources(id: string, linux: LinuxContainerResourcesInit): Promise<void> {
    this.enter('UpdateContainerResources', id, linux.cpusetCpus ?? '');
    if (!this.containers.has(id)) return Promise.reject(new CocoletError(ErrorCode.NotFound, `container ${id} not found`));
    this.resourceUpdates.set(id, linux);
    return Promise.resolve();
  }

  reopenContainerLog(id: string): Promise<void> {
    this.enter('ReopenContainerLog', id);
    return Promise.resolve();
  }

  // ---- ImageService ----

  imageStatus(image: string): Promise<Image | undefined> {
    this.enter('ImageStatus', undefined, image);
    return Promise.resolve(this.images.has(image) ? create(ImageSchema, { id: `sha256:${image}`, repoTags: [image], size: 1n }) : undefined);
  }

  pullImage(image: string): Promise<string> {
    this.enter('PullImage', undefined, image);
    this.images.add(image);
    return Promise.resolve(`sha256:${image}`);
  }

  listImages(): Promise<Image[]> {
    this.enter('ListImages');
    return Promise.resolve([...this.images].map((i) => create(ImageSchema, { id: `sha256:${i}`, repoTags: [i], size: BigInt(this.imageSizes.get(i) ?? 1) })));
  }

  /** Image sizes for imageFsInfo / listImages (bytes; default 1). */
  readonly imageSizes = new Map<string, number>();
  imageFsMountpoint = '/';

  imageFsInfo(): Promise<{ mountpoint: string; usedBytes: number }[]> {
    this.enter('ImageFsInfo');
    let used = 0;
    for (const i of this.images) used += this.imageSizes.get(i) ?? 1;
    return Promise.resolve([{ mountpoint: this.imageFsMountpoint, usedBytes: used }]);
  }

  removeImage(image: string): Promise<void> {
    this.enter('RemoveImage', undefined, image);
    this.images.delete(image);
    return Promise.resolve();
  }
}
