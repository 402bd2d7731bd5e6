// Faults against real containerd: the VM (here the fake hypervisor's agent process) killed -9
// mid-run, the shim daemon killed -9, containerd restarted under a running sandbox. After each:
// containerd sees the exits, the pod can be removed, and no process, socket, mount or state is left.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import type { ContainerdFixture } from '../support/containerd.js';
import { launchContainerd } from '../../host/containerd/launcher.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import type { ShimRecord } from '../../host/shim/bundle.js';
import { assertNoLeftovers, startShimContainerd, type ShimFixture } from './support.js';

const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let cri: CriClient;
let shim: ShimFixture;
let skip: string | undefined;

before(async () => {
  const rig = await startShimContainerd(h);
  ({ shim, containerd: c, skip } = rig);
  if (rig.cri) cri = rig.cri;
});

async function podWithSleeper(name: string): Promise<{ pod: string; ctr: string; record: ShimRecord }> {
  const sandboxConfig = { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 }, hostname: name, logDirectory: h.tempDir('ccl-'), linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet');
  const ctr = await cri.createContainer(pod, { metadata: { name: 'sleeper' }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sleep', '300'], logPath: 'sleeper.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, sandboxConfig);
  await cri.startContainer(ctr);
  assert.equal((await cri.containerStatus(ctr))?.state, ContainerState.CONTAINER_RUNNING);
  const record = JSON.parse(readFileSync(join(c!.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', pod, 'cocolet-shim.json'), 'utf8')) as ShimRecord;
  return { pod, ctr, record };
}

async function exitedWith(ctr: string): Promise<number> {
  const st = await waitFor(async () => {
    const s = await cri.containerStatus(ctr);
    return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
  }, { what: 'containerd to see the container exit', timeoutMs: 30_000 });
  return st.exitCode;
}

async function removePod(pod: string, ctr: string): Promise<void> {
  await cri.stopContainer(ctr, 2);
  await cri.removeContainer(ctr);
  await cri.stopPodSandbox(pod);
  await cri.removePodSandbox(pod);
  await assertNoLeftovers(shim, c!.dir);
}

test('fault: the VM is killed -9 mid-run → its tasks exit (137), containerd sees it, cleanup is complete', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const { pod, ctr, record } = await podWithSleeper('fault-vm');
  assert.ok(record.vmPid, 'the shim recorded the VM pid');
  process.kill(record.vmPid!, 'SIGKILL');
  assert.equal(await exitedWith(ctr), 137);
  await removePod(pod, ctr);
});

test('fault: the shim is killed -9 → containerd runs delete, which stops the VM and cleans up', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const { pod, ctr, record } = await podWithSleeper('fault-shim');
  process.kill(record.daemonPid, 'SIGKILL');
  await exitedWith(ctr);
  await waitFor(() => {
    try {
      process.kill(record.vmPid!, 0);
      return false;
    } catch {
      return true;
    }
  }, { what: 'the VM to be stopped by delete', timeoutMs: 15_000 });
  assert.equal(readFileSync(join(c.dir, 'containerd.log'), 'utf8').includes('cleaning up after shim disconnected'), true);
  await removePod(pod, ctr);
});

test('fault: containerd restarts while a sandbox runs → it reconnects to the shim and the pod is managed as before', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const { pod, ctr, record } = await podWithSleeper('fault-restart');
  const old = c.containerd;
  process.kill(-old.pid, 'SIGKILL');
  const gone = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  await waitFor(() => gone(old.pid), { what: 'containerd to die' });
  assert.equal(gone(record.daemonPid), false, 'the shim outlives containerd');
  const again = await launchContainerd({ dir: c.dir, shimDir: shim.shimDir, bridge: old.bridge, subnet: old.subnet });
  h.defer('restarted containerd', () => again.stop());
  cri.close();
  cri = new CriClient({ endpoint: again.address });
  assert.equal((await cri.containerStatus(ctr))?.state, ContainerState.CONTAINER_RUNNING);
  await cri.stopContainer(ctr, 2);
  assert.equal((await cri.containerStatus(ctr))?.exitCode, 143);
  await removePod(pod, ctr);
});
