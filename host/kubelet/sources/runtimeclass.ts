/**
 * RuntimeClass overhead for pods that no API server admitted (static pods from a file or a URL):
 * the kubelet does what the API server's RuntimeClass admission plugin does, from the
 * RuntimeClasses it knows (settings `runtimeClassOverhead`; host/node gives every class of the
 * cocolet handler the VM's cost, host/shim/overhead.ts, through `defaultRuntimeClassOverhead`):
 *   - a pod of a class with an overhead and none of its own gets `spec.overhead` = `podFixed`;
 *   - a pod whose own overhead differs is refused, with upstream's words
 *     (`pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead`);
 *   - a pod of a class without an overhead keeps whatever it carries.
 * Pods from the API server already went through that admission and are left alone.
 */
import type { Pod } from '../api/types.js';
import { parseQuantity } from '../config/kubeletconfig.js';

/** RuntimeClass name → its overhead.podFixed (resource → quantity). */
export type RuntimeClassOverhead = Record<string, Record<string, string>>;

/** The CRI handler of cocolet's shim. */
const COCOLET_HANDLER = 'cocolet';

/** Every class routed to the cocolet handler carries the VM's overhead `vm`. */
export function defaultRuntimeClassOverhead(handlers: Readonly<Record<string, string>>, vm: Readonly<Record<string, string>>): RuntimeClassOverhead {
  return Object.fromEntries(Object.entries(handlers).filter(([, h]) => h === COCOLET_HANDLER).map(([rc]) => [rc, { ...vm }]));
}

function sameQuantities(a: Record<string, string | number>, b: Record<string, string>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (parseQuantity(a[k] ?? 0) !== parseQuantity(b[k] ?? 0)) return false;
  return true;
}

/** The pod with its RuntimeClass's overhead, or why RuntimeClass admission would refuse it. */
export function admitRuntimeClassOverhead(pod: Pod, classes: RuntimeClassOverhead): { pod: Pod } | { error: string } {
  const rc = pod.spec.runtimeClassName;
  const fixed = rc ? classes[rc] : undefined;
  if (!fixed || Object.keys(fixed).length === 0) return { pod };
  if (pod.spec.overhead) {
    return sameQuantities(pod.spec.overhead, fixed) ? { pod } : { error: `pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead (RuntimeClass ${rc}: ${JSON.stringify(fixed)})` };
  }
  return { pod: { ...pod, spec: { ...pod.spec, overhead: { ...fixed } } } };
}
