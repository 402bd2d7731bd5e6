/**
 * Test fixture: one cocolet kubelet on a test containerd, its static pod dir, logs and root under
 * `dir`, serving its HTTPS API on 127.0.0.1 (any free port); stopped with its pods on dispose.
 *
 *   const k = await startKubelet(h, { dir, containerd: c, cri, nodeName: 'n1', config: { authentication: ... } });
 *   writeFileSync(join(dir, 'manifests', 'pod.json'), ...);   // static pods
 *   k.apiServer!.port
 */
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Harness } from '../../shared/testing/harness.js';
import { createLogger } from '../../shared/log/logger.js';
import type { CriClient } from '../../host/cri/client.js';
import { Kubelet, type KubeletOptions } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration, type KubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES, type KubeletSettings } from '../../host/kubelet/config/flags.js';
import type { ContainerdFixture } from './containerd.js';

export interface TestKubeletOptions {
  dir: string;
  containerd: ContainerdFixture;
  cri: CriClient;
  nodeName: string;
  /** Configuration fields over the defaults (static pod path, log dir and runtime endpoint are set). */
  config?: Partial<KubeletConfiguration>;
  /** Settings beyond config, root dir and node name (kubeconfig, node IP, ...). */
  settings?: Partial<Omit<KubeletSettings, 'config' | 'rootDir' | 'nodeName'>>;
  /** Other Kubelet options; `server` defaults to 127.0.0.1, any free port. */
  options?: Partial<Omit<KubeletOptions, 'settings' | 'cri' | 'images'>>;
}

/** Starts the kubelet; `$COCOLET_E2E_LOG` names a file for its debug log. */
export async function startKubelet(h: Harness, o: TestKubeletOptions): Promise<Kubelet> {
  mkdirSync(join(o.dir, 'manifests'), { recursive: true });
  const log = process.env.COCOLET_E2E_LOG;
  const k = new Kubelet({
    settings: {
      runtimeClassHandlers: DEFAULT_RUNTIME_CLASSES,
      ...o.settings,
      config: { ...defaultKubeletConfiguration(), staticPodPath: join(o.dir, 'manifests'), podLogsDir: join(o.dir, 'logs'), containerRuntimeEndpoint: o.containerd.address, ...o.config },
      rootDir: join(o.dir, 'root'),
      nodeName: o.nodeName,
    },
    cri: o.cri,
    images: o.cri,
    server: { address: '127.0.0.1', port: 0 },
    ...(log ? { logger: createLogger({ component: 'kubelet', level: 'debug', destination: openSync(log, 'a') }) } : {}),
    ...o.options,
  });
  h.defer('kubelet and its pods', async () => {
    await k.stopAllPods(0);
    await k.stop();
  });
  await k.start();
  return k;
}
