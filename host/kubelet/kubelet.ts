/**
 * The kubelet: pod sources → one sync loop → pod workers → runtime manager (CRI), with the PLEG
 * and its pod cache, probes, the status manager, container GC and housekeeping.
 *
 * The sync loop reacts to: config updates (ADD / UPDATE / REMOVE from the merged sources), PLEG
 * events (any but ContainerRemoved syncs the pod), the 1 s sync ticker (pods whose requeue time is
 * due; a requeue due sooner has a timer of its own), probe results (liveness/startup failure → sync; readiness → status), and the 2 s
 * housekeeping tick (only once every source has reported: orphaned runtime pods are killed and
 * removed, finished workers forgotten). Container GC runs every minute, image GC every 5 minutes,
 * log rotation every containerLogMonitorInterval.
 *
 * API:
 *   const k = new Kubelet({ settings, cri, images, logger });
 *   await k.start();                 // waits for the runtime, starts sources / PLEG / loops
 *   k.status.all(), k.status.onChange(cb), k.events.list()
 *   await k.stop();                  // stops the agent; running pods are left running
 */
import { join } from 'node:path';
import { availableParallelism, totalmem } from 'node:os';
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { CriImages, CriRuntime } from '../cri/api.js';
import { podKey, type Pod } from './api/types.js';
import { KubeletMetrics, updateGauges } from './metrics.js';
import { rotatePodLogs } from './logs/rotation.js';
import { serveHealthz, type HealthCheck, type HealthzServer } from './server/healthz.js';
import type { KubeApiServer } from './server/kubeapi.js';
import type { ApiIntegration } from './sources/api-wiring.js';
import type { NodeExtras } from './node/wiring.js';
import type { NodeLifecycle } from './node/lifecycle.js';
import type { PressureType } from './node/resources.js';
import { realClock, sleep, type Clock, type TimerHandle } from './clock.js';
import { durationMs } from './config/kubeletconfig.js';
import type { KubeletSettings } from './config/flags.js';
import { EventRecorder } from './events.js';
import { PodCache } from './pleg/cache.js';
import { Pleg, type PlegEvent } from './pleg/pleg.js';
import { ProbeManager, type ProbeType, type Verdict } from './probes/manager.js';
import { RuntimeManager, type Waiting } from './runtime/manager.js';
import { podIp, type RuntimePodStatus } from './runtime/status.js';
import { FileSource } from './sources/file.js';
import { HttpSource } from './sources/http.js';
import { PodConfig, type PodUpdate } from './sources/podconfig.js';
import { admitRuntimeClassOverhead } from './sources/runtimeclass.js';
import { generatePodStatus } from './status/generate.js';
import { StatusManager } from './status/manager.js';
import { VolumeManager } from './volumes/volumes.js';
import { PodWorkers, type PodSyncer, type SyncOutcome } from './workers.js';
import { ContainerGc } from './gc.js';
import { ImageGc } from './imagegc.js';
import { podsCgroupOf, startEviction, type EvictionWiring, type KubeletEvictionOptions } from './eviction/wiring.js';
import { DEFAULT_SANDBOX_IMAGE } from '../containerd/config.js';
import type { TeeKind } from '../../shared/tee/kind.js';
import { DeviceManager, DEVICE_PLUGINS_DIR } from './cm/devicemanager/manager.js';
import { ContainerManager } from './cm/manager.js';
import { criCpusetUpdater, criRunningContainers } from './cm/cpumanager/cri.js';
import { readHugepagesPerNuma, readMachineTopology } from './cm/machine/sysfs.js';
import type { MachineTopology } from './cm/types.js';

export const SYNC_TICK_MS = 1_000;
export const HOUSEKEEPING_MS = 2_000;
export const MAX_WAIT_FOR_RUNTIME_MS = 30_000;
export const STATUS_FILE_NAME = 'status.json';
/** /healthz/syncloop fails when the sync loop has not ticked for this long. */
export const SYNC_LOOP_STALL_MS = 5 * 60_000;

