/**
 * cocolet as a node of a real cluster (etcd, kube-apiserver, controller-manager, scheduler from
 * scripts/build-cluster) on real containerd: TLS bootstrapping, registration with the node's own
 * credentials, capacity and labels as `kubectl get nodes` shows them, the Lease, NotReady and the
 * unreachable taint when the kubelet stops, recovery without restarting running pods, and the
 * scheduler spreading a Deployment over two cocolet nodes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import type { ControlPlane } from '../../host/cluster/controlplane.js';
import { ensureRuntimeClass } from '../../host/cluster/admin.js';
import { loadKubeconfig } from '../../host/kubelet/client/kubeconfig.js';
import { CriClient } from '../../host/cri/client.js';
import { CertRotator } from '../../host/kubelet/node/bootstrap.js';
import { restClient } from '../../host/kubelet/client/rest.js';
import { mountsUnder } from '../../host/containerd/launcher.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { clusterSkipReason, kubectl, kubectlJson, startCluster } from '../support/cluster.js';
import { containerdSkipReason, startContainerd, type ContainerdFixture } from '../support/containerd.js';

const skip = clusterSkipReason() ?? containerdSkipReason();

interface Condition {
  type: string;
  status: string;
  reason?: string;
}
interface NodeJson {
  metadata: { name: string; labels: Record<string, string> };
  spec: { taints?: { key: string; effect: string }[] };
  status: {
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    conditions: Condition[];
    addresses: { type: string; address: string }[];
    daemonEndpoints: { kubeletEndpoint: { Port: number } };
    nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string; bootID: string; architecture: string; operatingSystem: string };
  };
}
interface PodJson {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string };
  status: { phase?: string; containerStatuses?: { containerID?: string; restartCount: number; ready: boolean }[] };
}

describe('cocolet node in a real cluster', { skip }, () => {
  const h = new Harness();
  let cp: ControlPlane;
  const running = new Map<string, { kubelet: Kubelet; cri: CriClient }>();

  before(async () => {
    cp = (await startCluster(h, undefined, { nodeMonitorGracePeriod: '20s', nodeMonitorPeriod: '2s' }))!;
    await ensureRuntimeClass(cp.adminKubeconfig);
  });
  after(async () => {
    // Pods go first (their projected-volume tmpfs mounts live under the root dirs), then the kubelets.
    for (const [name, r] of [...running]) {
      await r.kubelet.stopAllPods(1).catch(() => undefined);
      await stopNode(name);
    }
    await h.dispose();
  });

  const containerds = new Map<string, ContainerdFixture>();
  async function containerdFor(name: string): Promise<ContainerdFixture> {
    let c = containerds.get(name);
    if (!c) {
      c = (await startContainerd(h))!;
      containerds.set(name, c);
    }
    return c;
  }
  const roots = new Map<string, string>();
  const rootOf = (name: string): string => {
    if (!roots.has(name)) {
      const dir = h.tempDir(`cocolet-node-${name}-`);
      // Runs before the dir is removed: whatever a stopped pod left mounted there.
      h.defer(`unmount under ${dir}`, () => {
        for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
      });
      roots.set(name, dir);
    }
    return roots.get(name)!;
  };

  /** A cocolet kubelet named `name` (its own containerd and root dir, kept across restarts). */
  async function startNode(name: string, creds: { kubeconfig: string; bootstrapKubeconfig?: string }): Promise<Kubelet> {
    const c = await containerdFor(name);
    const root = rootOf(name);
    const cri = new CriClient({ endpoint: c.address });
    const kubelet = new Kubelet({
      settings: {
        config: {
          ...defaultKubeletConfiguration(),
          podLogsDir: join(root, 'pod-logs'),
          containerRuntimeEndpoint: c.address,
          address: '127.0.0.1',
          authentication: { x509: { clientCAFile: cp.pki.caFile }, webhook: { enabled: true }, anonymous: { enabled: false } },
          authorization: { mode: 'Webhook' },
        },
        rootDir: join(root, 'kubelet'),
        nodeName: name,
        nodeIp: '127.0.0.1',
        runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
        ...creds,
      },
      cri,
      images: cri,
      statusFile: false,
      server: { address: '127.0.0.1', port: 0 },
      node: { tee: 'dev' },
    });
    running.set(name, { kubelet, cri });
    await kubelet.start();
    return kubelet;
  }
  async function stopNode(name: string): Promise<void> {
    const r = running.get(name);
    if (!r) return;
    running.delete(name);
    await r.kubelet.stop();
    r.cri.close();
  }

  const node = (name: string): Promise<NodeJson> => kubectlJson<NodeJson>(cp, ['node', name]);
  const cond = (n: NodeJson, type: string): Condition | undefined => n.status.conditions.find((c) => c.type === type);
  const readyIs = async (name: string, status: string): Promise<NodeJson | undefined> => {
    const n = await node(name).catch(() => undefined);
    return n && cond(n, 'Ready')?.status === status ? n : undefined;
  };

  test('TLS bootstrap, then registration: kubectl shows the node Ready with capacity, labels and node info', async () => {
    const root = rootOf('n1');
    const kubeconfig = join(root, 'kubelet.kubeconfig');
    const k = await startNode('n1', { kubeconfig, bootstrapKubeconfig: await cp.bootstrapKubeconfig() });
    // The issued client certificate is the node's identity, signed by the cluster CA.
    const pem = readFileSync(join(root, 'kubelet', 'pki', 'kubelet-client-current.pem'), 'utf8');
    const cert = new X509Certificate(pem);
    assert.match(cert.subject, /O=system:nodes\nCN=system:node:n1/);
    assert.ok(cert.verify(new X509Certificate(readFileSync(cp.pki.caFile)).publicKey));
    assert.match((await kubectl(cp, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig })).trim(), /^system:node:n1$/);
    const csrs = await kubectlJson<{ items: { spec: { signerName: string; username: string }; status: { conditions?: { type: string }[] } }[] }>(cp, ['csr']);
    const csr = csrs.items.find((c) => c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet');
    assert.ok(csr?.status.conditions?.some((c) => c.type === 'Approved'), 'the controller-manager approved the CSR');
    assert.match(csr!.spec.username, /^system:bootstrap:/);

    const n = await waitFor(() => readyIs('n1', 'True'), { what: 'node n1 Ready', timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(cond(n, 'Ready')!.reason, 'KubeletReady');
    for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) assert.equal(cond(n, t)?.status, 'False', t);
    assert.equal(n.status.capacity.cpu, String(availableParallelism()));
    assert.equal(n.status.capacity.pods, '110');
    const memKi = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]!;
    assert.equal(Number.parseInt(n.status.capacity.memory!, 10) * (n.status.capacity.memory!.endsWith('Mi') ? 1024 : n.status.capacity.memory!.endsWith('Gi') ? 1024 ** 2 : 1), Number(memKi));
    assert.ok(n.status.capacity['ephemeral-storage'], 'ephemeral-storage reported');
    assert.ok(n.status.allocatable.memory !== n.status.capacity.memory, 'allocatable memory is below capacity (eviction threshold)');
    assert.equal(n.metadata.labels['kubernetes.io/hostname'], 'n1');
    assert.equal(n.metadata.labels['kubernetes.io/os'], 'linux');
    assert.equal(n.metadata.labels['kubernetes.io/arch'], n.status.nodeInfo.architecture);
    assert.equal(n.metadata.labels['cocolet.io/confidential'], 'true');
    assert.equal(n.metadata.labels['cocolet.io/tee'], 'dev');
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/\S+/);
    assert.match(n.status.nodeInfo.kubeletVersion, /cocolet/);
    assert.equal(n.status.nodeInfo.bootID, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    assert.deepEqual(n.status.addresses.find((a) => a.type === 'InternalIP')?.address, '127.0.0.1');
    assert.equal(n.status.daemonEndpoints.kubeletEndpoint.Port, k.apiServer!.port);
    // kubectl's table agrees.
    const table = await kubectl(cp, ['get', 'nodes', 'n1', '--no-headers']);
    assert.match(table, /^n1\s+Ready\s/);
    const lease = await kubectlJson<{ spec: { holderIdentity: string; leaseDurationSeconds: number }; metadata: { ownerReferences?: { kind: string; name: string }[] } }>(cp, ['lease', 'n1', '-n', 'kube-node-lease']);
    assert.deepEqual([lease.spec.holderIdentity, lease.spec.leaseDurationSeconds], ['n1', 40]);
    assert.equal(lease.metadata.ownerReferences?.[0]?.kind, 'Node');
  });

  test('client certificate rotation with the node credentials: auto-approved (selfnodeclient), the kubeconfig keeps working', async () => {
    const kubeconfig = join(rootOf('n1'), 'kubelet.kubeconfig');
    const pki = join(rootOf('n1'), 'kubelet', 'pki');
    const serial = (): string => new X509Certificate(readFileSync(join(pki, 'kubelet-client-current.pem'))).serialNumber;
    const before = serial();
    const r = new CertRotator({ nodeName: 'n1', pkiDir: pki, api: restClient(loadKubeconfig(kubeconfig)), timeoutMs: 60_000 });
    await r.rotateNow();
    assert.equal(r.rotations, 1);
    assert.notEqual(serial(), before);
    const csrs = await kubectlJson<{ items: { spec: { username: string }; status: { conditions?: { type: string }[] } }[] }>(cp, ['csr']);
    const own = csrs.items.find((c) => c.spec.username === 'system:node:n1');
    assert.ok(own?.status.conditions?.some((c) => c.type === 'Approved'), 'the renewal CSR by system:node:n1 was approved');
    assert.equal((await kubectl(cp, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig })).trim(), 'system:node:n1');
    // The running kubelet's next status write goes out with the new certificate.
    const node1 = running.get('n1')!.kubelet.node!;
    const reported = node1.lastReported;
    await node1.syncStatus(true);
    assert.ok(node1.lastReported > reported, 'status written with the rotated certificate');
  });

  test('kubelet stopped: NotReady and unreachable after the grace period; restarted: Ready again, running pods untouched', async () => {
    const podName = 'keeps-running';
    await kubectl(cp, ['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: podName, namespace: 'default' },
        spec: { nodeName: 'n1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
      }),
    });
    const pod = (): Promise<PodJson> => kubectlJson<PodJson>(cp, ['pod', podName]);
    const runningPod = await waitFor(async () => {
      const p = await pod();
      return p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.containerID ? p : undefined;
    }, { what: 'pod Running on n1', timeoutMs: 90_000, intervalMs: 500 });
    const containerId = runningPod.status.containerStatuses![0]!.containerID!;

    await stopNode('n1');
    const gone = await waitFor(async () => {
      const n = await node('n1');
      return cond(n, 'Ready')?.status === 'Unknown' && n.spec.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable') ? n : undefined;
    }, { what: 'n1 NotReady + unreachable', timeoutMs: 120_000, intervalMs: 1000 });
    assert.equal(cond(gone, 'Ready')!.reason, 'NodeStatusUnknown');
    assert.match(await kubectl(cp, ['get', 'nodes', 'n1', '--no-headers']), /^n1\s+NotReady\s/);

    await startNode('n1', { kubeconfig: join(rootOf('n1'), 'kubelet.kubeconfig') });
    const back = await waitFor(async () => {
      const n = await readyIs('n1', 'True');
      return n && !n.spec.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable') ? n : undefined;
    }, { what: 'n1 Ready again, untainted', timeoutMs: 120_000, intervalMs: 1000 });
    assert.equal(cond(back, 'Ready')!.reason, 'KubeletReady');
    const after = await waitFor(async () => {
      const p = await pod();
      return p.status.containerStatuses?.[0]?.ready ? p : undefined;
    }, { what: 'pod ready after the restart', timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(after.metadata.uid, runningPod.metadata.uid);
    assert.equal(after.status.containerStatuses![0]!.containerID, containerId, 'same container');
    assert.equal(after.status.containerStatuses![0]!.restartCount, 0);
    await kubectl(cp, ['delete', 'pod', podName, '--wait=false']);
  });

  test('two cocolet nodes: the scheduler spreads a Deployment over both', async () => {
    await startNode('n2', { kubeconfig: await cp.nodeKubeconfig('n2') });
    await waitFor(() => readyIs('n2', 'True'), { what: 'node n2 Ready', timeoutMs: 60_000, intervalMs: 500 });
    await waitFor(() => readyIs('n1', 'True'), { what: 'node n1 Ready', timeoutMs: 60_000, intervalMs: 500 });
    const labels = { app: 'spread' };
    await kubectl(cp, ['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'spread', namespace: 'default' },
        spec: {
          replicas: 4,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              terminationGracePeriodSeconds: 1,
              topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } }],
              containers: [{ name: 'c', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
            },
          },
        },
      }),
    });
    const pods = await waitFor(async () => {
      const l = await kubectlJson<{ items: PodJson[] }>(cp, ['pods', '-l', 'app=spread']);
      return l.items.length === 4 && l.items.every((p) => p.spec.nodeName) ? l.items : undefined;
    }, { what: '4 pods scheduled', timeoutMs: 60_000, intervalMs: 500 });
    const per = (n: string): number => pods.filter((p) => p.spec.nodeName === n).length;
    assert.deepEqual([per('n1'), per('n2')], [2, 2]);
    await waitFor(async () => {
      const l = await kubectlJson<{ items: PodJson[] }>(cp, ['pods', '-l', 'app=spread']);
      return l.items.length === 4 && l.items.every((p) => p.status.phase === 'Running');
    }, { what: 'all 4 Running', timeoutMs: 120_000, intervalMs: 1000 });
    await kubectl(cp, ['delete', 'deployment', 'spread', '--wait=false']);
  });
});
