/**
 * The RuntimeClass overhead a node gives its confidential classes: the VM's cost for the shim
 * configuration it runs (host/shim/overhead.ts), on every class routed to the cocolet handler.
 * Used for static pods (the kubelet fills `spec.overhead` as RuntimeClass admission would) and by
 * `cocolet cluster up` for the RuntimeClass `cocolet` it creates.
 */
import { defaultRuntimeClassOverhead, type RuntimeClassOverhead } from '../kubelet/sources/runtimeclass.js';
import { defaultShimConfig, loadShimConfig } from '../shim/config.js';
import { vmPodOverhead } from '../shim/overhead.js';

/** The VM's overhead.podFixed for the shim configuration at `shimConfigPath` (the defaults when absent or unreadable). */
export function vmOverheadFor(shimConfigPath?: string): { memory: string; cpu: string } {
  let cfg = defaultShimConfig();
  if (shimConfigPath) {
    try {
      cfg = loadShimConfig(shimConfigPath);
    } catch {
      /* the shim refuses a bad file itself; account for the defaults here */
    }
  }
  return vmPodOverhead(cfg);
}

export function runtimeClassOverheadFor(handlers: Readonly<Record<string, string>>, shimConfigPath?: string): RuntimeClassOverhead {
  return defaultRuntimeClassOverhead(handlers, vmOverheadFor(shimConfigPath));
}