export interface KubeletOptions {
  settings: KubeletSettings;
  cri: CriRuntime;
  images: CriImages;
  clock?: Clock;
  logger?: Logger;
  /** Status file path; default `<rootDir>/status.json`; false = none. */
  statusFile?: string | false;
  /** Try CRI container events (falls back to the generic relist). */
  eventedPleg?: boolean;
  relistPeriodMs?: number;
  /** Create directories for logs (off with the fake CRI). */
  makeLogDirs?: boolean;
  /** Do not start file/http sources (tests feed `podConfig` directly). */
  noSources?: boolean;
  /** Images image GC never removes (the sandbox image always is). */
  pinnedImages?: string[];
  /** Serve /healthz and /metrics on this address (port 0 = any free port). */
  healthz?: { address: string; port: number };
  /**
   * Serve the HTTPS API (server/kubeapi.ts) as the configuration says (`enableServer`, `address`,
   * `port`, TLS, authentication, authorization); `address`/`port` here override it (port 0 = any free port).
   */
  server?: { address?: string; port?: number };
  /** Extra source names to wait for before housekeeping (tests). */
  extraSources?: string[];
  /**
   * The TEE a sandbox really got, as its runtime shim reports it (host/node wires the cocolet
   * shim's reports, host/shim/tee-label.ts); without it confidential pods show no TEE.
   */
  teeOf?: (sandboxId: string) => TeeKind | undefined;
  /** Serve device plugin registration on `<rootDir>/device-plugins/kubelet.sock` (default true). */
  devicePlugins?: boolean;
  /**
   * Pods run in `<podsCgroup>/pod<uid>` (a cgroupfs path such as `/kubepods`); default `<cgroupRoot>/kubepods` when the
   * configuration sets `cgroupRoot` (and `cgroupsPerQOS` is not false), else the runtime's default.
   */
  podsCgroup?: string;
  /** The eviction manager (eviction/): false = off; fields replace its signal source or timing (tests). */
  eviction?: false | KubeletEvictionOptions;
  /** What the Node object reports beyond the machine (with `--kubeconfig`; node/wiring.ts). */
  node?: NodeExtras;
  /** The machine the resource managers see (default: read from sysfs). */
  machine?: MachineTopology;
}

export class Kubelet implements PodSyncer {
  readonly settings: KubeletSettings;
  readonly clock: Clock;
  readonly log: Logger;
  readonly cache = new PodCache();
  readonly events: EventRecorder;
  readonly status: StatusManager;
  readonly runtime: RuntimeManager;
  readonly pleg: Pleg;
  readonly workers: PodWorkers;
  readonly probes: ProbeManager;
  readonly podConfig: PodConfig;
  readonly volumes: VolumeManager;
  readonly gc: ContainerGc;
  readonly imageGc: ImageGc;
  readonly metrics = new KubeletMetrics();
  /** Device plugins: registration, health, allocation (cm/devicemanager). */
  readonly devices: DeviceManager;
  /** Resource fit, topology, CPU/memory/device allocation and node allocatable (cm/manager.ts). */
  readonly cm: ContainerManager;
  /** Pods whose resources were admitted (devices allocated). */
  private readonly admitted = new Set<string>();
  /** The healthz server once started. */
  healthzServer: HealthzServer | undefined;
  /** The HTTPS API server once started (when enabled). */
  apiServer: KubeApiServer | undefined;
  /** Stops the serving certificate's rotation (serverTLSBootstrap). */
  private stopServing: (() => void) | undefined;
  /** The API server connection (pod source, status writer, mirror pods, events) when `--kubeconfig` is set. */
  api: ApiIntegration | undefined;
  /** API pods deleted gracefully that finished terminating here (until the API's DELETED arrives). */
  private readonly deletedDone = new Set<string>();
  /** The eviction manager once started (node conditions: `eviction?.manager.conditions()`). */
  eviction: EvictionWiring | undefined;
  /** The Node object's lifecycle (with `--kubeconfig`). */
  node: NodeLifecycle | undefined;
  private lastTick = 0;
  private readonly firstSeen = new Map<string, number>();
  private readonly startRecorded = new Set<string>();
  /** Desired pods by UID. */
  readonly pods = new Map<string, Pod>();
  private readonly waiting = new Map<string, Record<string, Waiting>>();
  private readonly syncErrors = new Map<string, string>();
  private readonly due = new Map<string, number>();
  /** One-shot timers of requeues due sooner than the next sync tick. */
  private readonly dueSoon = new Map<string, TimerHandle>();
  private readonly sources: { stop(): void; start(): void }[] = [];
  private readonly timers: TimerHandle[] = [];
  private running = false;
  private housekeeping = false;
  private readonly startTime: number;

