/**
 * Pod status as Kubernetes reports it (kl/kubelet_pods.go generateAPIPodStatus + getPhase):
 * container statuses (state, lastState, restartCount, ready, started) from the runtime view and
 * the last sync's waiting reasons; the phase; and the conditions PodScheduled,
 * PodReadyToStartContainers, Initialized, ContainersReady and Ready, keeping each condition's
 * lastTransitionTime while its status does not change. A terminal phase never goes back.
 */
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from '../api/types.js';
import type { Waiting } from '../runtime/manager.js';
import { qosClass } from '../runtime/podspec.js';
import { podIp, type ContainerInfo, type RuntimePodStatus } from '../runtime/status.js';

export interface ProbeView {
  /** Readiness verdict for a running container with a readiness probe. */
  ready(uid: string, container: string, containerId: string): boolean;
  /** Startup verdict for a running container with a startup probe. */
  started(uid: string, container: string, containerId: string): boolean;
}

export const allProbesPass: ProbeView = { ready: () => true, started: () => true };

const iso = (ms: number): string | undefined => (ms > 0 ? new Date(ms).toISOString() : undefined);

function terminated(c: ContainerInfo): ContainerState {
  const t: NonNullable<ContainerState['terminated']> = {
    exitCode: c.exitCode,
    reason: c.reason || (c.exitCode === 0 ? 'Completed' : 'Error'),
    containerID: `containerd://${c.id}`,
  };
  if (c.message) t.message = c.message;
  const s = iso(c.startedAt);
  const f = iso(c.finishedAt);
  if (s) t.startedAt = s;
  if (f) t.finishedAt = f;
  return { terminated: t };
}

function containerStatus(
  pod: Pod,
  c: Container,
  rt: RuntimePodStatus,
  waiting: Record<string, Waiting>,
  probes: ProbeView,
  defaultWaiting: string,
): ContainerStatus {
  const uid = pod.metadata.uid!;
  const history = rt.containers.filter((x) => x.name === c.name);
  const cur = history[0];
  const w = waiting[c.name];
  const base: ContainerStatus = { name: c.name, state: {}, lastState: {}, ready: false, started: false, restartCount: 0, image: c.image, imageID: '' };
  if (!cur) {
    base.state = { waiting: { reason: w?.reason ?? defaultWaiting, ...(w?.message ? { message: w.message } : {}) } };
    return base;
  }
  base.restartCount = cur.restartCount;
  base.imageID = cur.imageRef;
  base.containerID = `containerd://${cur.id}`;
  if (history[1]?.state === 'exited') base.lastState = terminated(history[1]);
  switch (cur.state) {
    case 'running': {
      base.state = { running: { ...(iso(cur.startedAt) ? { startedAt: iso(cur.startedAt)! } : {}) } };
      base.started = c.startupProbe ? probes.started(uid, c.name, cur.id) : true;
      base.ready = base.started && (c.readinessProbe ? probes.ready(uid, c.name, cur.id) : true);
      break;
    }
    case 'exited':
      if (w && w.reason !== 'ContainerCreating') {
        base.state = { waiting: { reason: w.reason, ...(w.message ? { message: w.message } : {}) } };
        base.lastState = terminated(cur);
      } else base.state = terminated(cur);
      break;
    default:
      base.state = { waiting: { reason: w?.reason ?? 'ContainerCreating', ...(w?.message ? { message: w.message } : {}) } };
  }
  return base;
}

