/**
 * The device manager (cm/devicemanager/manager.go): serves the device plugin Registration
 * service, follows every plugin's devices and health, hands out devices to containers at
 * admission (topology-aware, GetPreferredAllocation when offered, init containers' devices reused
 * by app containers), keeps the answer of each Allocate for the container's CRI config, calls
 * PreStartContainer when the plugin asks for it, and checkpoints all of that.
 *
 * API:
 *   const dm = new DeviceManager({ dir: `${rootDir}/device-plugins`, logger, numaNodes });
 *   await dm.start();                          // socket recreated, checkpoint restored
 *   dm.resources()                             // { 'vendor/x': { capacity, allocatable } }
 *   dm.getTopologyHints(pod, c); await dm.allocate(pod, c, hint)   // HintProvider
 *   await dm.admit(pod)                        // all containers, no topology (AdmissionError | undefined)
 *   await dm.runContainerOptions(pod, c)       // envs, mounts, devices, annotations, CDI devices
 *   dm.removePod(uid); await dm.stop();
 *
 * Health: a plugin's ListAndWatch list is the truth; when its stream ends its devices turn
 * unhealthy (allocatable 0, capacity kept) and, unless it registers again within
 * `endpointStopGracePeriodMs` (5 min), the resource is removed from the node.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../../../shared/log/logger.js';
import { silentLogger } from '../../../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import type { Device } from '../../../../shared/gen/deviceplugin/v1beta1/api_pb.js';
import { podKey, type Container, type Pod } from '../../api/types.js';
import { realClock, type Clock, type TimerHandle } from '../../clock.js';
import { AdmissionError, type HintProvider, type ResourceHints, type TopologyHint } from '../types.js';
import { CHECKPOINT_FILE, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { PluginEndpoint } from './endpoint.js';
import { containerDeviceRequests, generateDeviceHints, hasTopology, inMask, podDeviceRequests, type DeviceInfo } from './hints.js';
import { PodDevices, type Allocation, type DeviceRunOptions } from './pod-devices.js';
import { RegistrationServer, type ValidRegistration } from './registration.js';
import { isExtendedResourceName } from './resource-name.js';

/** How long a resource whose plugin went away stays on the node (upstream endpointStopGracePeriod). */
export const ENDPOINT_STOP_GRACE_PERIOD_MS = 5 * 60_000;
export const DEVICE_PLUGINS_DIR = 'device-plugins';
export const HEALTHY = 'Healthy';
export const UNHEALTHY = 'Unhealthy';
/** The kubelet's reason for an allocation failure at admission. */
export const UNEXPECTED_ADMISSION_ERROR = 'UnexpectedAdmissionError';

export interface DeviceManagerOptions {
  /** The device plugin directory (`<root-dir>/device-plugins`). */
  dir: string;
  logger?: Logger;
  clock?: Clock;
  /** The machine's NUMA node ids (hints); default: /sys/devices/system/node, else [0]. */
  numaNodes?: number[];
  endpointStopGracePeriodMs?: number;
  /**
   * UIDs of the pods still active; allocations of other pods are freed before allocating.
   * Undefined while the pod sources have not all reported (nothing is freed then).
   */
  activePods?: () => Iterable<string> | undefined;
  /** Dial timeout for a registering plugin (tests). */
  dialTimeoutMs?: number;
  metrics?: DeviceMetrics;
}

/** What the manager reports to metrics (kubelet_device_plugin_registration_total, …_alloc_duration_seconds). */
export interface DeviceMetrics {
  registration(resource: string): void;
  allocationSeconds(resource: string, seconds: number): void;
}

interface ResourceState {
  endpoint?: PluginEndpoint;
  preStartRequired: boolean;
  preferredAvailable: boolean;
  devices: Map<string, DeviceInfo>;
  /** When the plugin's stream ended (undefined while connected). */
  stoppedAt?: number;
  expiry?: TimerHandle;
}

function toInfo(d: Device): DeviceInfo {
  return { id: d.ID, healthy: d.health === HEALTHY, numa: (d.topology?.nodes ?? []).map((n) => Number(n.ID)) };
}