  constructor(private readonly o: KubeletOptions) {
    this.settings = o.settings;
    this.clock = o.clock ?? realClock;
    this.startTime = this.clock.now();
    this.log = o.logger ?? silentLogger();
    const cfg = o.settings.config;
    this.events = new EventRecorder(this.log, 1000, () => this.clock.now());
    this.volumes = new VolumeManager({ rootDir: o.settings.rootDir, nodeName: o.settings.nodeName });
    this.probes = new ProbeManager({
      cri: o.cri,
      clock: this.clock,
      events: this.events,
      logger: this.log,
      containerInfo: (uid, name) => {
        const st = this.cache.get(uid).status;
        const c = st.containers.find((x) => x.name === name);
        return c ? { id: c.id, running: c.state === 'running', startedAt: c.startedAt, podIp: podIp(st) } : undefined;
      },
      onResult: (uid, name, type, v) => this.onProbeResult(uid, name, type, v),
    });
    const machine = o.machine ?? readMachine(this.log);
    this.devices = new DeviceManager({
      dir: join(o.settings.rootDir, DEVICE_PLUGINS_DIR),
      numaNodes: machine.numaNodes,
      logger: this.log,
      clock: this.clock,
      // Desired pods and pods still stopping: their containers may hold devices.
      activePods: () => (this.podConfig.allSourcesReady() ? [...this.pods.keys(), ...this.workers.uids().filter((u) => this.workers.phase(u) === 'sync' || this.workers.phase(u) === 'terminating')] : undefined),
      metrics: {
        registration: (r) => this.metrics.devicePluginRegistrations.inc({ resource_name: r }),
        allocationSeconds: (r, sec) => this.metrics.devicePluginAllocDuration.observe({ resource_name: r }, sec),
      },
    });
    this.cm = new ContainerManager({
      config: cfg,
      machine,
      // the machine's own hugepages (a machine given by a test has none)
      ...(o.machine ? {} : { hugepagesPerNuma: readHugepagesPerNuma(), memoryCapacity: totalmem() }),
      rootDir: o.settings.rootDir,
      devices: this.devices,
      logger: this.log,
      topologyMetrics: {
        request: () => this.metrics.topologyAdmissionRequests.inc(),
        error: () => this.metrics.topologyAdmissionErrors.inc(),
        durationMs: (ms) => this.metrics.topologyAdmissionDuration.observe(ms),
      },
    });
    this.runtime = new RuntimeManager({
      resourceOptions: async (pod, c) => {
        const dev = await this.devices.runContainerOptions(pod, c);
        const sets = this.cm.cpusets(pod.metadata.uid ?? '', c.name);
        if (!sets.cpusetCpus && !sets.cpusetMems) return dev;
        return { ...(dev ?? { envs: [], mounts: [], devices: [], annotations: {}, cdiDevices: [] }), ...sets };
      },
      cri: o.cri,
      images: o.images,
      clock: this.clock,
      podLogsDir: cfg.podLogsDir,
      runtimeClassHandlers: o.settings.runtimeClassHandlers,
      volumes: this.volumes,
      events: this.events,
      probes: this.probes,
      logger: this.log,
      makeLogDirs: o.makeLogDirs ?? true,
      ...(o.teeOf ? { teeOf: o.teeOf } : {}),
      ...(podsCgroupOf(o.podsCgroup, cfg) ? { podsCgroup: podsCgroupOf(o.podsCgroup, cfg)! } : {}),
      podNumaNodes: (pod) => this.cm.podNumaNodes(pod),
    });
    const statusFile = o.statusFile === false ? undefined : (o.statusFile ?? join(o.settings.rootDir, STATUS_FILE_NAME));
    this.status = new StatusManager({
      node: o.settings.nodeName,
      ...(statusFile ? { file: statusFile } : {}),
      extras: () => ({ podLogsDir: cfg.podLogsDir, pleg: { ...this.pleg.healthy(), healthy: this.pleg.healthy().ok, mode: this.pleg.mode }, events: this.events.list().slice(-100), devices: this.devices.resources(), ...(this.eviction ? { nodeConditions: this.eviction.manager.conditions() } : {}) }),
      handlerOf: (p) => {
        try {
          return this.runtime.runtimeHandler(p);
        } catch {
          return undefined;
        }
      },
      teeOf: (p) => this.runtime.teeLabelOf(p),
    });
    this.devices.onChange(() => this.status.touch());
    this.pleg = new Pleg({
      cri: o.cri,
      cache: this.cache,
      clock: this.clock,
      onEvent: (e) => this.onPlegEvent(e),
      ...(o.relistPeriodMs ? { relistPeriodMs: o.relistPeriodMs } : {}),
      onRelist: (d, i) => {
        this.metrics.plegRelistDuration.observe(d / 1000);
        this.metrics.plegRelistInterval.observe(i / 1000);
        this.metrics.plegLastSeen.set(this.clock.now() / 1000);
      },
      onFirstRelist: () => this.node?.readinessChanged(),
      evented: o.eventedPleg ?? false,
      logger: this.log,
    });
    this.workers = new PodWorkers({
      syncer: this,
      cache: this.cache,
      clock: this.clock,
      requeue: (uid, ms) => this.requeue(uid, ms),
      resyncMs: durationMs(cfg.syncFrequency),
      startTime: this.startTime,
      logger: this.log,
    });
    this.gc = new ContainerGc({ cri: o.cri, cache: this.cache, clock: this.clock, isDesired: (uid) => this.pods.has(uid), logger: this.log });
    this.imageGc = new ImageGc({
      images: o.images,
      runtime: o.cri,
      clock: this.clock,
      policy: {
        highThresholdPercent: cfg.imageGCHighThresholdPercent,
        lowThresholdPercent: cfg.imageGCLowThresholdPercent,
        minAgeMs: durationMs(cfg.imageMinimumGCAge),
        maxAgeMs: durationMs(cfg.imageMaximumGCAge),
      },
      pinned: [DEFAULT_SANDBOX_IMAGE, ...(o.pinnedImages ?? [])],
      logger: this.log,
    });
    const sourceNames: string[] = [...(o.extraSources ?? [])];
    if (!o.noSources && cfg.staticPodPath) sourceNames.push('file');
    if (!o.noSources && cfg.staticPodURL) sourceNames.push('http');
    if (!o.noSources && o.settings.kubeconfig) sourceNames.push('api');
    this.podConfig = new PodConfig({ sources: sourceNames, onUpdate: (u) => this.onConfigUpdate(u) });
    if (!o.noSources && cfg.staticPodPath) {
      this.sources.push(
        new FileSource({
          dir: cfg.staticPodPath,
          nodeName: o.settings.nodeName,
          periodMs: durationMs(cfg.fileCheckFrequency),
          onSnapshot: (pods) => this.podConfig.set('file', this.withRuntimeClassOverhead(pods)),
          onError: (path, err) => this.events.record(path, 'Warning', 'FailedToDecodeManifest', err.message),
          logger: this.log,
        }),
      );
    }
    if (!o.noSources && cfg.staticPodURL) {
      this.sources.push(
        new HttpSource({
          url: cfg.staticPodURL,
          headers: cfg.staticPodURLHeader,
          nodeName: o.settings.nodeName,
          periodMs: durationMs(cfg.httpCheckFrequency),
          onSnapshot: (pods) => this.podConfig.set('http', this.withRuntimeClassOverhead(pods)),
          onError: (url, err) => this.events.record(url, 'Warning', 'FailedToDecodeManifest', err.message),
          logger: this.log,
        }),
      );
    }
  }

