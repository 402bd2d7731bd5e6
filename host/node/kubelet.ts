/**
 * `cocolet kubelet`: the kubelet alone on a container runtime someone else runs, with the
 * upstream flag names; confidential pods' TEE labels come from the cocolet shim's default
 * `runtime.state_dir`.
 */
import { createLogger } from '../../shared/log/logger.js';
import { CriClient } from '../cri/client.js';
import type { KubeletSettings } from '../kubelet/config/flags.js';
import { Kubelet } from '../kubelet/kubelet.js';
import { DEFAULT_STATE_DIR as DEFAULT_SHIM_STATE_DIR } from '../shim/config.js';
import { shimTeeReader } from './tee.js';
import { runtimeClassOverheadFor } from './overhead.js';

/** Runs the kubelet until `signal` aborts; 0 once it has stopped. */
export async function runKubelet(settings: KubeletSettings, signal: AbortSignal): Promise<number> {
  const endpoint = settings.config.containerRuntimeEndpoint;
  const cri = new CriClient({ endpoint, ...(settings.config.imageServiceEndpoint ? { imageEndpoint: settings.config.imageServiceEndpoint } : {}) });
  const healthz = settings.config.healthzPort > 0 ? { healthz: { address: settings.config.healthzBindAddress, port: settings.config.healthzPort } } : {};
  // static pods of a confidential class get the VM's cost (of the default shim configuration) as spec.overhead
  settings.runtimeClassOverhead ??= runtimeClassOverheadFor(settings.runtimeClassHandlers);
  const k = new Kubelet({ settings, cri, images: cri, logger: createLogger({ component: 'kubelet' }), ...healthz, server: {}, teeOf: shimTeeReader(DEFAULT_SHIM_STATE_DIR) });
  await k.start();
  await new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
  await k.stop();
  cri.close();
  return 0;
}
