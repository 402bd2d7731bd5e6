// The example device plugin as a separate program (node dist/examples/device-plugin/main.js)
// against the device manager: registration, allocation, a device going unhealthy, a "kubelet
// restart" (manager stopped and started on the same directory) after which the plugin registers
// again, and the plugin going away. With root and containerd: a pod asking for
// example.com/widget: 1 gets the plugin's env var and device node in its container through
// containerd and runc, keeps them over a kubelet restart, and an oversized pod is refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { DeviceManager } from '../../host/kubelet/cm/devicemanager/manager.js';
import type { Pod } from '../../host/kubelet/api/types.js';
import { startContainerd, containerdSkipReason } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { cmdStatus } from '../../host/kubelet/cli/inspect.js';

const R = 'example.com/widget';
const PLUGIN = fileURLToPath(new URL('../../examples/device-plugin/main.js', import.meta.url));
const h = new Harness();
after(() => h.dispose());

function startPlugin(dir: string, extra: string[] = []) {
  return h.start(process.execPath, [PLUGIN, '--resource', R, '--devices', '4', '--numa', '0,0,1,1', '--dir', dir, '--watch-ms', '50', ...extra]);
}

function pod(uid: string, n: number): Pod {
  return {
    metadata: { name: uid, namespace: 'default', uid },
    spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { [R]: n } } }] },
  } as unknown as Pod;
}

test('example plugin process: registers, is allocated, goes unhealthy, registers again after a kubelet restart, goes away', { timeout: 120_000 }, async () => {
  const root = h.tempDir('dpl-');
  const dir = join(root, 'device-plugins');
  const healthFile = join(root, 'unhealthy');
  let dm = new DeviceManager({ dir, numaNodes: [0, 1] });
  await dm.start();
  h.defer('device manager', () => dm.stop());
  const plugin = startPlugin(dir, ['--health-file', healthFile]);
  await plugin.waitForOutput(/"event":"registered"/);
  await waitFor(() => dm.resources()[R]?.allocatable === 4, { what: 'four healthy widgets' });
  assert.deepEqual(dm.devices(R).map((d) => d.numa[0]), [0, 0, 1, 1]);

  // Allocation on the hinted NUMA node; the answer becomes the container's env.
  const p1 = pod('u1', 1);
  assert.deepEqual(dm.getTopologyHints(p1, p1.spec.containers[0]!)?.[R]?.filter((x) => x.preferred).map((x) => x.numaAffinity), [[0], [1]]);
  await dm.allocate(p1, p1.spec.containers[0]!, { numaAffinity: [1], preferred: true });
  const opts = await dm.runContainerOptions(p1, p1.spec.containers[0]!);
  assert.deepEqual(opts?.envs, [{ key: 'WIDGET_DEVICES', value: 'widget-2' }]);
  await plugin.waitForOutput(/"event":"allocate","requests":\[\["widget-2"\]\]/);

  // A widget goes unhealthy: allocatable drops, capacity stays, a too-large pod is refused.
  writeFileSync(healthFile, 'widget-3\n');
  process.kill(plugin.pid, 'SIGUSR1');
  await waitFor(() => dm.resources()[R]?.allocatable === 3, { what: 'widget-3 unhealthy' });
  assert.deepEqual(dm.resources(), { [R]: { capacity: 4, allocatable: 3 } });
  const refused = await dm.admit(pod('u2', 4));
  assert.equal(refused?.reason, 'UnexpectedAdmissionError');
  assert.match(refused?.message ?? '', /requested number of devices unavailable for example\.com\/widget\. Requested: 4, Available: 2/);

  // Kubelet restart: the manager stops and a new one starts on the same directory.
  await dm.stop();
  dm = new DeviceManager({ dir, numaNodes: [0, 1] });
  await dm.start();
  await plugin.waitForOutput(/"event":"registered".*"registrations":2/);
  await waitFor(() => dm.resources()[R]?.allocatable === 3, { what: 'devices back after re-registration' });
  assert.deepEqual(dm.containerDevices('u1', 'c', R), ['widget-2'], 'allocation restored from the checkpoint');
  const again = await dm.runContainerOptions(p1, p1.spec.containers[0]!);
  assert.deepEqual(again?.envs, [{ key: 'WIDGET_DEVICES', value: 'widget-2' }]);
  rmSync(healthFile);
  process.kill(plugin.pid, 'SIGUSR1');
  await waitFor(() => dm.resources()[R]?.allocatable === 4, { what: 'widget-3 healthy again' });

  // The plugin goes away: its devices are unhealthy, the resource stays (grace period).
  await plugin.stop();
  await waitFor(() => dm.resources()[R]?.allocatable === 0, { what: 'devices unhealthy after the plugin stopped' });
  assert.equal(dm.resources()[R]?.capacity, 4);
});

