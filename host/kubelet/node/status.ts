/**
 * The Node status the kubelet reports, as pure functions: conditions in upstream's order and
 * wording (MemoryPressure, DiskPressure, PIDPressure, Ready), transition times kept while a
 * condition's status holds, heartbeat times set at every report, and `statusChanged` (what
 * decides whether a status is sent before nodeStatusReportFrequency is up: anything but the
 * heartbeat times).
 */
import type { NodeAddress, NodeSystemInfo } from './info.js';
import type { NodeResources, PressureState, PressureType } from './resources.js';

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

export interface NodeStatus {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  conditions: NodeCondition[];
  addresses: NodeAddress[];
  daemonEndpoints: { kubeletEndpoint: { Port: number } };
  nodeInfo: NodeSystemInfo;
}

export interface NodeStatusInput {
  now: Date;
  resources: NodeResources;
  /** Ready unless the runtime or the PLEG says otherwise (message says which). */
  ready: { ok: boolean; message: string };
  pressure: (t: PressureType) => PressureState;
  addresses: NodeAddress[];
  nodeInfo: NodeSystemInfo;
  kubeletPort: number;
  /** The conditions last reported (their transition times carry over). */
  previous?: NodeCondition[];
}

const PRESSURE: { type: PressureType; yes: [string, string]; no: [string, string] }[] = [
  { type: 'MemoryPressure', yes: ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'], no: ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available'] },
  { type: 'DiskPressure', yes: ['KubeletHasDiskPressure', 'kubelet has disk pressure'], no: ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure'] },
  { type: 'PIDPressure', yes: ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'], no: ['KubeletHasSufficientPID', 'kubelet has sufficient PID available'] },
];

export function nodeConditions(i: Pick<NodeStatusInput, 'now' | 'ready' | 'pressure' | 'previous'>): NodeCondition[] {
  const now = i.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const prev = i.previous?.find((c) => c.type === type);
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now };
  };
  const out = PRESSURE.map((p) => {
    const s = i.pressure(p.type);
    const [reason, message] = s.pressure ? p.yes : p.no;
    return cond(p.type, s.pressure ? 'True' : 'False', reason, s.pressure && s.message ? s.message : message);
  });
  out.push(i.ready.ok ? cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status') : cond('Ready', 'False', 'KubeletNotReady', i.ready.message));
  return out;
}

export function buildNodeStatus(i: NodeStatusInput): NodeStatus {
  return {
    capacity: i.resources.capacity,
    allocatable: i.resources.allocatable,
    conditions: nodeConditions(i),
    addresses: i.addresses,
    daemonEndpoints: { kubeletEndpoint: { Port: i.kubeletPort } },
    nodeInfo: i.nodeInfo,
  };
}

/** True when `next` differs from `prev` in anything but heartbeat times. */
export function statusChanged(prev: NodeStatus | undefined, next: NodeStatus): boolean {
  if (!prev) return true;
  const strip = (s: NodeStatus): unknown => ({ ...s, conditions: s.conditions.map((c) => ({ ...c, lastHeartbeatTime: '' })) });
  return JSON.stringify(strip(prev)) !== JSON.stringify(strip(next));
}
