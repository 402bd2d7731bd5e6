// The kubelet with its device manager: admission, the CRI config of a container with devices,
// refusal, and devices freed when the pod goes (fake CRI, real device plugin gRPC in-process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { waitFor } from '../../../../shared/testing/harness.js';
import { ExamplePlugin, defaultEnvName } from '../../../../examples/device-plugin/plugin.js';
import { newFakeNode, testContainer, testPod } from '../../testing.js';

const R = 'example.com/widget';

test('kubelet: a pod with example.com/widget gets the plugin env in its CRI config; an oversized pod is refused; devices are freed with the pod', async () => {
  const node = await newFakeNode();
  const plugin = new ExamplePlugin({
    resource: R, count: 2, numa: [0, 0], dir: join(node.dir, 'device-plugins'), endpoint: 'w.sock',
    envName: defaultEnvName(R), preStart: false, watchMs: 20, log: () => undefined,
  });
  try {
    await plugin.start();
    await waitFor(() => node.kubelet.devices.resources()[R]?.allocatable === 2, { what: 'plugin registered with the kubelet' });
    const ok = testPod('ok', { containers: [testContainer('main', { resources: { limits: { [R]: 1 } }, env: [{ name: 'OWN', value: 'x' }] })] });
    const big = testPod('big', { containers: [testContainer('main', { resources: { limits: { [R]: 3 } } })] });
    node.setPods([ok, big]);
    await node.step(10);
    await waitFor(async () => {
      await node.step(10);
      return node.cri.running('uid-ok', 'main');
    }, { what: 'pod ok running' });
    const c = node.cri.running('uid-ok', 'main')!;
    const envs = (c.config.envs ?? []).map((e) => `${e.key}=${new TextDecoder().decode(e.value as Uint8Array)}`);
    assert.deepEqual(envs, ['WIDGET_DEVICES=widget-0', 'OWN=x'], 'device env first, then the container own');
    assert.equal(c.config.annotations?.[`${R}.ids`], 'widget-0');
    const st = node.kubelet.status.get('uid-big')?.status;
    assert.equal(st?.phase, 'Failed');
    assert.equal(st?.reason, 'UnexpectedAdmissionError');
    assert.match(st?.message ?? '', /requested number of devices unavailable for example.com\/widget. Requested: 3, Available: 1/);
    assert.equal(node.cri.containersOf('uid-big').length, 0, 'a refused pod gets no container');
    const m = await node.kubelet.metrics.registry.metrics();
    assert.match(m, /kubelet_device_plugin_registration_total\{resource_name="example.com\/widget"\} 1/);
    assert.match(m, /kubelet_device_plugin_alloc_duration_seconds_count\{resource_name="example.com\/widget"\} 1/);
    node.setPods([]);
    await waitFor(async () => {
      await node.step(10_000);
      return node.kubelet.devices.containerDevices('uid-ok', 'main', R).length === 0;
    }, { what: 'devices freed after the pod was removed' });
  } finally {
    await plugin.stop();
    await node.dispose();
  }
});
