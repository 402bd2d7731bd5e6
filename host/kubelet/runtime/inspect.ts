/**
 * Reads the runtime's state through CRI: a cheap listing of every sandbox and container grouped
 * by pod UID (what the PLEG diffs each relist), and a full inspection of one pod
 * (PodSandboxStatus + ContainerStatus for each container) for the pod cache.
 */
import type { CriRuntime } from '../../cri/api.js';
import {
  ContainerState,
  PodSandboxState,
  type Container,
  type PodSandbox,
} from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import { ContainerAnnotations, Labels } from '../api/types.js';
import type { ContainerInfo, RuntimeContainerState, RuntimePodStatus, SandboxInfo } from './status.js';

export interface RuntimePodListing {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: PodSandbox[];
  containers: Container[];
}

export const nsToMs = (ns: bigint): number => Number(ns / 1_000_000n);

export function containerStateOf(s: ContainerState): RuntimeContainerState {
  switch (s) {
    case ContainerState.CONTAINER_CREATED:
      return 'created';
    case ContainerState.CONTAINER_RUNNING:
      return 'running';
    case ContainerState.CONTAINER_EXITED:
      return 'exited';
    default:
      return 'unknown';
  }
}

/** Lists all sandboxes and containers, grouped by the pod UID label. */
export async function listRuntimePods(cri: CriRuntime): Promise<Map<string, RuntimePodListing>> {
  const [sandboxes, containers] = await Promise.all([cri.listPodSandbox(), cri.listContainers()]);
  const pods = new Map<string, RuntimePodListing>();
  const get = (uid: string, name: string, ns: string): RuntimePodListing => {
    let p = pods.get(uid);
    if (!p) {
      p = { uid, name, namespace: ns, sandboxes: [], containers: [] };
      pods.set(uid, p);
    }
    return p;
  };
  // Only sandboxes and containers a kubelet created (they carry the pod UID label) are ours;
  // anything else on the runtime is left alone.
  for (const s of sandboxes) {
    const uid = s.labels[Labels.podUid];
    if (!uid) continue;
    get(uid, s.metadata?.name ?? '', s.metadata?.namespace ?? '').sandboxes.push(s);
  }
  for (const c of containers) {
    const uid = c.labels[Labels.podUid];
    if (!uid) continue;
    get(uid, c.labels[Labels.podName] ?? '', c.labels[Labels.podNamespace] ?? '').containers.push(c);
  }
  return pods;
}

/** Full status of one pod; `listing` (from a relist) saves the two list calls. */
export async function inspectPod(cri: CriRuntime, uid: string, listing?: RuntimePodListing): Promise<RuntimePodStatus> {
  let l = listing;
  if (!l) {
    const [sandboxes, containers] = await Promise.all([
      cri.listPodSandbox({ labelSelector: { [Labels.podUid]: uid } }),
      cri.listContainers({ labelSelector: { [Labels.podUid]: uid } }),
    ]);
    const s0 = sandboxes[0];
    l = { uid, name: s0?.metadata?.name ?? '', namespace: s0?.metadata?.namespace ?? '', sandboxes, containers };
  }
  const sandboxes: SandboxInfo[] = await Promise.all(
    l.sandboxes.map(async (s) => {
      let ip = '';
      let ready = s.state === PodSandboxState.SANDBOX_READY;
      if (ready) {
        try {
          const st = await cri.podSandboxStatus(s.id);
          ip = st?.network?.ip ?? '';
          ready = st?.state === PodSandboxState.SANDBOX_READY;
        } catch {
          /* gone meanwhile: treat as not ready */
          ready = false;
        }
      }
      return {
        id: s.id,
        state: ready ? 'ready' : 'notready',
        createdAt: nsToMs(s.createdAt),
        attempt: s.metadata?.attempt ?? 0,
        ip,
        runtimeHandler: s.runtimeHandler,
      } satisfies SandboxInfo;
    }),
  );
  sandboxes.sort((a, b) => b.createdAt - a.createdAt || b.attempt - a.attempt);
  const containers: ContainerInfo[] = [];
  await Promise.all(
    l.containers.map(async (c) => {
      let st;
      try {
        st = await cri.containerStatus(c.id);
      } catch {
        return; // removed meanwhile
      }
      if (!st) return;
      const ann = st.annotations;
      const grace = ann[ContainerAnnotations.terminationGrace];
      const info: ContainerInfo = {
        id: st.id,
        name: st.metadata?.name ?? c.metadata?.name ?? '',
        sandboxId: c.podSandboxId,
        state: containerStateOf(st.state),
        createdAt: nsToMs(st.createdAt),
        startedAt: nsToMs(st.startedAt),
        finishedAt: nsToMs(st.finishedAt),
        exitCode: st.exitCode,
        reason: st.reason,
        message: st.message,
        restartCount: Number(ann[ContainerAnnotations.restartCount] ?? st.metadata?.attempt ?? 0),
        hash: ann[ContainerAnnotations.hash] ?? '',
        image: st.image?.image ?? '',
        imageRef: st.imageRef,
        ...(grace !== undefined ? { terminationGraceSeconds: Number(grace) } : {}),
        ...(ann[ContainerAnnotations.preStop] ? { preStop: ann[ContainerAnnotations.preStop] } : {}),
      };
      containers.push(info);
    }),
  );
  containers.sort((a, b) => b.createdAt - a.createdAt || b.restartCount - a.restartCount);
  return { uid, name: l.name, namespace: l.namespace, sandboxes, containers };
}
