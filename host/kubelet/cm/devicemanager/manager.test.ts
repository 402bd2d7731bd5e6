// Device manager against real gRPC over unix sockets, with the example plugin in-process
// (e2e/kubelet/device-plugin.test.ts runs it as a separate program).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../../../shared/testing/harness.js';
import { serviceDefinition } from '../../../../shared/grpc/definition.js';
import { Registration } from '../../../../shared/gen/deviceplugin/v1beta1/api_pb.js';
import { ExamplePlugin, defaultEnvName, type PluginConfig } from '../../../../examples/device-plugin/plugin.js';
import { FakeClock } from '../../clock.js';
import type { Container, Pod } from '../../api/types.js';
import { AdmissionError } from '../types.js';
import { DeviceManager, ENDPOINT_STOP_GRACE_PERIOD_MS } from './manager.js';
import { CHECKPOINT_FILE } from './checkpoint.js';

const R = 'example.com/widget';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'dm-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function manager(dir: string, o: Partial<ConstructorParameters<typeof DeviceManager>[0]> = {}): Promise<DeviceManager> {
  const dm = new DeviceManager({ dir, numaNodes: [0, 1], dialTimeoutMs: 2_000, ...o });
  await dm.start();
  cleanups.push(() => dm.stop());
  return dm;
}

async function plugin(dir: string, o: Partial<PluginConfig> = {}): Promise<{ p: ExamplePlugin; events: string[] }> {
  const events: string[] = [];
  const p = new ExamplePlugin({
    resource: R,
    count: 4,
    numa: [0, 0, 1, 1],
    dir,
    endpoint: 'widget.sock',
    envName: defaultEnvName(R),
    preStart: false,
    watchMs: 20,
    log: (e, f) => events.push(`${e} ${JSON.stringify(f ?? {})}`),
    ...o,
  });
  await p.start();
  cleanups.push(() => p.stop());
  return { p, events };
}

function pod(uid: string, containers: { name: string; n: number; init?: boolean }[]): Pod {
  const c = (x: { name: string; n: number }): Container => ({ name: x.name, image: 'i', resources: { limits: { [R]: x.n } } }) as Container;
  return {
    metadata: { name: `p-${uid}`, namespace: 'default', uid },
    spec: { initContainers: containers.filter((x) => x.init).map(c), containers: containers.filter((x) => !x.init).map(c) },
  } as unknown as Pod;
}

const ready = (dm: DeviceManager, allocatable = 4) => waitFor(() => dm.resources()[R]?.allocatable === allocatable, { what: `${R} allocatable ${allocatable}` });

test('registration: a plugin registers and its devices become capacity and allocatable with their NUMA nodes', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  await plugin(dir);
  await ready(dm);
  assert.deepEqual(dm.resources(), { [R]: { capacity: 4, allocatable: 4 } });
  assert.deepEqual(dm.devices(R).map((d) => `${d.id}@${d.numa.join(',')}`), ['widget-0@0', 'widget-1@0', 'widget-2@1', 'widget-3@1']);
  const ck = JSON.parse(readFileSync(join(dir, CHECKPOINT_FILE), 'utf8'));
  assert.deepEqual(ck.Data.RegisteredDevices[R].sort(), ['widget-0', 'widget-1', 'widget-2', 'widget-3']);
});

