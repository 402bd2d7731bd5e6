/**
 * The CPU manager's two CRI needs, on any CriRuntime: the running containers of the kubelet's pods
 * (by the labels the kubelet puts on every container) and UpdateContainerResources with a cpuset.
 */
import { ContainerState } from '../../../../shared/gen/cri/runtime/v1/api_pb.js';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import type { CriRuntime } from '../../../cri/api.js';
import { Labels } from '../../api/types.js';
import type { CpusetUpdater, RunningContainer } from './manager.js';

export async function criRunningContainers(cri: Pick<CriRuntime, 'listContainers'>): Promise<RunningContainer[]> {
  const list = await cri.listContainers({ state: { state: ContainerState.CONTAINER_RUNNING } });
  const out: RunningContainer[] = [];
  for (const c of list) {
    const podUid = c.labels[Labels.podUid];
    const containerName = c.labels[Labels.containerName];
    if (c.state !== ContainerState.CONTAINER_RUNNING) continue;
    if (podUid && containerName) out.push({ podUid, containerName, containerId: c.id });
  }
  return out;
}

export function criCpusetUpdater(cri: Pick<CriRuntime, 'updateContainerResources'>): CpusetUpdater {
  return async (containerId, cpus, ctx) => {
    if (!cri.updateContainerResources) throw new CocoletError(ErrorCode.Unimplemented, 'the CRI runtime client cannot update container resources', { context: ctx });
    await cri.updateContainerResources(containerId, { cpusetCpus: cpus }, { context: { pod: ctx.pod, container: ctx.container } });
  };
}