const skip = containerdSkipReason();

test('a pod asking for example.com/widget: 1 gets the plugin env var in its container (containerd + runc), with its device node', { skip, timeout: 240_000 }, async () => {
  const c = (await startContainerd(h))!;
  const cri = new CriClient({ endpoint: c.address });
  h.defer('cri client', () => cri.close());
  const dir = h.tempDir('dpk-');
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  const newKubelet = () =>
    new Kubelet({
      settings: {
        config: { ...defaultKubeletConfiguration(), staticPodPath: manifests, podLogsDir: join(dir, 'logs'), containerRuntimeEndpoint: c.address },
        rootDir: join(dir, 'root'),
        nodeName: 'e2e',
        runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
      },
      cri,
      images: cri,
    });
  let kubelet = newKubelet();
  await kubelet.start();
  h.defer('kubelet', async () => {
    await kubelet.stopAllPods(0);
    await kubelet.stop();
  });
  const plugin = startPlugin(join(dir, 'root', 'device-plugins'), ['--host-device', '/dev/null']);
  await plugin.waitForOutput(/"event":"registered"/);
  await waitFor(() => kubelet.devices.resources()[R]?.allocatable === 4, { what: 'widgets on the node' });
  const spec = (name: string, n: number) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'main', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', 'exec sleep 3600'], resources: { limits: { [R]: n } } }],
      },
    });
  writeFileSync(join(manifests, 'widget.json'), spec('widget', 1));
  writeFileSync(join(manifests, 'greedy.json'), spec('greedy', 5));
  const rec = (n: string) => kubelet.status.all().find((r) => r.pod.metadata.name === `${n}-e2e`);
  await waitFor(() => rec('widget')?.status.phase === 'Running', { what: 'widget pod Running', timeoutMs: 120_000, intervalMs: 100 });
  const id = rec('widget')!.status.containerStatuses[0]!.containerID!.replace('containerd://', '');
  const out = await cri.execSync(id, ['/bin/sh', '-c', 'echo "$WIDGET_DEVICES"'], 10);
  const got = new TextDecoder().decode(out.stdout).trim();
  assert.match(got, /^widget-[0-3]$/);
  // The plugin's device node, created by runc in the container: /dev/<widget> is a character device
  // that behaves as the host's /dev/null.
  const dev = await cri.execSync(id, ['/bin/sh', '-c', `test -c /dev/${got} && echo hello > /dev/${got} && wc -c < /dev/${got}`], 10);
  assert.equal(new TextDecoder().decode(dev.stdout).trim(), '0', new TextDecoder().decode(dev.stderr));
  const uid = rec('widget')!.pod.metadata.uid!;
  assert.deepEqual(kubelet.devices.containerDevices(uid, 'main', R), [got]);
  await waitFor(() => rec('greedy')?.status.phase === 'Failed', { what: 'greedy pod refused' });
  kubelet.status.flush();
  const lines: string[] = [];
  assert.equal(cmdStatus(join(dir, 'root'), false, (l) => lines.push(l)), 0);
  assert.match(lines.join('\n'), /device plugin resource example\.com\/widget: 4 of 4 devices healthy/);
  assert.equal(rec('greedy')?.status.reason, 'UnexpectedAdmissionError');
  assert.match(rec('greedy')?.status.message ?? '', /Requested: 5, Available: [34]/);

  // Kubelet restart while the pod runs: the plugin registers again, the running pod is admitted
  // again with the same widget (from the checkpoint) and keeps its container.
  await kubelet.stop();
  kubelet = newKubelet();
  await kubelet.start();
  await plugin.waitForOutput(/"event":"registered".*"registrations":2/);
  await waitFor(() => kubelet.devices.resources()[R]?.allocatable === 4, { what: 'widgets back after the restart' });
  await waitFor(() => rec('widget')?.status.phase === 'Running', { what: 'widget pod Running after the restart', timeoutMs: 60_000, intervalMs: 100 });
  assert.equal(rec('widget')!.status.containerStatuses[0]!.containerID!.replace('containerd://', ''), id, 'same container');
  assert.deepEqual(kubelet.devices.containerDevices(uid, 'main', R), [got]);
  rmSync(join(manifests, 'widget.json'));
  await waitFor(() => !rec('widget'), { what: 'widget pod removed', timeoutMs: 60_000, intervalMs: 100 });
  assert.deepEqual(kubelet.devices.containerDevices(uid, 'main', R), [], 'the removed pod no longer holds its widget');
  await plugin.stop();
});