async function register(dir: string, req: { version: string; endpoint: string; resourceName: string }): Promise<grpc.ServiceError | null> {
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(Registration), 'Registration');
  const client = new Client(`unix://${join(dir, 'kubelet.sock')}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Register(r: object, cb: (e: grpc.ServiceError | null) => void): void;
  };
  try {
    return await new Promise((resolve) => client.Register(req, (e) => resolve(e)));
  } finally {
    client.close();
  }
}

const refusals: { name: string; req: { version: string; endpoint: string; resourceName: string }; code: grpc.status; why: RegExp }[] = [
  { name: 'unsupported version', req: { version: 'v1alpha', endpoint: 'x.sock', resourceName: R }, code: grpc.status.INVALID_ARGUMENT, why: /requested API version "v1alpha" is not supported by kubelet. Supported versions are \["v1beta1"\]/ },
  { name: 'not an extended resource', req: { version: 'v1beta1', endpoint: 'x.sock', resourceName: 'widget' }, code: grpc.status.INVALID_ARGUMENT, why: /the ResourceName "widget" is invalid: it has no domain prefix/ },
  { name: 'endpoint outside the directory', req: { version: 'v1beta1', endpoint: '../x.sock', resourceName: R }, code: grpc.status.INVALID_ARGUMENT, why: /endpoint "..\/x.sock" must be the name of a socket file/ },
  { name: 'nothing listens on the endpoint', req: { version: 'v1beta1', endpoint: 'absent.sock', resourceName: R }, code: grpc.status.UNAVAILABLE, why: /cannot dial device plugin socket .*absent.sock/ },
];
for (const tc of refusals) {
  test(`registration refused: ${tc.name}`, async () => {
    const dir = tmp();
    const dm = await manager(dir, { dialTimeoutMs: 300 });
    const err = await register(dir, tc.req);
    assert.ok(err, 'Register must fail');
    assert.equal(err.code, tc.code);
    assert.match(err.details, tc.why);
    assert.deepEqual(dm.resources(), {});
  });
}

test('allocation: NUMA hints, preferred allocation on the hinted node, envs and annotations for the CRI config, checkpoint entry', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  const { events } = await plugin(dir);
  await ready(dm);
  const p = pod('u1', [{ name: 'c', n: 2 }]);
  const hints = dm.getTopologyHints(p, p.spec.containers[0]!)!;
  assert.deepEqual(hints[R], [
    { numaAffinity: [0], preferred: true },
    { numaAffinity: [1], preferred: true },
    { numaAffinity: [0, 1], preferred: false },
  ]);
  await dm.allocate(p, p.spec.containers[0]!, { numaAffinity: [1], preferred: true });
  assert.deepEqual(dm.containerDevices('u1', 'c', R), ['widget-2', 'widget-3']);
  const opts = await dm.runContainerOptions(p, p.spec.containers[0]!);
  assert.deepEqual(opts?.envs, [{ key: 'WIDGET_DEVICES', value: 'widget-2,widget-3' }]);
  assert.equal(opts?.annotations[`${R}.ids`], 'widget-2,widget-3');
  assert.ok(events.some((e) => e.startsWith('allocate')));
  assert.equal(events.filter((e) => e.startsWith('prestart')).length, 0, 'no PreStartContainer unless the plugin asks');
  const ck = JSON.parse(readFileSync(join(dir, CHECKPOINT_FILE), 'utf8'));
  assert.deepEqual(ck.Data.PodDeviceEntries.map((e: { PodUID: string; DeviceIDs: unknown }) => [e.PodUID, e.DeviceIDs]), [['u1', { '1': ['widget-2', 'widget-3'] }]]);
  // The next pod's hints see node 1 as taken.
  const q = pod('u2', [{ name: 'c', n: 2 }]);
  assert.deepEqual(dm.getTopologyHints(q, q.spec.containers[0]!)![R], [
    { numaAffinity: [0], preferred: true },
    { numaAffinity: [0, 1], preferred: false },
  ]);
  await dm.allocate(q, q.spec.containers[0]!, { numaAffinity: [0], preferred: true });
  assert.deepEqual(dm.containerDevices('u2', 'c', R), ['widget-0', 'widget-1']);
  dm.removePod('u1');
  dm.removePod('u2');
  assert.deepEqual(dm.containerDevices('u1', 'c', R), []);
});

test('allocation without a hint: the plugin\'s GetPreferredAllocation decides (one NUMA node), not the id order', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  await plugin(dir);
  await ready(dm);
  const one = pod('u1', [{ name: 'c', n: 1 }]);
  await dm.allocate(one, one.spec.containers[0]!, { numaAffinity: [0], preferred: true });
  assert.deepEqual(dm.containerDevices('u1', 'c', R), ['widget-0']);
  // Free: widget-1 (node 0), widget-2 and widget-3 (node 1). In id order the pod would straddle both nodes.
  const two = pod('u2', [{ name: 'c', n: 2 }]);
  await dm.allocate(two, two.spec.containers[0]!, null);
  assert.deepEqual(dm.containerDevices('u2', 'c', R), ['widget-2', 'widget-3']);
});

test('concurrent admissions never hand out the same device twice', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  await plugin(dir);
  await ready(dm);
  const pods = [1, 2, 3, 4, 5].map((i) => pod(`u${i}`, [{ name: 'c', n: 1 }]));
  const results = await Promise.all(pods.map((p) => dm.admit(p)));
  assert.equal(results.filter((r) => r === undefined).length, 4);
  assert.equal(results.filter((r) => r?.reason === 'UnexpectedAdmissionError').length, 1);
  const held = pods.flatMap((p) => dm.containerDevices(p.metadata.uid!, 'c', R));
  assert.deepEqual(held.sort(), ['widget-0', 'widget-1', 'widget-2', 'widget-3']);
});

test('a second plugin registering the same resource replaces the first; the first one\'s end changes nothing', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  const { p: first } = await plugin(dir);
  await ready(dm);
  await plugin(dir, { endpoint: 'second.sock', count: 2, numa: [1, 1] });
  await waitFor(() => dm.resources()[R]?.capacity === 2, { what: 'the second plugin\'s devices' });
  await first.stop();
  // The replaced plugin's stream end must not mark the new plugin's devices unhealthy.
  const p = pod('u1', [{ name: 'c', n: 2 }]);
  assert.equal(await dm.admit(p), undefined);
  assert.deepEqual(dm.resources(), { [R]: { capacity: 2, allocatable: 2 } });
});

test('admission: more devices than healthy ones is refused with UnexpectedAdmissionError naming the resource and counts', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  const { p: pl } = await plugin(dir);
  await ready(dm);
  pl.refreshHealth(); // widget-0 unhealthy
  await ready(dm, 3);
  assert.deepEqual(dm.resources(), { [R]: { capacity: 4, allocatable: 3 } });
  const refused = await dm.admit(pod('u1', [{ name: 'c', n: 4 }]));
  assert.ok(refused instanceof AdmissionError);
  assert.equal(refused.reason, 'UnexpectedAdmissionError');
  assert.equal(refused.message, `Allocate failed due to requested number of devices unavailable for ${R}. Requested: 4, Available: 3, which is unexpected`);
  assert.equal(await dm.admit(pod('u2', [{ name: 'c', n: 3 }])), undefined);
  assert.ok(!dm.containerDevices('u2', 'c', R).includes('widget-0'), 'an unhealthy device is never handed out');
  const unknown = await dm.admit({ ...pod('u3', []), spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { 'other.example/thing': 1 } } }] } } as unknown as Pod);
  assert.equal(unknown?.reason, 'OutOfother.example/thing');
});

test('init containers: their devices are reused by the app container; a sidecar keeps its own', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  await plugin(dir);
  await ready(dm);
  const p = pod('u1', [
    { name: 'init', n: 2, init: true },
    { name: 'app', n: 1 },
    { name: 'app2', n: 2 },
  ]);
  assert.equal(await dm.admit(p), undefined);
  const init = dm.containerDevices('u1', 'init', R);
  const app = dm.containerDevices('u1', 'app', R);
  const app2 = dm.containerDevices('u1', 'app2', R);
  assert.equal(init.length, 2);
  assert.ok(init.includes(app[0]!), `app reuses one of ${init}: got ${app}`);
  assert.ok(app2.every((d) => !app.includes(d)), 'two app containers never share a device');
  assert.equal(new Set([...init, ...app, ...app2]).size, 3, 'the pod holds 3 devices, not 5');
});

test('PreStartContainer is called when the plugin requires it', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  const { events } = await plugin(dir, { preStart: true });
  await ready(dm);
  const p = pod('u1', [{ name: 'c', n: 1 }]);
  await dm.allocate(p, p.spec.containers[0]!, null);
  await dm.runContainerOptions(p, p.spec.containers[0]!);
  assert.equal(events.filter((e) => e.startsWith('prestart')).length, 1);
});

test('plugin gone: devices unhealthy, capacity kept for the grace period, then the resource is removed', async () => {
  const dir = tmp();
  const clock = new FakeClock(Date.now());
  const dm = await manager(dir, { clock });
  const { p: pl } = await plugin(dir);
  await ready(dm);
  await pl.stop();
  await waitFor(() => dm.resources()[R]?.allocatable === 0, { what: 'devices unhealthy after the stream ended' });
  assert.deepEqual(dm.resources(), { [R]: { capacity: 4, allocatable: 0 } });
  await clock.advance(ENDPOINT_STOP_GRACE_PERIOD_MS - 1_000);
  assert.deepEqual(dm.resources(), { [R]: { capacity: 4, allocatable: 0 } });
  await clock.advance(1_000);
  assert.deepEqual(dm.resources(), { [R]: { capacity: 0, allocatable: 0 } }, 'removed: reported as 0, as the kubelet sets it on the Node');
  await plugin(dir, { endpoint: 'again.sock' });
  await ready(dm);
});

test('kubelet restart: socket recreated, the plugin registers again, allocations survive in the checkpoint', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  const { p: pl } = await plugin(dir);
  await ready(dm);
  const p = pod('u1', [{ name: 'c', n: 1 }]);
  await dm.allocate(p, p.spec.containers[0]!, null);
  const before = dm.containerDevices('u1', 'c', R);
  await dm.stop();
  assert.ok(!existsSync(join(dir, 'kubelet.sock')));
  const dm2 = await manager(dir);
  // Known from the checkpoint, no devices until the plugin is back.
  assert.deepEqual(dm2.resources(), { [R]: { capacity: 0, allocatable: 0 } });
  await ready(dm2);
  await waitFor(() => pl.registrations === 2, { what: 'second registration' });
  assert.deepEqual(dm2.containerDevices('u1', 'c', R), before);
  const opts = await dm2.runContainerOptions(p, p.spec.containers[0]!);
  assert.deepEqual(opts?.envs, [{ key: 'WIDGET_DEVICES', value: before[0]! }]);
  // The same container admitted again needs no new Allocate and gets the same device.
  await dm2.allocate(p, p.spec.containers[0]!, null);
  assert.deepEqual(dm2.containerDevices('u1', 'c', R), before);
});

test('corrupt checkpoint: start goes on with no allocations and keeps the bad file aside', async () => {
  const dir = tmp();
  writeFileSync(join(dir, CHECKPOINT_FILE), '{"Data": {');
  const dm = await manager(dir);
  assert.deepEqual(dm.resources(), {});
  assert.ok(readdirSync(dir).some((f) => f.startsWith(`${CHECKPOINT_FILE}.corrupt-`)));
  await plugin(dir);
  await ready(dm);
});

test('pod scope hints: the pod request is the larger of its init containers and its app containers together', async () => {
  const dir = tmp();
  const dm = await manager(dir);
  await plugin(dir);
  await ready(dm);
  const p = pod('u1', [
    { name: 'init', n: 1, init: true },
    { name: 'a', n: 1 },
    { name: 'b', n: 1 },
  ]);
  // 2 devices: either node alone holds them.
  assert.deepEqual(dm.getPodTopologyHints(p)![R], [
    { numaAffinity: [0], preferred: true },
    { numaAffinity: [1], preferred: true },
    { numaAffinity: [0, 1], preferred: false },
  ]);
  const big = pod('u2', [{ name: 'a', n: 3 }]);
  assert.deepEqual(dm.getPodTopologyHints(big)![R], [{ numaAffinity: [0, 1], preferred: true }]);
  const tooBig = pod('u3', [{ name: 'a', n: 5 }]);
  assert.deepEqual(dm.getPodTopologyHints(tooBig)![R], [], 'no NUMA set can hold it');
  assert.deepEqual(dm.getPodTopologyHints(pod('u4', [{ name: 'a', n: 0 }])), {}, 'no device request: no opinion');
});