  /** Waits for the runtime (up to 30 s), then starts PLEG, sources and loops. */
  async start(): Promise<void> {
    const deadline = this.clock.now() + MAX_WAIT_FOR_RUNTIME_MS;
    for (;;) {
      try {
        await this.o.cri.version({ timeoutMs: 5000 });
        break;
      } catch (e) {
        if (this.clock.now() >= deadline) throw e;
        await sleep(this.clock, 500);
      }
    }
    this.running = true;
    this.lastTick = this.clock.now();
    this.events.onEvent((e) => {
      if (e.reason === 'Started') this.metrics.startedContainers.inc({ container_type: 'container' });
      else if (e.reason === 'Failed') this.metrics.startedContainersErrors.inc({ container_type: 'container', code: 'error' });
    });
    // The PLEG first: its first relist (no pods known yet, so its events go nowhere) is what Ready
    // waits for, and it runs while the HTTPS API and the Node's registration are set up.
    this.pleg.start();
    const checks: HealthCheck[] = [
      { name: 'pleg', check: () => this.pleg.healthy() },
      {
        name: 'syncloop',
        check: () => {
          const since = this.clock.now() - this.lastTick;
          return since < SYNC_LOOP_STALL_MS ? { ok: true, message: '' } : { ok: false, message: `sync loop last ran ${Math.round(since / 1000)}s ago` };
        },
      },
    ];
    if (this.o.healthz) {
      this.healthzServer = await serveHealthz({ address: this.o.healthz.address, port: this.o.healthz.port, registry: this.metrics.registry, checks });
    }
    if (this.settings.kubeconfig && this.settings.bootstrapKubeconfig) {
      const { ensureKubeconfig } = await import('./node/bootstrap.js');
      await ensureKubeconfig({ nodeName: this.settings.nodeName, rootDir: this.settings.rootDir, kubeconfig: this.settings.kubeconfig, bootstrapKubeconfig: this.settings.bootstrapKubeconfig, logger: this.log });
    }
    if (this.o.server) await this.startServer(checks, this.o.server);
    if (this.settings.kubeconfig && !this.o.noSources) await this.startApi(this.settings.kubeconfig);
    this.cm.start([
      { activePods: () => [...this.pods.values()], sourcesReady: () => this.podConfig.allSourcesReady(), runningContainers: () => criRunningContainers(this.o.cri) },
      criCpusetUpdater(this.o.cri),
    ]);
    if (this.o.devicePlugins !== false) {
      // Unlike upstream (fatal), pods without devices keep being run.
      await this.devices.start().catch((e: unknown) => this.log.error({ err: e }, 'device plugin registration not served'));
    }
    if (this.o.eviction !== false) this.eviction = await startEviction(this, this.o.eviction ?? {}, this.o.cri, this.o.images, podsCgroupOf(this.o.podsCgroup, this.settings.config));
    for (const s of this.sources) s.start();
    this.every(SYNC_TICK_MS, () => this.syncTick());
    this.every(HOUSEKEEPING_MS, () => void this.housekeep());
    this.every(60_000, () => void this.gc.collect());
    this.every(5 * 60_000, () => void this.imageGc.collect().catch((e: unknown) => this.log.warn({ err: e }, 'image gc failed')));
    this.every(durationMs(this.settings.config.containerLogMonitorInterval), () => void this.rotateLogs());
    this.log.info({ node: this.settings.nodeName, staticPodPath: this.settings.config.staticPodPath }, 'kubelet started');
  }

