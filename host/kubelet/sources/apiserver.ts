/**
 * The Node's side of the Kubernetes API (@kubernetes/client-node), for nodes that have an API
 * server (`--kubeconfig`). The pod source is apipods.ts (a reflector), pod status apistatus.ts,
 * mirror pods mirror.ts, events apievents.ts; the Node object, its Lease and node status are
 * ../node/.
 */
import * as k8s from '@kubernetes/client-node';

export function kubeConfigFrom(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
