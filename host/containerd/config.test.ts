import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'smol-toml';
import { renderContainerdConfig, renderCniConflist, containerdLayout, COCOLET_RUNTIME_TYPE } from './config.js';

type Tbl = Record<string, unknown>;
const get = (o: unknown, path: string[]): unknown => path.reduce<unknown>((x, k) => (x as Tbl | undefined)?.[k], o);

const cfg = parse(renderContainerdConfig({ dir: '/x/run', bridge: 'cclt0', subnet: '10.150.3.0/24' }));
const cri = ['plugins', 'io.containerd.grpc.v1.cri'];

const cases: { name: string; path: string[]; want: unknown }[] = [
  { name: 'version 2', path: ['version'], want: 2 },
  { name: 'private root', path: ['root'], want: '/x/run/root' },
  { name: 'private state', path: ['state'], want: '/x/run/state' },
  { name: 'private socket', path: ['grpc', 'address'], want: '/x/run/containerd.sock' },
  { name: 'restrict_oom_score_adj', path: [...cri, 'restrict_oom_score_adj'], want: true },
  { name: 'netns under state dir', path: [...cri, 'netns_mounts_under_state_dir'], want: true },
  { name: 'local sandbox image', path: [...cri, 'sandbox_image'], want: 'localhost/cocolet/pause:1' },
  { name: 'CNI bin dir', path: [...cri, 'cni', 'bin_dir'], want: '/usr/lib/cni' },
  { name: 'CNI conf dir', path: [...cri, 'cni', 'conf_dir'], want: '/x/run/cni/net.d' },
  { name: 'default runtime runc', path: [...cri, 'containerd', 'default_runtime_name'], want: 'runc' },
  { name: 'runc root under dir', path: [...cri, 'containerd', 'runtimes', 'runc', 'options', 'Root'], want: '/x/run/runc' },
  { name: 'cocolet handler type', path: [...cri, 'containerd', 'runtimes', 'cocolet', 'runtime_type'], want: COCOLET_RUNTIME_TYPE },
  {
    name: 'cocolet handler annotations',
    path: [...cri, 'containerd', 'runtimes', 'cocolet', 'pod_annotations'],
    want: ['io.katacontainers.*', 'io.cocolet.*'],
  },
  { name: 'opt dir under dir', path: ['plugins', 'io.containerd.internal.v1.opt', 'path'], want: '/x/run/opt' },
];
for (const tc of cases) test(`containerd config: ${tc.name}`, () => assert.deepEqual(get(cfg, tc.path), tc.want));

test('ttrpc address is the gRPC address plus .ttrpc', () => {
  const l = containerdLayout('/x/run');
  assert.equal(l.ttrpcAddress, '/x/run/containerd.sock.ttrpc');
});

test('CNI conflist: bridge with host-local IPAM, then portmap for hostPorts, no loopback entry', () => {
  const c = JSON.parse(renderCniConflist({ bridge: 'cclt0', subnet: '10.150.3.0/24', ipamDir: '/x/ipam' })) as {
    plugins: { type: string; bridge: string; ipMasq: boolean; ipam: { type: string; dataDir: string; ranges: { subnet: string }[][] }; capabilities?: Record<string, boolean> }[];
  };
  assert.equal(c.plugins.length, 2);
  assert.equal(c.plugins[1]!.type, 'portmap');
  assert.deepEqual(c.plugins[1]!.capabilities, { portMappings: true });
  assert.equal(c.plugins[0]!.type, 'bridge');
  assert.equal(c.plugins[0]!.bridge, 'cclt0');
  assert.equal(c.plugins[0]!.ipMasq, false);
  assert.equal(c.plugins[0]!.ipam.type, 'host-local');
  assert.equal(c.plugins[0]!.ipam.ranges[0]![0]!.subnet, '10.150.3.0/24');
});

test('registry mirrors become the CRI plugin\'s plain-HTTP mirror endpoints', () => {
  const text = renderContainerdConfig({ dir: '/x/run', bridge: 'b', subnet: '10.1.0.0/24', registryMirrors: { 'registry.k8s.io': ['127.0.0.1:5000'] } });
  const cri = (parse(text) as { plugins: Record<string, { registry?: { mirrors: Record<string, { endpoint: string[] }> } }> }).plugins['io.containerd.grpc.v1.cri']!;
  assert.deepEqual(cri.registry?.mirrors['registry.k8s.io']?.endpoint, ['http://127.0.0.1:5000']);
  assert.doesNotMatch(renderContainerdConfig({ dir: '/x/run', bridge: 'b', subnet: '10.1.0.0/24' }), /registry/);
});

test('CNI conflist: bridge names longer than 15 characters are refused', () => {
  assert.throws(() => renderCniConflist({ bridge: 'a'.repeat(16), subnet: '10.1.0.0/24', ipamDir: '/x' }), RangeError);
});

test('extra runtimes are added beside runc and cocolet', () => {
  const c = parse(renderContainerdConfig({ dir: '/x', bridge: 'b', subnet: '10.1.0.0/24', extraRuntimes: { probe: { runtimeType: 'io.containerd.probe.v2' } } }));
  assert.equal(get(c, [...cri, 'containerd', 'runtimes', 'probe', 'runtime_type']), 'io.containerd.probe.v2');
});

test('the cocolet shim config path reaches the runtime options as ConfigPath (absent when not given)', () => {
  const c = parse(renderContainerdConfig({ dir: '/x', bridge: 'b', subnet: '10.1.0.0/24', cocoletConfigPath: '/x/shim.toml' }));
  assert.equal(get(c, [...cri, 'containerd', 'runtimes', 'cocolet', 'options', 'ConfigPath']), '/x/shim.toml');
  assert.equal(get(cfg, [...cri, 'containerd', 'runtimes', 'cocolet', 'options']), undefined);
});