  /** The HTTPS API (loaded only when asked for and enabled by the configuration). */
  private async startServer(checks: HealthCheck[], over: { address?: string; port?: number }): Promise<void> {
    const { serverSettings, serveKubeApi, DEFAULT_SERVER_PORT } = await import('./server/kubeapi.js');
    const cfg = this.settings.config;
    const s = serverSettings(over.port !== undefined ? { ...cfg, port: DEFAULT_SERVER_PORT } : cfg, durationMs);
    if (!s) return;
    const cri = this.o.cri;
    const address = over.address ?? s.address;
    const port = over.port ?? s.port;
    const kubeconfig = this.settings.kubeconfig;
    const serving = cfg.serverTLSBootstrap === true && kubeconfig
      ? (await import('./node/serving.js')).servingCertRotator({ kubeconfig, settings: this.settings, onRotated: (pem) => this.apiServer?.setCertificate(pem), log: this.log })
      : undefined;
    try {
      this.apiServer = await serveKubeApi({
        ...s,
        ...(serving ? { servingCertificates: serving } : {}),
        address,
        port,
        nodeName: this.settings.nodeName,
        rootDir: this.settings.rootDir,
        ...(this.settings.kubeconfig ? { kubeconfig: this.settings.kubeconfig } : {}),
        checks,
        registry: this.metrics.registry,
        pods: () => this.status.all(),
        podLogsDir: cfg.podLogsDir,
        runtime: cri,
        ...(cri.listContainerStats ? { stats: () => cri.listContainerStats!() } : {}),
        logger: this.log,
      });
      if (serving) {
        serving.start();
        this.stopServing = () => serving.stop();
      }
    } catch (e) {
      // Unlike upstream (fatal), pods keep being run: the API is an operator convenience.
      this.log.error({ err: e, address, port }, 'kubelet API server not started');
    }
  }

  /** API server source, Node + Lease, and status writer (loaded only when a kubeconfig is set). */
  private async startApi(kubeconfig: string): Promise<void> {
    const { startApiIntegration } = await import('./sources/api-wiring.js');
    this.api = await startApiIntegration({
      kubeconfig,
      settings: this.settings,
      podConfig: this.podConfig,
      status: this.status,
      volumes: this.volumes,
      events: this.events,
      resync: (uids) => {
        for (const uid of uids) {
          const pod = this.pods.get(uid);
          if (pod) this.workers.updatePod(uid, { type: 'sync', pod });
        }
      },
      log: this.log,
    });
    this.sources.push(...this.api.parts);
    const { startNodeLifecycle } = await import('./node/wiring.js');
    const { conditionSourceOf } = await import('./node/resources.js');
    // Pressure conditions come from the eviction manager when it runs (it may start after this).
    const pressure = this.o.node?.conditions ?? { pressure: (t: PressureType) => (this.eviction ? conditionSourceOf(this.eviction.manager).pressure(t) : { pressure: false }) };
    this.node = startNodeLifecycle({ kubeconfig, settings: this.settings, cri: this.o.cri, pleg: this.pleg, kubeletPort: () => this.apiServer?.port ?? 0, containerManager: this.cm, devices: this.devices, extras: { ...this.o.node, conditions: pressure }, log: this.log });
  }

  private every(ms: number, fn: () => void): void {
    const slot = this.timers.length;
    const tick = (): void => {
      if (!this.running) return;
      fn();
      this.timers[slot] = this.clock.setTimer(tick, ms);
    };
    this.timers.push(this.clock.setTimer(tick, ms));
  }