/** NUMA node ids from sysfs, [0] when there is no such information. */
export function sysfsNumaNodes(root = '/sys/devices/system/node'): number[] {
  try {
    const ids = readdirSync(root)
      .map((n) => /^node(\d+)$/.exec(n)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number);
    return ids.length > 0 ? ids : [0];
  } catch {
    return [0];
  }
}

const byId = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

export class DeviceManager implements HintProvider {
  readonly name = 'devicemanager';
  readonly dir: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly numaNodes: number[];
  private readonly graceMs: number;
  private readonly resourcesByName = new Map<string, ResourceState>();
  /** Resources removed after their grace period: reported with 0 until a plugin registers them again. */
  private readonly removed = new Set<string>();
  private podDevices = new PodDevices();
  /** Devices of finished init containers, reusable by the pod's next containers (one pod at a time). */
  private reuse: { podUid: string; byResource: Map<string, Set<string>> } | undefined;
  private registration: RegistrationServer | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: DeviceManagerOptions) {
    this.dir = o.dir;
    this.log = (o.logger ?? silentLogger()).child({ component: 'devicemanager' });
    this.clock = o.clock ?? realClock;
    this.numaNodes = [...(o.numaNodes && o.numaNodes.length > 0 ? o.numaNodes : sysfsNumaNodes())].sort((a, b) => a - b);
    this.graceMs = o.endpointStopGracePeriodMs ?? ENDPOINT_STOP_GRACE_PERIOD_MS;
  }

  get checkpointPath(): string {
    return join(this.dir, CHECKPOINT_FILE);
  }

  get socket(): string {
    return join(this.dir, 'kubelet.sock');
  }

  /** Creates the directory, removes stale sockets (plugins re-register), restores the checkpoint, serves Registration. */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    this.removeSockets();
    this.restore();
    this.registration = await RegistrationServer.start({ dir: this.dir, logger: this.log, onRegister: (r) => this.register(r) });
    this.log.info({ socket: this.registration.socket }, 'device plugin registration serving');
  }

  async stop(): Promise<void> {
    await this.registration?.stop();
    this.registration = undefined;
    for (const st of this.resourcesByName.values()) {
      st.expiry?.cancel();
      st.endpoint?.close();
      st.endpoint = undefined;
    }
  }

  /** Called whenever capacity or allocatable may have changed (node status). */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'device change listener failed');
      }
    }
  }

  /** Every socket in the directory goes (the kubelet's and stale plugins'); the checkpoint and other files stay. */
  private removeSockets(): void {
    for (const name of readdirSync(this.dir)) {
      const p = join(this.dir, name);
      try {
        if (statSync(p).isSocket()) rmSync(p, { force: true });
      } catch {
        // raced with its owner removing it
      }
    }
  }

  private restore(): void {
    let data;
    try {
      data = readCheckpoint(this.checkpointPath);
    } catch (e) {
      const aside = `${this.checkpointPath}.corrupt-${this.clock.now()}`;
      try {
        renameSync(this.checkpointPath, aside);
      } catch {
        rmSync(this.checkpointPath, { force: true });
      }
      this.log.warn(
        { err: (e as Error).message, movedTo: aside },
        'device checkpoint unusable: starting with no device allocations (running pods keep their devices until they restart; plugins re-register)',
      );
      return;
    }
    if (!data) return;
    this.podDevices = PodDevices.fromEntries(data.PodDeviceEntries, this.log);
    // Known resources start with no devices (capacity 0) until their plugin registers again,
    // and are removed after the grace period if it never does.
    for (const resource of Object.keys(data.RegisteredDevices)) {
      const st: ResourceState = { preStartRequired: false, preferredAvailable: false, devices: new Map(), stoppedAt: this.clock.now() };
      this.resourcesByName.set(resource, st);
      this.scheduleExpiry(resource, st);
    }
    this.log.info({ entries: data.PodDeviceEntries.length, resources: Object.keys(data.RegisteredDevices) }, 'device checkpoint restored');
  }

  private checkpoint(): void {
    const registered: Record<string, string[]> = {};
    for (const [r, st] of this.resourcesByName) {
      registered[r] = [...st.devices.values()].filter((d) => d.healthy).map((d) => d.id);
    }
    try {
      writeCheckpoint(this.checkpointPath, { PodDeviceEntries: this.podDevices.toEntries(), RegisteredDevices: registered });
    } catch (e) {
      this.log.error({ err: (e as Error).message, file: this.checkpointPath }, 'device checkpoint not written');
    }
  }

  // ---- registration and plugin streams ----

  private async register(r: ValidRegistration): Promise<void> {
    this.o.metrics?.registration(r.resource);
    const ep = await PluginEndpoint.connect({ resource: r.resource, socket: r.socket, ...(this.o.dialTimeoutMs ? { dialTimeoutMs: this.o.dialTimeoutMs } : {}) });
    let st = this.resourcesByName.get(r.resource);
    if (st?.endpoint) {
      this.log.info({ resource: r.resource, old: st.endpoint.socket, new: r.socket }, 'device plugin replaced by a new registration');
      st.endpoint.close();
    }
    if (!st) {
      st = { preStartRequired: false, preferredAvailable: false, devices: new Map() };
      this.resourcesByName.set(r.resource, st);
    }
    st.expiry?.cancel();
    st.expiry = undefined;
    st.stoppedAt = undefined;
    st.endpoint = ep;
    this.removed.delete(r.resource);
    // The plugin's own answer to GetDevicePluginOptions is what the kubelet acts on.
    st.preStartRequired = ep.options.preStartRequired;
    st.preferredAvailable = ep.options.getPreferredAllocationAvailable;
    const state = st;
    this.log.info({ resource: r.resource, socket: r.socket, preStartRequired: st.preStartRequired, preferredAllocation: st.preferredAvailable }, 'device plugin registered');
    ep.watch(
      (devices) => {
        if (state.endpoint !== ep) return;
        state.devices = new Map(devices.map((d) => [d.ID, toInfo(d)]));
        const healthy = [...state.devices.values()].filter((d) => d.healthy).length;
        this.log.info({ resource: r.resource, devices: state.devices.size, healthy }, 'device plugin devices updated');
        this.checkpoint();
        this.changed();
      },
      (err) => {
        if (state.endpoint !== ep) return;
        ep.close();
        state.endpoint = undefined;
        this.markStopped(r.resource, state, err?.message);
      },
    );
  }

  private markStopped(resource: string, st: ResourceState, why: string | undefined): void {
    for (const d of st.devices.values()) d.healthy = false;
    st.stoppedAt = this.clock.now();
    this.log.warn({ resource, err: why, graceMs: this.graceMs }, 'device plugin stream ended: its devices are unhealthy until it registers again');
    this.scheduleExpiry(resource, st);
    this.checkpoint();
    this.changed();
  }

  private scheduleExpiry(resource: string, st: ResourceState): void {
    st.expiry?.cancel();
    st.expiry = this.clock.setTimer(() => {
      if (this.resourcesByName.get(resource) !== st || st.endpoint) return;
      this.resourcesByName.delete(resource);
      this.removed.add(resource);
      this.log.warn({ resource }, 'device plugin did not register again within the grace period: resource removed from the node');
      this.checkpoint();
      this.changed();
    }, this.graceMs);
  }

  // ---- node status ----

  /**
   * Capacity (all devices) and allocatable (healthy devices) per extended resource. A resource
   * removed after its grace period stays listed with 0 (as the kubelet sets it on the Node, so
   * that it reads as a device plugin resource that is gone, not a cluster-level one).
   */
  resources(): Record<string, { capacity: number; allocatable: number }> {
    const out: Record<string, { capacity: number; allocatable: number }> = {};
    for (const r of this.removed) out[r] = { capacity: 0, allocatable: 0 };
    for (const [r, st] of [...this.resourcesByName].sort(([a], [b]) => a.localeCompare(b))) {
      let healthy = 0;
      for (const d of st.devices.values()) if (d.healthy) healthy++;
      out[r] = { capacity: st.devices.size, allocatable: healthy };
    }
    return out;
  }

  /** The devices of a resource (for tests and `cocolet status`). */
  devices(resource: string): DeviceInfo[] {
    return [...(this.resourcesByName.get(resource)?.devices.values() ?? [])].map((d) => ({ ...d, numa: [...d.numa] }));
  }

  /** A resource the device manager serves (registered now, or remembered from the checkpoint or an allocation). */
  isDeviceResource(resource: string): boolean {
    return this.resourcesByName.has(resource) || this.podDevices.inUse().has(resource);
  }

  // ---- hints ----

  private healthyIds(resource: string): Set<string> {
    const st = this.resourcesByName.get(resource);
    return new Set([...(st?.devices.values() ?? [])].filter((d) => d.healthy).map((d) => d.id));
  }

  private available(resource: string): Set<string> {
    const used = this.podDevices.inUse().get(resource) ?? new Set<string>();
    return new Set([...this.healthyIds(resource)].filter((id) => !used.has(id)));
  }

  private reusable(podUid: string, resource: string): Set<string> {
    return this.reuse?.podUid === podUid ? (this.reuse.byResource.get(resource) ?? new Set()) : new Set();
  }

  private hintsFor(pod: Pod, requests: Map<string, number>, container: string | undefined): ResourceHints {
    this.gcInactivePods();
    const uid = pod.metadata.uid ?? '';
    const out: Record<string, TopologyHint[] | null> = {};
    for (const [resource, requested] of requests) {
      const st = this.resourcesByName.get(resource);
      if (!st || !hasTopology(st.devices.values())) {
        out[resource] = null;
        continue;
      }
      const allocated = container
        ? this.podDevices.containerDevices(uid, container, resource)
        : this.podAllocated(uid, resource);
      if (allocated && allocated.size > 0) {
        out[resource] = allocated.size === requested ? generateDeviceHints(this.numaNodes, st.devices, allocated, [], requested) : [];
        continue;
      }
      const available = this.available(resource);
      const reusable = this.reusable(uid, resource);
      if (new Set([...available, ...reusable]).size < requested) {
        out[resource] = [];
        continue;
      }
      out[resource] = generateDeviceHints(this.numaNodes, st.devices, available, reusable, requested);
    }
    return out;
  }

  private podAllocated(uid: string, resource: string): Set<string> | undefined {
    const ids = new Set<string>();
    for (const c of this.podDevices.containersOf(uid)) for (const id of this.podDevices.containerDevices(uid, c, resource) ?? []) ids.add(id);
    return ids.size > 0 ? ids : undefined;
  }

  getTopologyHints(pod: Pod, container: Container): ResourceHints {
    return this.hintsFor(pod, containerDeviceRequests(container, (r) => this.isDeviceResource(r)), container.name);
  }

  getPodTopologyHints(pod: Pod): ResourceHints {
    return this.hintsFor(pod, podDeviceRequests(pod, (r) => this.isDeviceResource(r)), undefined);
  }

  // ---- allocation ----

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private gcInactivePods(): void {
    const list = this.o.activePods?.();
    if (!list) return;
    const active = new Set(list);
    let freed = false;
    for (const uid of this.podDevices.podUids()) {
      if (!active.has(uid) && this.podDevices.removePod(uid)) freed = true;
    }
    if (freed) this.checkpoint();
  }

  /**
   * Allocates the container's devices (HintProvider). Containers must be given in the pod's order
   * (init containers first): a plain init container's devices go back to a pool its pod's later
   * containers take from first. Throws an AdmissionError (UnexpectedAdmissionError).
   */
  allocate(pod: Pod, container: Container, affinity: TopologyHint | null): Promise<void> {
    return this.serial(async () => {
      const uid = pod.metadata.uid ?? '';
      if (this.reuse?.podUid !== uid) this.reuse = { podUid: uid, byResource: new Map() };
      const reuse = this.reuse.byResource;
      try {
        await this.allocateContainer(pod, container, affinity, reuse);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new AdmissionError(UNEXPECTED_ADMISSION_ERROR, `Allocate failed due to ${msg}, which is unexpected`);
      }
      const held = this.podDevices.container(uid, container.name);
      const init = (pod.spec.initContainers ?? []).find((ic) => ic.name === container.name);
      for (const [resource, a] of held) {
        let pool = reuse.get(resource);
        if (!pool) reuse.set(resource, (pool = new Set()));
        const ids = Object.values(a.byNuma).flat();
        if (init && init.restartPolicy !== 'Always') for (const id of ids) pool.add(id);
        else for (const id of ids) pool.delete(id);
      }
    });
  }

  private async allocateContainer(pod: Pod, c: Container, affinity: TopologyHint | null, reuse: Map<string, Set<string>>): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    const requests = containerDeviceRequests(c, (r) => this.isDeviceResource(r));
    if (requests.size === 0) return;
    this.gcInactivePods();
    let changed = false;
    for (const [resource, required] of [...requests].sort(([a], [b]) => a.localeCompare(b))) {
      if (Number.isNaN(required)) throw new Error(`the request for ${resource} of container ${c.name} is not a whole number of devices`);
      const ids = await this.devicesToAllocate(uid, c.name, resource, required, reuse.get(resource) ?? new Set(), affinity);
      if (ids.length === 0) continue;
      const st = this.resourcesByName.get(resource);
      const ep = st?.endpoint;
      if (!st || !ep) throw new Error(`the device plugin for ${resource} is not connected`);
      const started = this.clock.now();
      let response;
      try {
        response = await ep.allocate(ids);
      } catch (e) {
        throw new Error(`device plugin Allocate for ${resource} (devices ${ids.join(', ')}) failed: ${(e as Error).message}`);
      }
      const byNuma: Record<string, string[]> = {};
      for (const id of ids) {
        const numa = st.devices.get(id)?.numa ?? [];
        for (const n of numa.length > 0 ? numa : [-1]) (byNuma[String(n)] ??= []).push(id);
      }
      const a: Allocation = { byNuma, response };
      this.podDevices.insert(uid, c.name, resource, a);
      changed = true;
      const ms = this.clock.now() - started;
      this.o.metrics?.allocationSeconds(resource, ms / 1000);
      this.log.info({ pod: podKey(pod), container: c.name, resource, devices: ids, ms }, 'devices allocated');
    }
    if (changed) this.checkpoint();
  }

  private async devicesToAllocate(
    uid: string,
    container: string,
    resource: string,
    required: number,
    reusable: Set<string>,
    affinity: TopologyHint | null,
  ): Promise<string[]> {
    const st = this.resourcesByName.get(resource);
    const held = this.podDevices.containerDevices(uid, container, resource);
    if (held && held.size !== required) {
      throw new Error(`pod ${uid} container ${container} changed request for resource ${resource} from ${held.size} to ${required}`);
    }
    if (held) {
      // Admitted before (a kubelet restart re-admits running pods): the container keeps its
      // devices even while its plugin has not registered again or reports them unhealthy.
      const healthy = this.healthyIds(resource);
      const bad = [...held].filter((id) => !healthy.has(id));
      if (bad.length > 0) this.log.warn({ podUid: uid, container, resource, devices: bad }, 'container keeps devices that are not healthy (now)');
      return [];
    }
    if (!st) throw new Error(`cannot allocate unregistered device ${resource}`);
    const healthy = this.healthyIds(resource);
    if (healthy.size === 0) throw new Error(`no healthy devices present; cannot allocate unhealthy devices ${resource}`);
    let needed = required;
    const picked: string[] = [];
    const inUse = this.podDevices.inUse().get(resource) ?? new Set<string>();
    const take = (from: Iterable<string>, allowInUse = false): boolean => {
      for (const id of from) {
        if (needed === 0) break;
        if (picked.includes(id) || (!allowInUse && inUse.has(id)) || !healthy.has(id)) continue;
        picked.push(id);
        needed--;
      }
      return needed === 0;
    };
    if (take([...reusable].sort(byId), true)) return picked;
    const available = [...healthy].filter((id) => !inUse.has(id) && !picked.includes(id)).sort(byId);
    if (available.length < needed) {
      throw new Error(`requested number of devices unavailable for ${resource}. Requested: ${needed}, Available: ${available.length}`);
    }
    const mask = affinity?.numaAffinity ?? null;
    const aligned = mask && hasTopology(st.devices.values()) ? available.filter((id) => inMask(st.devices.get(id), mask)) : [];
    const rest = available.filter((id) => !aligned.includes(id));
    const preferred = async (pool: string[]): Promise<string[]> => {
      if (!st.preferredAvailable || !st.endpoint) return [];
      try {
        return await st.endpoint.preferredAllocation([...pool, ...picked].sort(byId), [...picked], required);
      } catch (e) {
        throw new Error(`device plugin GetPreferredAllocation for ${resource} failed: ${(e as Error).message}`);
      }
    };
    if (needed < aligned.length) {
      const pref = await preferred(aligned);
      if (take(pref.filter((id) => aligned.includes(id)))) return picked;
      if (take(aligned)) return picked;
    } else {
      if (take(aligned)) return picked;
      const pref = await preferred(available);
      if (take(pref.filter((id) => available.includes(id)))) return picked;
      if (take(rest)) return picked;
    }
    throw new Error(`unexpectedly allocated less resources than required. Requested: ${required}, Got: ${required - needed}`);
  }

  /**
   * Admission without a topology manager: allocates every container of the pod in order (init
   * containers first). Returns the refusal, or undefined when the pod fits. A request for an
   * extended resource no plugin serves is refused as the kubelet's resource fit does
   * (`OutOf<resource>`).
   */
  async admit(pod: Pod): Promise<AdmissionError | undefined> {
    const unserved = this.refuseUnserved(pod);
    if (unserved) return unserved;
    try {
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) await this.allocate(pod, c, null);
      return undefined;
    } catch (e) {
      if (e instanceof AdmissionError) return e;
      throw e;
    }
  }

  /**
   * The refusal for a pod that asks for an extended resource no device plugin serves (the
   * kubelet's resource fit: `OutOf<resource>`), or undefined. Call before topology admission.
   */
  refuseUnserved(pod: Pod): AdmissionError | undefined {
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      for (const [r, n] of containerDeviceRequests(c, (x) => isExtendedResourceName(x) && !this.isDeviceResource(x))) {
        if (n > 0) return new AdmissionError(`OutOf${r}`, `Node didn't have enough resource: ${r}, requested: ${n}, used: 0, capacity: 0`);
      }
    }
    return undefined;
  }

  /** What the container's devices add to its CRI config; calls PreStartContainer where the plugin requires it. */
  async runContainerOptions(pod: Pod, c: Container): Promise<DeviceRunOptions | undefined> {
    const uid = pod.metadata.uid ?? '';
    for (const [resource, a] of this.podDevices.container(uid, c.name)) {
      const st = this.resourcesByName.get(resource);
      if (!st?.preStartRequired) continue;
      if (!st.endpoint) {
        throw new CocoletError(ErrorCode.Unavailable, `device plugin for ${resource} is not connected; PreStartContainer cannot be called`, {
          context: { pod: podKey(pod), container: c.name, resource },
        });
      }
      const ids = [...new Set(Object.values(a.byNuma).flat())].sort(byId);
      try {
        await st.endpoint.preStart(ids);
      } catch (e) {
        throw new CocoletError(ErrorCode.Unavailable, `device plugin PreStartContainer rpc for ${resource} failed: ${(e as Error).message}`, {
          cause: e,
          context: { pod: podKey(pod), container: c.name, resource },
        });
      }
    }
    return this.podDevices.runOptions(uid, c.name);
  }

  removeContainer(podUid: string, containerName: string): void {
    if (this.podDevices.removeContainer(podUid, containerName)) this.checkpoint();
  }

  removePod(podUid: string): void {
    if (this.reuse?.podUid === podUid) this.reuse = undefined;
    if (this.podDevices.removePod(podUid)) this.checkpoint();
  }

  /** Device ids held by a container for a resource (tests, pod-resources). */
  containerDevices(podUid: string, container: string, resource: string): string[] {
    return [...(this.podDevices.containerDevices(podUid, container, resource) ?? [])].sort(byId);
  }
}
