/**
 * Periodic log rotation over every running container of the desired pods
 * (containerLogMaxSize / containerLogMaxFiles; the runtime reopens the file through CRI
 * ReopenContainerLog).
 */
import type { Logger } from '../../../shared/log/logger.js';
import { join } from 'node:path';
import { podKey, type Pod } from '../api/types.js';
import { parseQuantity, type KubeletConfiguration } from '../config/kubeletconfig.js';
import type { PodCache } from '../pleg/cache.js';
import { containerLogPath, podLogDir } from '../runtime/podspec.js';
import { rotateIfNeeded } from './crilog.js';

export interface RotateAllOptions {
  config: KubeletConfiguration;
  pods: Map<string, Pod>;
  cache: PodCache;
  reopen: (containerId: string) => Promise<void>;
  log: Logger;
}

export async function rotatePodLogs(o: RotateAllOptions): Promise<void> {
  const maxBytes = parseQuantity(o.config.containerLogMaxSize) ?? 10 * 1024 * 1024;
  for (const [uid, pod] of o.pods) {
    for (const c of o.cache.get(uid).status.containers) {
      if (c.state !== 'running') continue;
      const path = join(podLogDir(o.config.podLogsDir, pod), containerLogPath(c.name, c.restartCount));
      try {
        await rotateIfNeeded({ path, maxBytes, maxFiles: o.config.containerLogMaxFiles, reopen: () => o.reopen(c.id) });
      } catch (e) {
        o.log.warn({ pod: podKey(pod), container: c.name, err: e }, 'log rotation failed');
      }
    }
  }
}