  /** Stops the agent; pods keep running (a restarted kubelet adopts them). */
  async stop(): Promise<void> {
    this.running = false;
    for (const s of this.sources) s.stop();
    this.node?.stop();
    for (const t of this.timers) t.cancel();
    for (const t of this.dueSoon.values()) t.cancel();
    this.dueSoon.clear();
    this.eviction?.manager.stop();
    this.pleg.stop();
    this.probes.stop();
    this.workers.stop();
    this.cache.close();
    await this.workers.idle();
    await this.healthzServer?.close();
    this.stopServing?.();
    await this.apiServer?.close();
    await this.devices.stop();
    await this.cm.stop();
    this.status.flush();
  }

  /** Stops every pod this kubelet runs (used by `cocolet up` on exit), then the agent. */
  async stopAllPods(graceSeconds?: number): Promise<void> {
    for (const s of this.sources) s.stop();
    for (const [uid, pod] of this.pods) {
      this.pods.delete(uid);
      this.workers.updatePod(uid, { type: 'kill', pod, deleted: true, graceSeconds: graceSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30 });
    }
    await this.workers.idle();
  }

  // ---- sync loop handlers ----

  private onConfigUpdate(u: PodUpdate): void {
    switch (u.op) {
      case 'ADD': {
        const sorted = [...u.pods].sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
        for (const pod of sorted) {
          if (this.deletedDone.has(pod.metadata.uid!)) continue;
          if (pod.metadata.deletionTimestamp) this.deletePod(pod);
          else this.addPod(pod);
        }
        break;
      }
      case 'UPDATE':
        for (const pod of u.pods) {
          if (this.deletedDone.has(pod.metadata.uid!)) continue;
          if (pod.metadata.deletionTimestamp) {
            this.deletePod(pod);
            continue;
          }
          this.pods.set(pod.metadata.uid!, pod);
          this.workers.updatePod(pod.metadata.uid!, { type: 'update', pod });
        }
        break;
      case 'REMOVE':
        for (const pod of u.pods) this.removePod(pod);
        break;
    }
  }

  private addPod(pod: Pod): void {
    const uid = pod.metadata.uid!;
    const maxPods = this.settings.config.maxPods;
    if (this.pods.size >= maxPods && !this.pods.has(uid)) {
      this.events.record(podKey(pod), 'Warning', 'OutOfpods', `Node didn't have enough resource: pods, requested: 1, used: ${this.pods.size}, capacity: ${maxPods}`, uid);
      this.status.set(pod, {
        phase: 'Failed',
        reason: 'OutOfpods',
        message: `Node didn't have enough resource: pods`,
        conditions: [],
        containerStatuses: [],
      });
      return;
    }
    const evictionAdmit = this.eviction?.manager.admit(pod);
    if (evictionAdmit && !evictionAdmit.admit) {
      this.events.record(podKey(pod), 'Warning', evictionAdmit.reason, evictionAdmit.message, uid);
      this.status.set(pod, { phase: 'Failed', reason: evictionAdmit.reason, message: evictionAdmit.message, conditions: [], containerStatuses: [] });
      return;
    }
    this.pods.set(uid, pod);
    if (!this.firstSeen.has(uid)) this.firstSeen.set(uid, this.clock.now());
    this.probes.addPod(pod);
    this.workers.updatePod(uid, { type: 'create', pod });
  }

  /**
   * A pod the API server is deleting gracefully (deletionTimestamp): killed with the grace it names
   * (preStop hooks run), then deleted from the API once it has terminated (status/apistatus.ts).
   */
  private deletePod(pod: Pod): void {
    const uid = pod.metadata.uid!;
    this.pods.set(uid, pod);
    this.workers.updatePod(uid, { type: 'kill', pod, deleted: true, graceSeconds: pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30 });
  }

  private removePod(pod: Pod): void {
    const uid = pod.metadata.uid!;
    this.deletedDone.delete(uid);
    this.pods.delete(uid);
    this.runtime.forgetTee(uid);
    if (this.workers.phase(uid) === undefined) {
      // Never admitted (e.g. OutOfpods): only its status is left.
      this.status.remove(uid);
      return;
    }
    this.workers.updatePod(uid, { type: 'kill', pod, deleted: true, graceSeconds: pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30 });
  }

  private onPlegEvent(e: PlegEvent): void {
    if (e.type === 'ContainerRemoved') return;
    const pod = this.pods.get(e.uid);
    if (pod) this.workers.updatePod(e.uid, { type: 'sync', pod });
  }

