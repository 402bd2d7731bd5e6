/**
 * Status manager (kl/status/status_manager.go, local only): the newest PodStatus per pod UID,
 * change notifications, and a JSON status file under the root dir written atomically (temp +
 * fsync + rename, debounced) so `cocolet status` works without an API server.
 *
 * API: `set(pod, status)`, `get(uid)`, `remove(uid)`, `all()`, `onChange(cb)`, `flush()`;
 * `terminated(pod)` / `onTerminated(cb)`: a deleted pod finished terminating (the API writer then
 * deletes it from the API server).
 */
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Pod, PodStatus } from '../api/types.js';
import type { KubeEvent } from '../events.js';

export interface PodRecord {
  pod: Pod;
  status: PodStatus;
}

export interface StatusFile {
  version: 1;
  node: string;
  updatedAt: string;
  podLogsDir?: string;
  pleg?: { healthy: boolean; message: string; mode: string };
  /** Device plugin resources: all devices (capacity) and healthy ones (allocatable). */
  devices?: Record<string, { capacity: number; allocatable: number }>;
  /** MemoryPressure / DiskPressure / PIDPressure from the eviction manager. */
  nodeConditions?: { type: string; status: string; reason: string; message: string; lastTransitionTime: string }[];
  pods: { metadata: Pod['metadata']; spec: { runtimeClassName?: string; containers: string[] }; runtimeHandler?: string; tee?: string; status: PodStatus }[];
  events: KubeEvent[];
}

export interface StatusManagerOptions {
  node: string;
  /** Where to write the status file (undefined = do not write). */
  file?: string;
  /** Extra fields written with each file. */
  extras?: () => Pick<StatusFile, 'pleg' | 'events' | 'podLogsDir' | 'devices'>;
  handlerOf?: (pod: Pod) => string | undefined;
  /** The TEE label of a pod's sandbox (`dev (not confidential)`, `snp (AMD SEV-SNP)`), when the runtime reported one. */
  teeOf?: (pod: Pod) => string | undefined;
  debounceMs?: number;
}

export class StatusManager {
  private readonly records = new Map<string, PodRecord>();
  private readonly listeners: ((uid: string, r: PodRecord | undefined) => void)[] = [];
  private readonly terminatedListeners: ((pod: Pod) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: StatusManagerOptions) {}

  set(pod: Pod, status: PodStatus): void {
    const uid = pod.metadata.uid!;
    const old = this.records.get(uid);
    if (old && JSON.stringify(old.status) === JSON.stringify(status) && old.pod === pod) return;
    const r = { pod, status };
    this.records.set(uid, r);
    for (const l of this.listeners) l(uid, r);
    this.schedule();
  }

  get(uid: string): PodRecord | undefined {
    return this.records.get(uid);
  }

  remove(uid: string): void {
    if (!this.records.delete(uid)) return;
    for (const l of this.listeners) l(uid, undefined);
    this.schedule();
  }

  /** A deleted pod has fully terminated (containers stopped and removed). */
  terminated(pod: Pod): void {
    for (const l of this.terminatedListeners) l(pod);
  }

  onTerminated(cb: (pod: Pod) => void): void {
    this.terminatedListeners.push(cb);
  }

  all(): PodRecord[] {
    return [...this.records.values()];
  }

  onChange(cb: (uid: string, r: PodRecord | undefined) => void): () => void {
    this.listeners.push(cb);
    return () => {
      const i = this.listeners.indexOf(cb);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Something in the extras changed: write the file again soon. */
  touch(): void {
    this.schedule();
  }

  private schedule(): void {
    if (!this.o.file || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.o.debounceMs ?? 100);
    this.timer.unref();
  }

  snapshot(): StatusFile {
    const extras = this.o.extras?.() ?? { events: [] };
    return {
      version: 1,
      node: this.o.node,
      updatedAt: new Date().toISOString(),
      ...extras,
      pods: this.all().map((r) => {
        const handler = this.o.handlerOf?.(r.pod);
        const tee = this.o.teeOf?.(r.pod);
        return {
          metadata: r.pod.metadata,
          spec: { ...(r.pod.spec.runtimeClassName ? { runtimeClassName: r.pod.spec.runtimeClassName } : {}), containers: r.pod.spec.containers.map((c) => c.name) },
          ...(handler !== undefined ? { runtimeHandler: handler } : {}),
          ...(tee !== undefined ? { tee } : {}),
          status: r.status,
        };
      }),
    };
  }

  /** Writes the status file now (atomically). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.o.file) return;
    writeAtomic(this.o.file, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
  }
}

export function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function readStatusFile(path: string): StatusFile {
  return JSON.parse(readFileSync(path, 'utf8')) as StatusFile;
}
