/**
 * The runtime side of a pod sync (kl/kuberuntime/kuberuntime_manager.go): compares the pod spec
 * with the runtime status and acts through CRI.
 *
 * `syncPod(pod, status)`: resolve the RuntimeClass to a CRI handler; set up volumes; create the
 * sandbox when there is no ready one (a `Never` pod whose sandbox died is not recreated); run init
 * containers one at a time in order; start app containers; restart exited ones per restartPolicy
 * with CrashLoopBackOff; replace containers whose spec hash changed or whose liveness / startup
 * probe failed; kill containers that are no longer in the spec; run postStart hooks.
 * `killPod(pod, status, grace)`: preStop hooks and StopContainer with the remaining grace
 * (floored at 2 s when the grace was > 0) for every container in parallel, then StopPodSandbox.
 * `removePod(status)`: removes containers, sandboxes and the pod's volumes.
 *
 * Results carry per-container waiting reasons (ContainerCreating, CrashLoopBackOff, ErrImagePull,
 * ImagePullBackOff, CreateContainerError, …) and when to requeue.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { CocoletError, ErrorCode, toCocoletError } from '../../../shared/errors/errors.js';
import type { CriImages, CriRuntime } from '../../cri/api.js';
import { podKey, type Container, type LifecycleHandler, type Pod } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { EventRecorder } from '../events.js';
import { runHandler } from '../probes/handlers.js';
import type { VolumeManager } from '../volumes/volumes.js';
import { envNeedsPodIPs } from '../volumes/env.js';
import { Backoff } from './backoff.js';
import { ImageManager, ImagePullError, type PullPolicy } from './images.js';
import { containerConfig, containerHash, podLogDir, sandboxConfig, type ResourceRunOptions } from './podspec.js';
import { podIp, type ContainerInfo, type RuntimePodStatus } from './status.js';
import { teeDescription, teeLabel, type TeeKind } from '../../../shared/tee/kind.js';

/**
 * A failed volume set-up is retried every 100 ms for its first second, then after 200 ms doubling
 * to 10 s (other sync errors wait 10 s). Upstream's volume manager starts at 500 ms doubling; the
 * common failure, a TokenRequest refused until the Node authorizer's graph has the pod's binding
 * ("scheduled on a different node"), clears after tens to hundreds of milliseconds, and a doubling
 * wait would overshoot that by as much again.
 */
export const MOUNT_RETRY_MIN_MS = 100;
export const MOUNT_RETRY_FAST_TRIES = 10;
export const MOUNT_RETRY_MAX_MS = 10_000;

/** Floor of the remaining grace after a preStop hook (minimumGracePeriodInSeconds). */
export const MINIMUM_GRACE_PERIOD_SECONDS = 2;
export const DEFAULT_GRACE_SECONDS = 30;

export interface Waiting {
  reason: string;
  message?: string;
}

export interface SyncResult {
  /** Something was created, started or stopped. */
  changed: boolean;
  /** Per container name: why it is not running. */
  waiting: Record<string, Waiting>;
  error?: CocoletError;
  /** Sync again after this long (back-off expiry); undefined = normal resync. */
  requeueAfterMs?: number;
  /** The CRI handler used ('' = default runtime). */
  runtimeHandler?: string;
  /** The sync returned before asking the runtime for any change (a volume set-up failed). */
  runtimeUntouched?: boolean;
}

/** Probe verdicts the manager acts on. */
export interface ProbeVerdicts {
  livenessFailed(uid: string, container: string, containerId: string): boolean;
  startupFailed(uid: string, container: string, containerId: string): boolean;
  /** The startup probe passed (true when there is none). */
  started(uid: string, container: string, containerId: string): boolean;
}