  /**
   * Syncs `uid` again after `ms`. The 1 s sync tick serves ordinary requeues (back-offs, resyncs);
   * one due sooner (a volume set-up retried after 100 ms) gets its own timer rather than waiting
   * for the next tick.
   */
  private requeue(uid: string, ms: number): void {
    const at = this.clock.now() + ms;
    this.due.set(uid, at);
    this.dueSoon.get(uid)?.cancel();
    this.dueSoon.delete(uid);
    if (ms >= SYNC_TICK_MS) return;
    this.dueSoon.set(
      uid,
      this.clock.setTimer(() => {
        this.dueSoon.delete(uid);
        if (!this.running || this.due.get(uid) !== at) return;
        this.due.delete(uid);
        const pod = this.pods.get(uid);
        if (pod) this.workers.updatePod(uid, { type: 'sync', pod });
      }, ms),
    );
  }

  private syncTick(): void {
    const now = this.clock.now();
    this.lastTick = now;
    for (const [uid, at] of this.due) {
      if (at > now) continue;
      this.due.delete(uid);
      const pod = this.pods.get(uid);
      if (pod) this.workers.updatePod(uid, { type: 'sync', pod });
    }
  }

  private onProbeResult(uid: string, _container: string, type: ProbeType, v: Verdict): void {
    const pod = this.pods.get(uid);
    if (!pod) return;
    this.refreshStatus(uid);
    if (type !== 'readiness' || v === 'success') this.workers.updatePod(uid, { type: 'sync', pod });
  }

  /** Regenerates a pod's status from the cache (after probe results). */
  refreshStatus(uid: string): void {
    const pod = this.pods.get(uid);
    if (!pod) return;
    this.publishStatus(pod, this.cache.get(uid).status);
  }

  private publishStatus(pod: Pod, rt: RuntimePodStatus, podIsTerminal = false): void {
    const uid = pod.metadata.uid!;
    const prev = this.status.get(uid)?.status;
    const err = this.syncErrors.get(uid);
    const st = generatePodStatus(pod, rt, {
        now: this.clock.now(),
        ...(prev ? { previous: prev } : {}),
        waiting: this.waiting.get(uid) ?? {},
        probes: this.probes,
        ...(err ? { message: err } : {}),
        ...(podIsTerminal ? { podIsTerminal } : {}),
      });
    this.status.set(pod, st);
    const seen = this.firstSeen.get(uid);
    if (seen !== undefined && !this.startRecorded.has(uid) && st.phase === 'Running' && st.containerStatuses.every((c) => c.state.running)) {
      this.startRecorded.add(uid);
      this.metrics.podStartDuration.observe((this.clock.now() - seen) / 1000);
    }
  }

  private updateGauges(): void {
    updateGauges(this.metrics, this.cache, this.pods.values(), this.workers.size);
  }

  /** Rotates container logs over containerLogMaxSize, keeping containerLogMaxFiles. */
  async rotateLogs(): Promise<void> {
    const reopen = this.o.cri.reopenContainerLog?.bind(this.o.cri);
    if (!reopen) return;
    await rotatePodLogs({ config: this.settings.config, pods: this.pods, cache: this.cache, reopen, log: this.log });
  }

  private async housekeep(): Promise<void> {
    this.updateGauges();
    if (this.housekeeping || !this.podConfig.allSourcesReady()) return;
    this.housekeeping = true;
    try {
      // Orphans: runtime pods nobody wants and no worker owns.
      for (const uid of this.cache.uids()) {
        if (this.pods.has(uid) || this.workers.phase(uid) !== undefined) continue;
        const st = this.cache.get(uid).status;
        if (st.sandboxes.length === 0 && st.containers.length === 0) {
          this.cache.delete(uid);
          continue;
        }
        this.log.info({ pod: `${st.namespace}/${st.name}`, uid }, 'removing orphaned runtime pod');
        await this.runtime.killPod(undefined, st, undefined);
        await this.runtime.removePod(st);
        await this.pleg.inspect(uid);
      }
      for (const uid of this.workers.uids()) if (!this.pods.has(uid) && this.workers.phase(uid) === 'finished') this.workers.forget(uid);
      this.runtime.crashBackoff.gc();
    } catch (e) {
      this.log.warn({ err: e }, 'housekeeping failed');
    } finally {
      this.housekeeping = false;
    }
  }

  /**
   * Static pods get their RuntimeClass's overhead as the API server's RuntimeClass admission would
   * give it; one whose own overhead differs is refused (dropped, with a Warning event naming it).
   */
  private withRuntimeClassOverhead(pods: Pod[]): Pod[] {
    const classes = this.settings.runtimeClassOverhead ?? {};
    const out: Pod[] = [];
    for (const p of pods) {
      const r = admitRuntimeClassOverhead(p, classes);
      if ('pod' in r) out.push(r.pod);
      else this.events.record(podKey(p), 'Warning', 'RuntimeClassOverheadMismatch', r.error, p.metadata.uid);
    }
    return out;
  }

