import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NamespaceMode } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import type { Container, Pod } from '../api/types.js';
import { containerConfig, containerHash, oomScoreAdj, qosClass, sandboxConfig } from './podspec.js';

const c = (resources?: Container['resources']): Container => ({ name: 'c', image: 'i:1', ...(resources ? { resources } : {}) });
const pod = (containers: Container[], extra: Partial<Pod['spec']> = {}): Pod => ({ metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers, ...extra } });

const qos: { name: string; p: Pod; want: string; oomMin: number; oomMax: number }[] = [
  { name: 'no resources → BestEffort, 1000', p: pod([c()]), want: 'BestEffort', oomMin: 1000, oomMax: 1000 },
  { name: 'requests = limits → Guaranteed, clamped to 0 (never negative)', p: pod([c({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })]), want: 'Guaranteed', oomMin: 0, oomMax: 0 },
  { name: 'only requests → Burstable, 2..999', p: pod([c({ requests: { memory: '1Gi' } })]), want: 'Burstable', oomMin: 2, oomMax: 999 },
];
for (const tc of qos) {
  test(`QoS and oom_score_adj: ${tc.name}`, () => {
    assert.equal(qosClass(tc.p), tc.want);
    const adj = oomScoreAdj(tc.p, tc.p.spec.containers[0]!);
    assert.ok(adj >= tc.oomMin && adj <= tc.oomMax, String(adj));
    const cfg = containerConfig(tc.p, tc.p.spec.containers[0]!, { restartCount: 0, image: 'i:1', mounts: [], init: false });
    assert.ok((cfg.linux?.resources?.oomScoreAdj ?? 0n) >= 0n);
  });
}

const ns: { name: string; extra: Partial<Pod['spec']>; network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; hostname: string }[] = [
  { name: 'default', extra: {}, network: NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD, hostname: 'p' },
  { name: 'hostNetwork (empty hostname)', extra: { hostNetwork: true }, network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD, hostname: '' },
  { name: 'shareProcessNamespace', extra: { shareProcessNamespace: true }, network: NamespaceMode.POD, pid: NamespaceMode.POD, ipc: NamespaceMode.POD, hostname: 'p' },
  { name: 'hostPID + hostIPC', extra: { hostPID: true, hostIPC: true }, network: NamespaceMode.POD, pid: NamespaceMode.NODE, ipc: NamespaceMode.NODE, hostname: 'p' },
];
for (const tc of ns) {
  test(`namespace options on sandbox AND container: ${tc.name}`, () => {
    const p = pod([c()], tc.extra);
    const sb = sandboxConfig(p, { podLogsDir: '/logs', attempt: 0 });
    const ct = containerConfig(p, p.spec.containers[0]!, { restartCount: 0, image: 'i:1', mounts: [], init: false });
    for (const o of [sb.linux?.securityContext?.namespaceOptions, ct.linux?.securityContext?.namespaceOptions]) {
      assert.equal(o?.network, tc.network);
      assert.equal(o?.pid, tc.pid);
      assert.equal(o?.ipc, tc.ipc);
    }
    assert.equal(sb.hostname, tc.hostname);
    assert.equal(sb.logDirectory, '/logs/ns_p_u');
    assert.equal(ct.logPath, 'c/0.log');
  });
}

test('container hash changes with the spec', () => {
  assert.equal(containerHash(c()), containerHash(c()));
  assert.notEqual(containerHash(c()), containerHash({ ...c(), args: ['x'] }));
});

test('container config: device plugin options (envs first, mounts after the volumes unless the path is taken, device nodes, CDI names, annotations under the kubelet own)', () => {
  const p = pod([{ ...c(), env: [{ name: 'OWN', value: '1' }, { name: 'SHARED', value: 'container' }] }]);
  const cfg = containerConfig(p, p.spec.containers[0]!, {
    restartCount: 0,
    image: 'i:1',
    init: false,
    mounts: [{ containerPath: '/data', hostPath: '/vol/data', readonly: false }],
    resources: {
      envs: [{ key: 'WIDGET_DEVICES', value: 'widget-1' }, { key: 'SHARED', value: 'device' }],
      mounts: [
        { containerPath: '/data', hostPath: '/plugin/data', readonly: true },
        { containerPath: '/usr/lib/widget', hostPath: '/opt/widget/lib', readonly: true },
      ],
      devices: [{ containerPath: '/dev/widget1', hostPath: '/dev/null', permissions: 'rw' }],
      annotations: { 'example.com/widget.ids': 'widget-1', 'io.kubernetes.container.hash': 'forged' },
      cdiDevices: ['example.com/widget=widget-1'],
    },
  });
  const envs = (cfg.envs ?? []).map((e) => `${e.key}=${new TextDecoder().decode(e.value as Uint8Array)}`);
  assert.deepEqual(envs, ['WIDGET_DEVICES=widget-1', 'SHARED=device', 'OWN=1', 'SHARED=container'], 'the container own value comes last and wins');
  assert.deepEqual(cfg.mounts?.map((m) => `${m.containerPath}<-${m.hostPath}${m.readonly ? ':ro' : ''}`), ['/data<-/vol/data', '/usr/lib/widget<-/opt/widget/lib:ro']);
  assert.deepEqual(cfg.devices, [{ containerPath: '/dev/widget1', hostPath: '/dev/null', permissions: 'rw' }]);
  assert.deepEqual(cfg.CDIDevices, [{ name: 'example.com/widget=widget-1' }]);
  assert.equal(cfg.annotations?.['example.com/widget.ids'], 'widget-1');
  assert.notEqual(cfg.annotations?.['io.kubernetes.container.hash'], 'forged', 'a plugin cannot overwrite the kubelet annotations');
});

test('sandbox config: io.cocolet.numa-nodes is the kubelet\'s grant only (a pod\'s own value is dropped)', () => {
  const p: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u1', annotations: { a: 'b', 'io.cocolet.numa-nodes': '3' } }, spec: { containers: [{ name: 'c', image: 'x' }] } };
  assert.deepEqual(sandboxConfig(p, { podLogsDir: '/l', attempt: 0 }).annotations, { a: 'b' });
  assert.deepEqual(sandboxConfig(p, { podLogsDir: '/l', attempt: 0, numaNodes: '0-1' }).annotations, { a: 'b', 'io.cocolet.numa-nodes': '0-1' });
});

test('sandbox config: pod-level resources without the overhead, and the overhead as requests = limits (the kubelet\'s applySandboxResources)', () => {
  const p = pod([c({ requests: { cpu: '500m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } }), c({ requests: { cpu: '250m' } })], { runtimeClassName: 'cocolet', overhead: { cpu: '150m', memory: '1120Mi' } });
  const linux = sandboxConfig(p, { podLogsDir: '/l', attempt: 0 }).linux!;
  assert.deepEqual(linux.resources, { cpuShares: 768n, cpuPeriod: 100_000n, cpuQuota: 100_000n, memoryLimitInBytes: 128n * 1024n * 1024n });
  assert.deepEqual(linux.overhead, { cpuShares: 153n, cpuPeriod: 100_000n, cpuQuota: 15_000n, memoryLimitInBytes: 1120n * 1024n * 1024n });
  const plain = sandboxConfig(pod([c()]), { podLogsDir: '/l', attempt: 0 }).linux!;
  assert.deepEqual(plain.resources, { cpuShares: 2n, cpuPeriod: 100_000n, cpuQuota: 0n });
  assert.equal(plain.overhead, undefined);
});
