/**
 * Probe manager (kl/prober/): one worker per (pod, container, probe type) ticking every
 * `periodSeconds`. Initial results: readiness = failure, liveness = success, startup = unknown.
 * Liveness and readiness do not run until the startup probe has succeeded; the startup probe
 * stops once it succeeded. Nothing runs before `initialDelaySeconds` after the container started.
 * A result flips only after `failureThreshold` consecutive failures or `successThreshold`
 * consecutive successes; a flip is reported through `onResult`. After a liveness or startup
 * failure the worker holds until the container ID changes (the container is being restarted).
 *
 * API: `addPod(pod)`, `removePod(uid)`, verdicts `ready/started/livenessFailed/startupFailed`
 * (ProbeView + ProbeVerdicts), `stop()`. The container's current ID / state / pod IP come from
 * the `containerInfo` callback.
 */
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import type { CriRuntime } from '../../cri/api.js';
import { podKey, type Container, type Pod, type Probe } from '../api/types.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { EventRecorder } from '../events.js';
import { PROBE_DEFAULTS } from '../config/manifest.js';
import { runHandler } from './handlers.js';

export type ProbeType = 'liveness' | 'readiness' | 'startup';
export type Verdict = 'success' | 'failure' | 'unknown';

export interface LiveContainer {
  id: string;
  running: boolean;
  /** ms since epoch */
  startedAt: number;
  podIp: string;
}

export interface ProbeManagerOptions {
  cri: CriRuntime;
  clock: Clock;
  containerInfo: (uid: string, container: string) => LiveContainer | undefined;
  onResult: (uid: string, container: string, type: ProbeType, verdict: Verdict) => void;
  events?: EventRecorder;
  logger?: Logger;
}

interface Worker {
  uid: string;
  pod: Pod;
  container: Container;
  type: ProbeType;
  probe: Required<Pick<Probe, 'initialDelaySeconds' | 'periodSeconds' | 'timeoutSeconds' | 'successThreshold' | 'failureThreshold'>> & Probe;
  containerId: string;
  verdict: Verdict;
  lastRaw: Verdict;
  run: number;
  onHold: boolean;
  timer?: TimerHandle;
  busy: boolean;
  stopped: boolean;
}

const initialVerdict = (t: ProbeType): Verdict => (t === 'readiness' ? 'failure' : t === 'liveness' ? 'success' : 'unknown');

export class ProbeManager {
  private readonly workers = new Map<string, Worker>();
  private readonly log: Logger;

  constructor(private readonly o: ProbeManagerOptions) {
    this.log = o.logger ?? silentLogger();
  }

  private key(uid: string, container: string, type: ProbeType): string {
    return `${uid}/${container}/${type}`;
  }

  addPod(pod: Pod): void {
    const uid = pod.metadata.uid!;
    const sidecars = (pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
    for (const c of [...sidecars, ...pod.spec.containers]) {
      for (const [type, probe] of [['liveness', c.livenessProbe], ['readiness', c.readinessProbe], ['startup', c.startupProbe]] as const) {
        if (!probe) continue;
        const k = this.key(uid, c.name, type);
        if (this.workers.has(k)) continue;
        const w: Worker = {
          uid, pod, container: c, type,
          probe: { ...PROBE_DEFAULTS, ...probe },
          containerId: '', verdict: initialVerdict(type), lastRaw: 'unknown', run: 0, onHold: false, busy: false, stopped: false,
        };
        this.workers.set(k, w);
        this.schedule(w, 0);
      }
    }
  }

  removePod(uid: string): void {
    for (const [k, w] of this.workers) {
      if (w.uid !== uid) continue;
      w.stopped = true;
      w.timer?.cancel();
      this.workers.delete(k);
    }
  }

  stop(): void {
    for (const uid of new Set([...this.workers.values()].map((w) => w.uid))) this.removePod(uid);
  }

  private schedule(w: Worker, ms: number): void {
    if (w.stopped) return;
    w.timer = this.o.clock.setTimer(() => void this.tick(w), ms);
  }

  private verdictOf(uid: string, container: string, type: ProbeType, containerId: string): Verdict | undefined {
    const w = this.workers.get(this.key(uid, container, type));
    if (!w) return undefined;
    if (w.containerId !== containerId) return initialVerdict(type);
    return w.verdict;
  }

  ready(uid: string, container: string, containerId: string): boolean {
    return (this.verdictOf(uid, container, 'readiness', containerId) ?? 'success') === 'success';
  }

  started(uid: string, container: string, containerId: string): boolean {
    return (this.verdictOf(uid, container, 'startup', containerId) ?? 'success') === 'success';
  }

  livenessFailed(uid: string, container: string, containerId: string): boolean {
    return this.verdictOf(uid, container, 'liveness', containerId) === 'failure';
  }

  startupFailed(uid: string, container: string, containerId: string): boolean {
    return this.verdictOf(uid, container, 'startup', containerId) === 'failure';
  }

  private setVerdict(w: Worker, v: Verdict): void {
    if (w.verdict === v) return;
    w.verdict = v;
    this.o.onResult(w.uid, w.container.name, w.type, v);
  }

  private async tick(w: Worker): Promise<void> {
    if (w.stopped || w.busy) return;
    w.busy = true;
    try {
      await this.probeOnce(w);
    } catch (e) {
      this.log.warn({ pod: podKey(w.pod), container: w.container.name, err: e }, 'probe worker error');
    } finally {
      w.busy = false;
      this.schedule(w, w.probe.periodSeconds * 1000);
    }
  }

  private async probeOnce(w: Worker): Promise<void> {
    const live = this.o.containerInfo(w.uid, w.container.name);
    if (!live || !live.running) {
      if (live && live.id !== w.containerId) this.reset(w, live.id);
      return;
    }
    if (live.id !== w.containerId) this.reset(w, live.id);
    if (w.onHold) return;
    if (w.type === 'startup' && w.verdict === 'success') return;
    if (w.type !== 'startup' && this.workers.has(this.key(w.uid, w.container.name, 'startup')) && !this.started(w.uid, w.container.name, live.id)) return;
    if (this.o.clock.now() - live.startedAt < w.probe.initialDelaySeconds * 1000) return;
    const out = await runHandler(w.probe, {
      cri: this.o.cri,
      containerId: live.id,
      podIp: live.podIp,
      container: w.container,
      timeoutMs: w.probe.timeoutSeconds * 1000,
      podKey: podKey(w.pod),
    });
    if (w.stopped || w.containerId !== live.id) return;
    const raw: Verdict = out.result === 'failure' ? 'failure' : 'success';
    if (raw !== w.lastRaw) w.run = 0;
    w.lastRaw = raw;
    w.run++;
    if (raw === 'failure') {
      const msg = `${w.type[0]!.toUpperCase()}${w.type.slice(1)} probe failed: ${out.output.trim()}`;
      this.o.events?.record(podKey(w.pod), 'Warning', 'Unhealthy', msg, w.uid);
    }
    const threshold = raw === 'failure' ? w.probe.failureThreshold : w.probe.successThreshold;
    if (w.run >= threshold) {
      this.setVerdict(w, raw);
      if (raw === 'failure' && (w.type === 'liveness' || w.type === 'startup')) w.onHold = true;
    }
  }

  private reset(w: Worker, id: string): void {
    w.containerId = id;
    w.onHold = false;
    w.run = 0;
    w.lastRaw = 'unknown';
    const v = initialVerdict(w.type);
    if (w.verdict !== v) {
      w.verdict = v;
      this.o.onResult(w.uid, w.container.name, w.type, v);
    }
  }
}
