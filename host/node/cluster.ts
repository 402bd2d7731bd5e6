/**
 * `cocolet cluster up` (`npm run cluster`): a local Kubernetes control plane from the binaries
 * `scripts/build-cluster` made, this machine joined to it as a cocolet node, the RuntimeClass
 * `cocolet` created, and the kubectl command to use printed. The node's HTTPS API gets its
 * certificate from the cluster (serverTLSBootstrap), approved by an approver that checks the names
 * are the node's own (host/cluster/approver.ts), and kube-apiserver verifies it against the cluster
 * CA: `kubectl logs / exec` reach the kubelet over a verified TLS connection. Ctrl-C (or `--once`
 * once the node is registered) stops the node, then the control plane. State lives in
 * `<state-dir>/cluster` (certificates and etcd data are kept between runs; ports are picked anew).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../shared/log/logger.js';
import { up, type UpOptions } from './up.js';
import { ensureRuntimeClass } from '../cluster/admin.js';
import { startServingCsrApprover } from '../cluster/approver.js';
import { vmOverheadFor } from './overhead.js';
import { clusterBinDir, missingBinaries, startControlPlane } from '../cluster/controlplane.js';

export interface ClusterUpOptions extends Omit<UpOptions, 'kubeconfig' | 'bootstrapKubeconfig' | 'nodeIp' | 'address'> {
  /** kube-controller-manager `--node-monitor-grace-period` (default upstream's 50s). */
  nodeMonitorGracePeriod?: string;
  logger: Logger;
}

export async function clusterUp(o: ClusterUpOptions): Promise<number> {
  const missing = missingBinaries();
  if (missing.length) {
    o.out(`cocolet cluster up: the control plane is not built (${missing.join(', ')} missing in ${clusterBinDir()}); run scripts/build-cluster (needs Go >= 1.24, ~20 min cold)`);
    return 2;
  }
  const t0 = Date.now();
  const say = (msg: string): void => o.out(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
  say('starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler');
  const cp = await startControlPlane({ dir: join(o.stateDir, 'cluster'), logger: o.logger, verifyKubeletServing: true, ...(o.nodeMonitorGracePeriod ? { nodeMonitorGracePeriod: o.nodeMonitorGracePeriod } : {}) });
  const approver = startServingCsrApprover({ adminKubeconfig: cp.adminKubeconfig, logger: o.logger });
  try {
    say(`control plane ready at ${cp.server} (logs in ${join(cp.dir, 'logs')})`);
    const overhead = vmOverheadFor();
    if (await ensureRuntimeClass(cp.adminKubeconfig, { overhead })) say(`RuntimeClass cocolet (handler cocolet, overhead.podFixed memory ${overhead.memory} cpu ${overhead.cpu}) created`);
    const nodeName = (o.nodeName ?? hostname()).toLowerCase();
    const kubeconfig = await cp.nodeKubeconfig(nodeName);
    const hint = (): void => o.out(`use it: export KUBECONFIG=${cp.adminKubeconfig} PATH=${cp.binDir}:$PATH; kubectl get nodes -o wide`);
    return await up({ ...o, nodeName, kubeconfig, nodeIp: '127.0.0.1', address: '127.0.0.1', serverTLSBootstrap: true, onRegistered: hint });
  } finally {
    await approver.stop();
    say('stopping the control plane');
    await cp.stop();
  }
}