export interface RuntimeManagerOptions {
  cri: CriRuntime;
  images: CriImages;
  clock: Clock;
  podLogsDir: string;
  /** RuntimeClass name → CRI handler ('' = default). */
  runtimeClassHandlers: Record<string, string>;
  /** Handlers whose pods are confidential (secrets stay out of the host). */
  confidentialHandlers?: string[];
  volumes: VolumeManager;
  events: EventRecorder;
  probes?: ProbeVerdicts;
  logger?: Logger;
  /** Create log directories (off for the fake CRI). */
  makeLogDirs?: boolean;
  /** The TEE the runtime shim reports for a sandbox (cocolet's shim writes it; see host/shim/tee-label.ts). */
  teeOf?: (sandboxId: string) => TeeKind | undefined;
  /** Devices (and the like) the resource managers add to a container's config; a rejection is CreateContainerConfigError. */
  resourceOptions?: (pod: Pod, c: Container) => Promise<ResourceRunOptions | undefined>;
  /** Pods run in `<podsCgroup>/pod<uid>` (cgroupfs path); unset: the runtime's default. */
  podsCgroup?: string;
  /** The NUMA nodes the memory manager granted the pod (a Linux list), put on its sandbox; undefined: none. */
  podNumaNodes?: (pod: Pod) => string | undefined;
}

export function shouldRestart(policy: Pod['spec']['restartPolicy'], exitCode: number): boolean {
  if (policy === 'Never') return false;
  if (policy === 'OnFailure') return exitCode !== 0;
  return true;
}

export class RuntimeManager {
  readonly crashBackoff: Backoff;
  private readonly imageManager: ImageManager;
  private readonly log: Logger;
  private readonly tees = new Map<string, { sandboxId: string; tee?: TeeKind }>();

  constructor(private readonly o: RuntimeManagerOptions) {
    this.crashBackoff = new Backoff(o.clock);
    this.imageManager = new ImageManager(o.images, o.clock);
    this.log = o.logger ?? silentLogger();
  }

  /** The CRI handler of a pod, or a CocoletError when its RuntimeClass is unknown. */
  runtimeHandler(pod: Pod): string {
    const rc = pod.spec.runtimeClassName;
    if (!rc) return '';
    const h = this.o.runtimeClassHandlers[rc];
    if (h === undefined) {
      throw new CocoletError(ErrorCode.NotFound, `RuntimeClass "${rc}" not found`, { context: { pod: podKey(pod), reason: 'RuntimeClassNotFound' } });
    }
    return h;
  }

  /** The TEE label of a confidential pod's current sandbox (`dev (not confidential)`, …), once known. */
  teeLabelOf(pod: Pod): string | undefined {
    const t = this.tees.get(pod.metadata.uid ?? '');
    return t ? (t.tee ? teeLabel(t.tee) : 'unknown (not reported)') : undefined;
  }

  /** Learns the TEE of a confidential pod's sandbox once per sandbox and says it in the pod's events. */
  private noteTee(pod: Pod, sandboxId: string, ev: (type: 'Normal' | 'Warning', reason: string, msg: string) => void): void {
    const uid = pod.metadata.uid ?? '';
    if (!this.o.teeOf || !this.isConfidential(pod) || this.tees.get(uid)?.sandboxId === sandboxId) return;
    const tee = this.o.teeOf(sandboxId);
    if (!tee) {
      if (!this.tees.has(uid)) ev('Warning', 'TEEUnknown', `the runtime reported no TEE for sandbox ${sandboxId}: treat the pod as not confidential`);
      this.tees.set(uid, { sandboxId: '' });
      return;
    }
    this.tees.set(uid, { sandboxId, tee });
    if (tee === 'snp' || tee === 'tdx') ev('Normal', 'ConfidentialSandbox', teeDescription(tee));
    else ev('Warning', 'NotConfidential', teeDescription(tee));
  }

  /** Forgets a deleted pod's TEE. */
  forgetTee(uid: string): void {
    this.tees.delete(uid);
  }

  /** Failed volume set-ups in a row, per pod uid. */
  private readonly mountTries = new Map<string, number>();

  /** The sandbox's IPs (its network status), [] when it has none or is gone. */
  private async sandboxIPs(sandboxId: string): Promise<string[]> {
    const st = await this.o.cri.podSandboxStatus(sandboxId).catch(() => undefined);
    const ip = st?.network?.ip;
    return ip ? [ip, ...(st.network?.additionalIps ?? []).map((a) => a.ip).filter(Boolean)] : [];
  }

  isConfidential(pod: Pod): boolean {
    try {
      return (this.o.confidentialHandlers ?? ['cocolet']).includes(this.runtimeHandler(pod));
    } catch {
      return false;
    }
  }

