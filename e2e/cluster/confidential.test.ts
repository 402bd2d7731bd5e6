// A confidential pod (runtimeClassName: cocolet) through a real control plane (etcd, kube-apiserver,
// controller-manager, scheduler v1.34): the API server's pod lands on a cocolet node whose
// containerd runs the cocolet shim on the `qemu` hypervisor (the real agent in a QEMU microVM with
// swtpm, the image pulled inside the guest from a loopback registry). The pod reaches Running as
// seen through the API, the node says honestly that the sandbox is not confidential here, a QEMU
// process for the sandbox runs while the pod does, and `kubectl delete pod` removes VM and sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason } from '../support/containerd.js';
import { clusterSkipReason, kubectl, kubectlJson, kubectlRun, withCluster } from '../support/cluster.js';
import { assertNoLeftovers, prepareShim, run } from '../shim/support.js';
import type { ControlPlane } from '../../host/cluster/controlplane.js';
import { startRegistry } from '../guest/registry.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { startKubelet } from '../support/kubelet.js';
import { readTeeLabel } from '../../host/shim/tee-label.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { initdataAnnotation, initdataToml } from '../../host/node/confidential.js';
import { DEMO_POLICY } from '../../host/node/policy.js';
import { INIT_DATA_ANNOTATION } from '../../shared/agent-policy/initdata.js';
import type { PodStatus } from '../../host/kubelet/api/types.js';

const NODE = 'coco-node';
const POD = 'coco';

function skipReason(): string | undefined {
  for (const cmd of ['qemu-system-x86_64', 'swtpm', 'docker-registry', 'skopeo']) if (!have(cmd)) return `${cmd} is not installed`;
  if (!existsSync(join(guestImageDir(), 'manifest.json'))) return 'guest image not built (npm run guest-image)';
  return containerdSkipReason() ?? clusterSkipReason();
}

/** QEMU processes whose command line names the sandbox. */
const qemuFor = (sandboxId: string): string[] =>
  (spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((l) => l.includes('qemu-system') && l.includes(sandboxId));

interface ApiPod {
  metadata: { uid: string };
  status: PodStatus;
}

test('a confidential pod (runtimeClassName: cocolet) from the API server runs in its QEMU VM, says it is not confidential here, and is gone with its VM after kubectl delete', { timeout: 600_000 }, async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  await withCluster(t, {}, async (cp) => {
    // Everything on the node side, stopped (kubelet first) before the control plane goes.
    const h = new Harness();
    try {
      await onNode(h, cp);
    } finally {
      await h.dispose();
    }
  });
});

async function onNode(h: Harness, cp: ControlPlane): Promise<void> {
    const shim = prepareShim(h, { kind: 'qemu' });
  // A software-emulated VM boots slowly on a loaded machine: give the agent dial more than 30 s.
  writeFileSync(shim.configPath, readFileSync(shim.configPath, 'utf8').replace('dial_timeout = 30', 'dial_timeout = 180'));
    process.env.COCOLET_SHIM_CONFIG = shim.configPath;
    const ctd = (await startContainerd(h, undefined, { shimDir: shim.shimDir }))!;
    const cri = new CriClient({ endpoint: ctd.address });
    h.defer('cri client', () => cri.close());
    // The guest pulls the image itself; a QEMU user-net guest reaches the host's loopback as 10.0.2.2.
    const reg = await startRegistry(h);
    const image = reg.image.replace('127.0.0.1:', '10.0.2.2:');
    const tag = await run('ctr', ['-a', ctd.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, image]);
    assert.equal(tag.code, 0, tag.stderr);
    await startKubelet(h, { dir: h.tempDir('ccl-e2e-coco-'), containerd: ctd, cri, nodeName: NODE, settings: { kubeconfig: await cp.nodeKubeconfig(NODE), nodeIp: '127.0.0.1' },
    // Where the kubelet reads the TEE label the shim writes for each sandbox.
    options: { teeOf: (sandboxId) => readTeeLabel(shim.stateDir, sandboxId) },
  });

    await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'cocolet' }, handler: 'cocolet' }) });
    const initdata = initdataAnnotation(initdataToml({ policy: DEMO_POLICY, insecureRegistries: [`10.0.2.2:${reg.port}`] }));
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: POD, namespace: 'default', annotations: { [INIT_DATA_ANNOTATION]: initdata } },
      spec: {
        runtimeClassName: 'cocolet',
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 5,
        containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent', command: ['/bin/sh', '-c', 'echo hello from the TEE; exec sleep 3600'] }],
      },
    };
    await kubectl(cp, ['apply', '-f', '-'], { input: JSON.stringify(pod) });
    const running = await waitFor(
      async () => {
        const p = await kubectlJson<ApiPod>(cp, ['pod', POD]).catch(() => undefined);
        return p?.status.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p : undefined;
      },
      { what: 'the confidential pod Running in the API', timeoutMs: 300_000, intervalMs: 1000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}; containerd log:\n${ctd.containerd.logTail(40)}`);
    });
    const uid = running.metadata.uid;
    const events = await waitFor(
      async () => {
        const all = (await kubectlJson<{ items: { reason: string; message: string; source?: { host?: string }; involvedObject: { uid: string } }[] }>(cp, ['events', '-n', 'default'])).items;
        const e = all.filter((x) => x.involvedObject.uid === uid && x.reason === 'NotConfidential');
        return e.length ? e : undefined;
      },
      { what: 'the NotConfidential event in the API', timeoutMs: 60_000, intervalMs: 1000 },
    );
    assert.match(events[0]!.message, /tee: dev \(not confidential\)/);
    assert.equal(events[0]!.source?.host, NODE);

    const sandboxes = await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid } });
    assert.equal(sandboxes.length, 1, 'one sandbox for the pod');
    const sandboxId = sandboxes[0]!.id;
    assert.equal(qemuFor(sandboxId).length, 1, `a QEMU process for sandbox ${sandboxId}`);

    const del = await kubectlRun(cp, ['delete', 'pod', POD, '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 });
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await kubectlRun(cp, ['get', 'pod', POD])).code, 1, 'gone from the API');
    await waitFor(async () => (await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid } })).length === 0 || undefined, { what: 'the sandbox removed', timeoutMs: 120_000 });
    await waitFor(() => qemuFor(sandboxId).length === 0 || undefined, { what: 'the QEMU process gone', timeoutMs: 60_000 });
    await assertNoLeftovers(shim, ctd.dir);
}
