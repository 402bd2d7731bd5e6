/**
 * Comparison peers for the kubelet benchmark.
 * - `bareRelist`: the unavoidable part of a relist — the two CRI list calls and one pass over
 *   their items keyed by ID (the linear reference the PLEG is compared with).
 * - `bareStartPod` / `bareRemovePod`: the bare CRI call sequence that starts the same pod spec a
 *   kubelet would (ImageStatus, RunPodSandbox, CreateContainer, StartContainer, ContainerStatus).
 */
import type { CriImages, CriRuntime, PodSandboxConfigInit } from '../../host/cri/api.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';

export async function bareRelist(cri: CriRuntime): Promise<number> {
  const [sbs, cs] = await Promise.all([cri.listPodSandbox(), cri.listContainers()]);
  const m = new Map<string, number>();
  for (const s of sbs) m.set(s.id, s.state);
  for (const c of cs) m.set(c.id, c.state);
  return m.size;
}

export interface BarePod {
  sandboxId: string;
}

export async function bareStartPod(cri: CriRuntime & CriImages, name: string, uid: string, image: string, logDir: string): Promise<BarePod> {
  const config: PodSandboxConfigInit = {
    metadata: { name, namespace: 'bench', uid, attempt: 0 },
    hostname: name,
    logDirectory: logDir,
    // No kubelet labels: a kubelet leaves runtime pods without them alone.
    labels: { bench: 'bare' },
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
  if (!(await cri.imageStatus(image))) throw new Error(`image ${image} missing`);
  const sandboxId = await cri.runPodSandbox(config, '');
  const id = await cri.createContainer(
    sandboxId,
    {
      metadata: { name: 'main', attempt: 0 },
      image: { image },
      command: ['/bin/sh', '-c', 'exec sleep 3600'],
      logPath: 'main/0.log',
      labels: { bench: 'bare' },
      linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
    },
    config,
  );
  await cri.startContainer(id);
  const st = await cri.containerStatus(id);
  if (st?.state !== ContainerState.CONTAINER_RUNNING) throw new Error('container not running');
  return { sandboxId };
}

export async function bareRemovePod(cri: CriRuntime, p: BarePod): Promise<void> {
  await cri.stopPodSandbox(p.sandboxId);
  await cri.removePodSandbox(p.sandboxId);
}
