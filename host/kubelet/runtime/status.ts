/**
 * The runtime's view of one pod (kubecontainer.PodStatus): its sandboxes and containers as CRI
 * reports them, newest first, with the kubelet's labels and annotations decoded.
 */
export type SandboxState = 'ready' | 'notready';
export type RuntimeContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface SandboxInfo {
  id: string;
  state: SandboxState;
  /** ms since epoch */
  createdAt: number;
  attempt: number;
  ip: string;
  runtimeHandler: string;
}

export interface ContainerInfo {
  id: string;
  name: string;
  sandboxId: string;
  state: RuntimeContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  restartCount: number;
  hash: string;
  image: string;
  imageRef: string;
  /** Grace period recorded at creation (for kills after a kubelet restart). */
  terminationGraceSeconds?: number;
  /** JSON of the preStop handler recorded at creation. */
  preStop?: string;
}

export interface RuntimePodStatus {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: SandboxInfo[];
  containers: ContainerInfo[];
}

export function emptyPodStatus(uid: string, name = '', namespace = ''): RuntimePodStatus {
  return { uid, name, namespace, sandboxes: [], containers: [] };
}

/** The pod IP of the newest ready sandbox ('' if none). */
export function podIp(s: RuntimePodStatus): string {
  return s.sandboxes.find((x) => x.state === 'ready')?.ip ?? '';
}

/** Newest container instance with this name (any sandbox). */
export function latestContainer(s: RuntimePodStatus, name: string): ContainerInfo | undefined {
  return s.containers.find((c) => c.name === name);
}

/** All instances of a container name, newest first. */
export function containerHistory(s: RuntimePodStatus, name: string): ContainerInfo[] {
  return s.containers.filter((c) => c.name === name);
}