  async syncPod(pod: Pod, status: RuntimePodStatus): Promise<SyncResult> {
    const res: SyncResult = { changed: false, waiting: {} };
    const key = podKey(pod);
    const uid = pod.metadata.uid!;
    const ev = (type: 'Normal' | 'Warning', reason: string, msg: string): void => this.o.events.record(key, type, reason, msg, uid);
    const allContainers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
    const waitAll = (reason: string, message?: string): void => {
      for (const c of allContainers) res.waiting[c.name] = { reason, ...(message ? { message } : {}) };
    };

    let handler: string;
    try {
      handler = this.runtimeHandler(pod);
      res.runtimeHandler = handler;
    } catch (e) {
      const err = toCocoletError(e);
      ev('Warning', 'FailedCreatePodSandBox', err.message);
      waitAll('ContainerCreating', err.message);
      res.error = err;
      return res;
    }

    let volumes: Map<string, string>;
    try {
      volumes = await this.o.volumes.setUp(pod, { confidential: this.isConfidential(pod), warn: (m) => ev('Warning', 'FailedMount', m) });
    } catch (e) {
      const err = toCocoletError(e, ErrorCode.FailedPrecondition, { pod: key });
      ev('Warning', typeof err.context.reason === 'string' ? err.context.reason : 'FailedMount', err.message);
      waitAll('ContainerCreating', err.message);
      res.error = err;
      // Mounts are retried sooner than other errors (MOUNT_RETRY_MIN_MS above).
      const tries = (this.mountTries.get(uid) ?? 0) + 1;
      this.mountTries.set(uid, tries);
      const wait = tries <= MOUNT_RETRY_FAST_TRIES ? MOUNT_RETRY_MIN_MS : Math.min(MOUNT_RETRY_MIN_MS * 2 ** (tries - MOUNT_RETRY_FAST_TRIES), MOUNT_RETRY_MAX_MS);
      if (err.code !== ErrorCode.PermissionDenied) res.requeueAfterMs = wait;
      res.runtimeUntouched = true;
      return res;
    }
    this.mountTries.delete(uid);

    // Environment from Secrets / ConfigMaps, resolved before any sandbox (a refused pod boots no VM).
    const envs = new Map<string, { key: string; value: string }[]>();
    try {
      const confidential = this.isConfidential(pod);
      for (const c of allContainers) envs.set(c.name, await this.o.volumes.envFor(pod, c, { confidential }));
    } catch (e) {
      const err = toCocoletError(e, ErrorCode.FailedPrecondition, { pod: key });
      const reason = typeof err.context.reason === 'string' ? err.context.reason : 'Failed';
      ev('Warning', reason, err.message);
      waitAll('CreateContainerConfigError', err.message);
      res.error = err;
      return res;
    }

    const policy = pod.spec.restartPolicy ?? 'Always';
    const latestSandbox = status.sandboxes[0];
    let sandboxId = latestSandbox?.state === 'ready' ? latestSandbox.id : undefined;
    const cgroup = this.o.podsCgroup ? { cgroupParent: `${this.o.podsCgroup}/pod${pod.metadata.uid}` } : {};
    const numaNodes = this.o.podNumaNodes?.(pod);
    const sandboxConfigFor = (attempt: number): ReturnType<typeof sandboxConfig> => sandboxConfig(pod, { podLogsDir: this.o.podLogsDir, attempt, ...cgroup, ...(numaNodes ? { numaNodes } : {}) });
    let sbConfig = sandboxConfigFor(latestSandbox?.attempt ?? 0);

    if (!sandboxId) {
      if (latestSandbox && policy === 'Never' && status.containers.length > 0) {
        // The pod ran once and must not be restarted: nothing to do (its phase is terminal).
        return res;
      }
      // Kill what is left of the old sandbox, then create a new one.
      await this.killContainers(pod, status, status.containers.filter((c) => c.state === 'running'), undefined, 'sandbox changed');
      for (const s of status.sandboxes) {
        if (s.state === 'ready') await this.o.cri.stopPodSandbox(s.id, { context: { pod: key } }).catch(() => undefined);
      }
      const attempt = latestSandbox ? latestSandbox.attempt + 1 : 0;
      sbConfig = sandboxConfigFor(attempt);
      if (this.o.makeLogDirs !== false) mkdirSync(podLogDir(this.o.podLogsDir, pod), { recursive: true });
      try {
        sandboxId = await this.o.cri.runPodSandbox(sbConfig, handler, { context: { pod: key } });
        res.changed = true;
      } catch (e) {
        const err = toCocoletError(e, ErrorCode.RuntimeFailed, { pod: key });
        ev('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${err.message}`);
        waitAll('ContainerCreating', err.message);
        res.error = err;
        return res;
      }
    }
    const sid = sandboxId;
    this.noteTee(pod, sid, ev);
    const inSandbox = (name: string): ContainerInfo | undefined => status.containers.find((c) => c.name === name && c.sandboxId === sid);
    const latestAny = (name: string): ContainerInfo | undefined => status.containers.find((c) => c.name === name);

    const start = async (c: Container, init: boolean): Promise<void> => {
      const prev = latestAny(c.name);
      const restartCount = prev ? prev.restartCount + 1 : 0;
      const hash = containerHash(c);
      const bkey = `${uid}/${c.name}/${hash}`;
      if (prev && prev.state === 'exited' && prev.finishedAt > 0) {
        if (this.crashBackoff.isInBackOffSince(bkey, prev.finishedAt)) {
          const delay = this.crashBackoff.get(bkey);
          res.waiting[c.name] = { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${key}` };
          const due = prev.finishedAt + delay - this.o.clock.now();
          res.requeueAfterMs = Math.min(res.requeueAfterMs ?? Infinity, Math.max(0, due));
          return;
        }
        this.crashBackoff.next(bkey, prev.finishedAt);
      }
      const ctx = { pod: key, container: c.name };
      try {
        await this.imageManager.ensure(c.image, (c.imagePullPolicy ?? 'IfNotPresent') as PullPolicy, sbConfig, ctx, (reason, msg) => ev('Normal', reason, msg));
      } catch (e) {
        const reason = e instanceof ImagePullError ? e.reason : 'ErrImagePull';
        res.waiting[c.name] = { reason, message: (e as Error).message };
        ev('Warning', reason === 'ImagePullBackOff' ? 'BackOff' : 'Failed', (e as Error).message);
        res.error = toCocoletError(e);
        res.requeueAfterMs = Math.min(res.requeueAfterMs ?? Infinity, 10_000);
        return;
      }
      let resources: ResourceRunOptions | undefined;
      try {
        resources = await this.o.resourceOptions?.(pod, c);
      } catch (e) {
        const err = toCocoletError(e, ErrorCode.RuntimeFailed, ctx);
        res.waiting[c.name] = { reason: 'CreateContainerConfigError', message: err.message };
        ev('Warning', 'Failed', `Error: ${err.message}`);
        res.error = err;
        return;
      }
      let id: string;
      try {
        if (this.o.makeLogDirs !== false) mkdirSync(join(podLogDir(this.o.podLogsDir, pod), c.name), { recursive: true });
        const mounts = this.o.volumes.mountsFor(c, volumes);
        // fieldRef status.podIP(s): known once the sandbox has its network.
        if (envNeedsPodIPs(c)) envs.set(c.name, await this.o.volumes.envFor(pod, c, { confidential: this.isConfidential(pod), podIPs: await this.sandboxIPs(sid) }));
        id = await this.o.cri.createContainer(sid, containerConfig(pod, c, { restartCount, image: c.image, mounts, init, envs: envs.get(c.name), resources }), sbConfig, { context: ctx });
        res.changed = true;
      } catch (e) {
        const err = toCocoletError(e, ErrorCode.RuntimeFailed, ctx);
        res.waiting[c.name] = { reason: 'CreateContainerError', message: err.message };
        ev('Warning', 'Failed', `Error: ${err.message}`);
        res.error = err;
        return;
      }
      ev('Normal', 'Created', `Created container ${c.name}`);
      try {
        await this.o.cri.startContainer(id, { context: ctx });
      } catch (e) {
        const err = toCocoletError(e, ErrorCode.RuntimeFailed, ctx);
        res.waiting[c.name] = { reason: 'RunContainerError', message: err.message };
        ev('Warning', 'Failed', `Error: ${err.message}`);
        res.error = err;
        return;
      }
      ev('Normal', 'Started', `Started container ${c.name}`);
      if (c.lifecycle?.postStart) {
        const out = await runHandler(c.lifecycle.postStart, {
          cri: this.o.cri,
          containerId: id,
          podIp: podIp(status),
          container: c,
          timeoutMs: (pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS) * 1000,
          podKey: key,
        });
        if (out.result === 'failure') {
          ev('Warning', 'FailedPostStartHook', `PostStartHook failed: ${out.output}`);
          await this.o.cri.stopContainer(id, pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS, { context: ctx }).catch(() => undefined);
        }
      }
    };

    // Init containers, one at a time, in order. Sidecars (restartPolicy Always) keep running and
    // are restarted whatever the pod's policy; the next init container starts once a sidecar has
    // started (its startup probe, if any, passed).
    // Once app containers exist in this sandbox, a restarting sidecar no longer blocks anything.
    const initialized = pod.spec.containers.some((c) => inSandbox(c.name));
    for (const ic of pod.spec.initContainers ?? []) {
      const cur = inSandbox(ic.name);
      if (ic.restartPolicy === 'Always') {
        if (!cur || cur.state === 'exited') {
          await start(ic, true);
          if (!initialized && (ic.startupProbe || res.waiting[ic.name])) return res;
          continue;
        }
        if (cur.state !== 'running' && !initialized) return res;
        if (!initialized && ic.startupProbe && this.o.probes && !this.o.probes.started(uid, ic.name, cur.id)) return res;
        continue;
      }
      if (initialized) continue; // regular init containers never run again once the app started
      if (!cur) {
        await start(ic, true);
        return res;
      }
      if (cur.state !== 'exited') {
        return res; // still running (or being created): wait for it
      }
      if (cur.exitCode === 0) continue;
      if (policy === 'Never') return res; // the pod failed
      await start(ic, true);
      return res;
    }

    // App containers.
    const specNames = new Set(pod.spec.containers.map((c) => c.name));
    const toKill: { c: ContainerInfo; reason: string; grace?: number }[] = [];
    const toStart: Container[] = [];
    for (const c of pod.spec.containers) {
      const cur = inSandbox(c.name);
      if (!cur) {
        toStart.push(c);
        continue;
      }
      if (cur.state === 'running') {
        if (cur.hash && cur.hash !== containerHash(c)) {
          toKill.push({ c: cur, reason: 'Container spec hash changed' });
          if (shouldRestart(policy, 0)) toStart.push(c);
        } else if (this.o.probes?.livenessFailed(uid, c.name, cur.id)) {
          ev('Normal', 'Killing', `Container ${c.name} failed liveness probe, will be restarted`);
          toKill.push({ c: cur, reason: 'failed liveness probe', ...(c.livenessProbe?.terminationGracePeriodSeconds !== undefined ? { grace: c.livenessProbe.terminationGracePeriodSeconds } : {}) });
        } else if (this.o.probes?.startupFailed(uid, c.name, cur.id)) {
          ev('Normal', 'Killing', `Container ${c.name} failed startup probe, will be restarted`);
          toKill.push({ c: cur, reason: 'failed startup probe', ...(c.startupProbe?.terminationGracePeriodSeconds !== undefined ? { grace: c.startupProbe.terminationGracePeriodSeconds } : {}) });
        }
        continue;
      }
      if (cur.state === 'exited' && shouldRestart(policy, cur.exitCode)) toStart.push(c);
      if (cur.state === 'created') {
        // Created but never started (e.g. a failed start): remove and recreate.
        await this.o.cri.removeContainer(cur.id, { context: { pod: key, container: c.name } }).catch(() => undefined);
        toStart.push(c);
      }
    }
    for (const c of status.containers) {
      if (c.sandboxId === sid && c.state === 'running' && !specNames.has(c.name) && !(pod.spec.initContainers ?? []).some((i) => i.name === c.name)) {
        toKill.push({ c, reason: 'Container is not in the pod spec' });
      }
    }
    for (const k of toKill) {
      await this.killContainer(pod, k.c, k.grace ?? pod.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS, podIp(status), k.reason);
      res.changed = true;
    }
    await Promise.all(toStart.map((c) => start(c, false)));
    return res;
  }

  /** preStop + StopContainer with the remaining grace. */
  async killContainer(pod: Pod | undefined, c: ContainerInfo, graceSeconds: number, ip: string, reason: string): Promise<void> {
    const key = pod ? podKey(pod) : c.sandboxId;
    const ctx = { pod: key, container: c.name };
    this.log.info({ pod: key, container: c.name, reason, grace: graceSeconds }, 'killing container');
    const spec = pod ? [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === c.name) : undefined;
    let preStop: LifecycleHandler | undefined = spec?.lifecycle?.preStop;
    if (!preStop && c.preStop) {
      try {
        preStop = JSON.parse(c.preStop) as LifecycleHandler;
      } catch {
        preStop = undefined;
      }
    }
    if (pod && reason.startsWith('pod terminating')) this.o.events.record(key, 'Normal', 'Killing', `Stopping container ${c.name}`, pod.metadata.uid);
    const begin = this.o.clock.now();
    if (preStop && graceSeconds > 0 && c.state === 'running') {
      const out = await runHandler(preStop, {
        cri: this.o.cri,
        containerId: c.id,
        podIp: ip,
        container: spec ?? { name: c.name, image: c.image },
        timeoutMs: graceSeconds * 1000,
        podKey: key,
      });
      if (out.result === 'failure') this.o.events.record(key, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${out.output}`, pod?.metadata.uid);
    }
    let remaining = graceSeconds - Math.floor((this.o.clock.now() - begin) / 1000);
    if (graceSeconds > 0) remaining = Math.max(remaining, MINIMUM_GRACE_PERIOD_SECONDS);
    else remaining = 0;
    try {
      await this.o.cri.stopContainer(c.id, remaining, { context: ctx });
    } catch (e) {
      const err = toCocoletError(e);
      if (err.code !== ErrorCode.NotFound) throw err;
    }
  }

  private async killContainers(pod: Pod | undefined, status: RuntimePodStatus, list: ContainerInfo[], grace: number | undefined, reason: string): Promise<void> {
    await Promise.all(
      list.map((c) =>
        this.killContainer(pod, c, grace ?? pod?.spec.terminationGracePeriodSeconds ?? c.terminationGraceSeconds ?? DEFAULT_GRACE_SECONDS, podIp(status), reason).catch((e: unknown) =>
          this.log.warn({ pod: pod ? podKey(pod) : status.uid, container: c.name, err: e }, 'kill container failed'),
        ),
      ),
    );
  }

  /** Stops every container (preStop + grace; app containers before sidecars) and then the sandboxes. */
  async killPod(pod: Pod | undefined, status: RuntimePodStatus, graceSeconds?: number): Promise<void> {
    const sidecars = new Set((pod?.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
    const live = status.containers.filter((c) => c.state === 'running' || c.state === 'unknown');
    await this.killContainers(pod, status, live.filter((c) => !sidecars.has(c.name)), graceSeconds, 'pod terminating');
    await this.killContainers(pod, status, live.filter((c) => sidecars.has(c.name)), graceSeconds, 'pod terminating (sidecar)');
    for (const s of status.sandboxes) {
      if (s.state === 'ready') await this.o.cri.stopPodSandbox(s.id, { context: { pod: pod ? podKey(pod) : status.uid } }).catch(() => undefined);
    }
  }

  /** Removes containers and sandboxes of a terminated pod, and its volumes. */
  async removePod(status: RuntimePodStatus): Promise<void> {
    for (const c of status.containers) await this.o.cri.removeContainer(c.id).catch(() => undefined);
    for (const s of status.sandboxes) {
      await this.o.cri.stopPodSandbox(s.id).catch(() => undefined);
      await this.o.cri.removePodSandbox(s.id).catch(() => undefined);
    }
    this.o.volumes.tearDown(status.uid);
    this.mountTries.delete(status.uid);
  }
}
