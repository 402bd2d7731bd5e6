/**
 * `cocolet status` and `cocolet logs`, read from the kubelet's status file
 * (`<root-dir>/status.json`) and the CRI log files — no running agent or API server needed.
 */
import { join } from 'node:path';
import { readStatusFile, type StatusFile } from '../status/manager.js';
import { readContainerLog } from '../logs/crilog.js';
import { containerLogPath } from '../runtime/podspec.js';
import { STATUS_FILE_NAME } from '../kubelet.js';

export function statusTable(s: StatusFile): string {
  const rows = [['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'IP', 'RUNTIME', 'TEE']];
  for (const p of s.pods) {
    const st = p.status;
    const ready = `${st.containerStatuses.filter((c) => c.ready).length}/${st.containerStatuses.length}`;
    const reason =
      [...(st.initContainerStatuses ?? []), ...st.containerStatuses].map((c) => c.state.waiting?.reason).find((r) => r && r !== 'ContainerCreating') ??
      st.reason ??
      st.phase;
    const restarts = [...(st.initContainerStatuses ?? []), ...st.containerStatuses].reduce((n, c) => n + c.restartCount, 0);
    rows.push([p.metadata.namespace ?? 'default', p.metadata.name, ready, reason, String(restarts), st.podIP ?? '', p.runtimeHandler || 'runc', p.tee ?? '-']);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

export function cmdStatus(rootDir: string, json: boolean, out: (s: string) => void): number {
  let s: StatusFile;
  try {
    s = readStatusFile(join(rootDir, STATUS_FILE_NAME));
  } catch {
    out(`no status file under ${rootDir} (is the kubelet running with --root-dir ${rootDir}?)`);
    return 1;
  }
  out(json ? JSON.stringify(s, null, 2) : statusTable(s));
  if (!json) for (const [r, d] of Object.entries(s.devices ?? {})) out(`device plugin resource ${r}: ${d.allocatable} of ${d.capacity} devices healthy`);
  if (!json) for (const c of s.nodeConditions ?? []) if (c.status === 'True') out(`node condition ${c.type} since ${c.lastTransitionTime}: ${c.message}`);
  return 0;
}

export interface LogsOptions {
  rootDir: string;
  pod: string;
  container?: string;
  previous: boolean;
  tail?: number;
  timestamps: boolean;
}

export function cmdLogs(o: LogsOptions, out: (s: string) => void): number {
  let s: StatusFile;
  try {
    s = readStatusFile(join(o.rootDir, STATUS_FILE_NAME));
  } catch {
    out(`no status file under ${o.rootDir}`);
    return 1;
  }
  const [ns, name] = o.pod.includes('/') ? o.pod.split('/', 2) : [undefined, o.pod];
  const p = s.pods.find(
    (x) => (ns === undefined || x.metadata.namespace === ns) && (x.metadata.name === name || x.metadata.name === `${name}-${s.node}`),
  );
  if (!p) {
    out(`pod ${o.pod} not found`);
    return 1;
  }
  const all = [...(p.status.initContainerStatuses ?? []), ...p.status.containerStatuses];
  const cs = o.container ? all.find((c) => c.name === o.container) : p.status.containerStatuses[0];
  if (!cs) {
    out(`container ${o.container ?? ''} not found in pod ${p.metadata.name}`);
    return 1;
  }
  const restart = o.previous ? cs.restartCount - 1 : cs.restartCount;
  if (restart < 0) {
    out(`previous terminated container "${cs.name}" in pod "${p.metadata.name}" not found`);
    return 1;
  }
  const dir = join(s.podLogsDir ?? '/var/log/pods', `${p.metadata.namespace ?? 'default'}_${p.metadata.name}_${p.metadata.uid}`);
  const path = join(dir, containerLogPath(cs.name, restart));
  const entries = readContainerLog(path, { withRotated: true, ...(o.tail !== undefined ? { tail: o.tail } : {}) });
  for (const e of entries) out(o.timestamps ? `${e.time} ${e.text}` : e.text);
  return 0;
}