  // ---- PodSyncer ----

  async syncPod(uid: string, pod: Pod): Promise<SyncOutcome> {
    const prev = this.status.get(uid)?.status;
    if (prev && (prev.phase === 'Succeeded' || prev.phase === 'Failed')) return { terminal: true };
    this.probes.addPod(pod); // idempotent; restores probes of a pod re-added during its teardown
    const deadline = pod.spec.activeDeadlineSeconds;
    const started = prev?.startTime ? Date.parse(prev.startTime) : undefined;
    if (deadline !== undefined && started !== undefined && this.clock.now() - started >= deadline * 1000) {
      const message = 'Pod was active on the node longer than the specified deadline';
      this.events.record(podKey(pod), 'Normal', 'DeadlineExceeded', message, uid);
      this.status.set(pod, { ...prev!, phase: 'Failed', reason: 'DeadlineExceeded', message });
      return { terminal: true };
    }
    if (!this.admitted.has(uid)) {
      const refused = await this.cm.admit(pod);
      if (!refused.admit) {
        this.events.record(podKey(pod), 'Warning', refused.reason, refused.message, uid);
        this.status.set(pod, { phase: 'Failed', reason: refused.reason, message: refused.message, conditions: [], containerStatuses: [] });
        return { terminal: true };
      }
      this.admitted.add(uid);
    }
    const before = this.cache.get(uid).status;
    const r = await this.runtime.syncPod(pod, before);
    this.waiting.set(uid, r.waiting);
    if (r.error) this.syncErrors.set(uid, r.error.message);
    else this.syncErrors.delete(uid);
    if (r.changed) await this.pleg.inspect(uid);
    const rt = this.cache.get(uid).status;
    this.publishStatus(pod, rt);
    const st = this.status.get(uid)?.status;
    const phase = st?.phase;
    let requeue = r.requeueAfterMs;
    if (deadline !== undefined && st?.startTime) {
      const left = Date.parse(st.startTime) + deadline * 1000 - this.clock.now();
      requeue = Math.max(0, Math.min(requeue ?? Infinity, left));
    }
    return {
      terminal: phase === 'Succeeded' || phase === 'Failed',
      ...(requeue !== undefined ? { requeueAfterMs: requeue } : {}),
      ...(r.error ? { error: r.error } : {}),
      ...(r.runtimeUntouched ? { runtimeUntouched: true } : {}),
    };
  }

  async syncTerminatingPod(uid: string, pod: Pod, graceSeconds: number | undefined): Promise<void> {
    this.probes.removePod(uid);
    await this.pleg.inspect(uid);
    await this.runtime.killPod(pod, this.cache.get(uid).status, graceSeconds);
    await this.pleg.inspect(uid);
    const deleted = Boolean(pod.metadata.deletionTimestamp) || !this.pods.has(uid);
    if (this.status.get(uid)) this.publishStatus(pod, this.cache.get(uid).status, deleted);
  }

  async syncTerminatedPod(uid: string, pod: Pod, deleted: boolean): Promise<void> {
    this.devices.removePod(uid); // its containers are stopped: devices go back to the node
    await this.cm.removePod(uid); // and its exclusive CPUs and NUMA memory
    this.admitted.delete(uid);
    if (!deleted) return; // a finished pod keeps its containers (logs, status) until deleted
    await this.runtime.removePod(this.cache.get(uid).status);
    await this.pleg.inspect(uid);
    this.status.remove(uid);
    this.firstSeen.delete(uid);
    this.startRecorded.delete(uid);
    this.waiting.delete(uid);
    this.syncErrors.delete(uid);
    this.due.delete(uid);
    if (pod.metadata.deletionTimestamp && this.pods.has(uid)) {
      // Gone here; the API object goes once the status writer has deleted it (DELETED → REMOVE).
      this.pods.delete(uid);
      this.deletedDone.add(uid);
    }
    this.status.terminated(pod);
    this.log.info({ pod: podKey(pod) }, 'pod removed');
  }
}

/** The machine from sysfs; a single NUMA node of this process's CPUs when sysfs cannot be read. */
function readMachine(log: Logger): MachineTopology {
  try {
    return readMachineTopology();
  } catch (e) {
    log.warn({ err: e instanceof Error ? e.message : String(e) }, 'machine topology not readable from sysfs; assuming one NUMA node');
    const cpus = availableParallelism();
    return { cpus: Array.from({ length: cpus }, (_, cpu) => ({ cpu, core: cpu, socket: 0, numa: 0 })), numaNodes: [0], distances: { 0: [10] }, memoryPerNuma: { 0: totalmem() } };
  }
}