/** getPhase: Pending / Running / Succeeded / Failed from init and app container statuses. */
export function podPhase(pod: Pod, init: ContainerStatus[], app: ContainerStatus[]): PodPhase {
  const policy = pod.spec.restartPolicy ?? 'Always';
  let pendingInit = false;
  const sidecars = new Set((pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  for (const s of init) {
    if (sidecars.has(s.name)) {
      if (!s.state.running && s.restartCount === 0 && !s.lastState.terminated) pendingInit = true;
      continue;
    }
    if (s.state.terminated?.exitCode === 0) continue;
    if (s.state.terminated && policy === 'Never') return 'Failed';
    if (s.state.waiting?.reason === 'CrashLoopBackOff' && policy === 'Never') return 'Failed';
    pendingInit = true;
  }
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const s of app) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) {
        stopped++;
        if (s.lastState.terminated.exitCode === 0) succeeded++;
      } else waiting++;
    }
  }
  if (pendingInit) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (policy === 'OnFailure') return stopped === succeeded ? 'Succeeded' : 'Running';
    return stopped === succeeded ? 'Succeeded' : 'Failed';
  }
  return 'Pending';
}

export interface GenerateOptions {
  now: number;
  previous?: PodStatus;
  waiting: Record<string, Waiting>;
  probes: ProbeView;
  hostIP?: string;
  /** Extra message (e.g. a sync error). */
  message?: string;
  /** The pod was deleted and has terminated: its phase becomes Succeeded or Failed (getPhase's podIsTerminal). */
  podIsTerminal?: boolean;
}

export function generatePodStatus(pod: Pod, rt: RuntimePodStatus, o: GenerateOptions): PodStatus {
  const prev = o.previous;
  const initSpecs = pod.spec.initContainers ?? [];
  const init = initSpecs.map((c) => containerStatus(pod, c, rt, o.waiting, o.probes, 'PodInitializing'));
  const sidecars = new Set(initSpecs.filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  const initDone = init.every((s) => (sidecars.has(s.name) ? Boolean(s.state.running) || s.restartCount > 0 : s.state.terminated?.exitCode === 0));
  const app = pod.spec.containers.map((c) => containerStatus(pod, c, rt, o.waiting, o.probes, initDone ? 'ContainerCreating' : 'PodInitializing'));
  let phase = podPhase(pod, init, app);
  if (o.podIsTerminal && phase !== 'Succeeded' && phase !== 'Failed') {
    phase = app.length > 0 && app.every((s) => s.state.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  if (prev && (prev.phase === 'Succeeded' || prev.phase === 'Failed')) phase = prev.phase;
  const sandboxReady = rt.sandboxes[0]?.state === 'ready';
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const unready = app.filter((s) => !s.ready).map((s) => s.name);
  const uninit = init.filter((s) => !sidecars.has(s.name) && s.state.terminated?.exitCode !== 0).map((s) => s.name);
  const nowIso = new Date(o.now).toISOString();
  const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
    const old = prev?.conditions.find((c) => c.type === type);
    const status = ok ? 'True' : 'False';
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime! : nowIso,
      ...(!ok && reason ? { reason } : {}),
      ...(!ok && message ? { message } : {}),
    };
  };
  const containersReady = !terminal && unready.length === 0;
  const notReadyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const notReadyMsg = terminal ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const conditions: PodCondition[] = [
    cond('PodReadyToStartContainers', sandboxReady),
    cond('Initialized', initDone, terminal ? 'PodCompleted' : 'ContainersNotInitialized', terminal ? undefined : `containers with incomplete status: [${uninit.join(' ')}]`),
    cond('Ready', containersReady, notReadyReason, notReadyMsg),
    cond('ContainersReady', containersReady, notReadyReason, notReadyMsg),
    cond('PodScheduled', true),
  ];
  const ip = podIp(rt) || (prev?.podIP ?? '');
  const st: PodStatus = {
    phase,
    conditions,
    containerStatuses: app,
    qosClass: qosClass(pod),
    startTime: prev?.startTime ?? nowIso,
  };
  if (init.length) st.initContainerStatuses = init;
  if (ip) {
    st.podIP = ip;
    st.podIPs = [{ ip }];
  }
  if (o.hostIP) st.hostIP = o.hostIP;
  if (o.message) st.message = o.message;
  if (prev && (prev.phase === 'Succeeded' || prev.phase === 'Failed')) {
    if (prev.reason) st.reason = prev.reason;
    if (prev.message) st.message = prev.message;
  }
  return st;
}
