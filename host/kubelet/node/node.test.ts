import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, flushMicrotasks } from '../clock.js';
import { waitFor } from '../../../shared/testing/harness.js';
import { ApiError, type PatchType, type RestClient, type WatchStream } from '../client/rest.js';
import { NodeLifecycle, type NodeLifecycleOptions } from './lifecycle.js';
import { NodeLease, microTime } from './lease.js';
import { formatBytes, hugepageResourceName, machineResources, type MachineFacts } from './resources.js';
import { nodeConditions, statusChanged } from './status.js';
import { nodeLabels } from './info.js';
import { parseNodeLabels } from '../config/flags.js';

interface Call {
  method: string;
  path: string;
  body?: unknown;
  type?: PatchType;
}

/** An in-memory API with Node and Lease semantics enough for the lifecycle (409, 404, resourceVersion). */
class FakeApi implements RestClient {
  readonly server = 'https://fake';
  readonly calls: Call[] = [];
  readonly objects = new Map<string, Record<string, unknown>>();
  failNext = 0;
  private rv = 1;

  private fail(): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new ApiError(500, 'InternalError', 'injected');
    }
  }
  get<T>(path: string): Promise<T> {
    this.calls.push({ method: 'GET', path });
    const o = this.objects.get(path);
    return o ? Promise.resolve(structuredClone(o) as T) : Promise.reject(new ApiError(404, 'NotFound', `${path} not found`));
  }
  create<T>(path: string, body: unknown): Promise<T> {
    this.calls.push({ method: 'POST', path, body });
    this.fail();
    const b = structuredClone(body) as { metadata: Record<string, unknown> };
    const key = `${path}/${b.metadata.name as string}`;
    if (this.objects.has(key)) return Promise.reject(new ApiError(409, 'AlreadyExists', 'exists'));
    b.metadata = { ...b.metadata, uid: `uid-${b.metadata.name as string}`, resourceVersion: String(this.rv++) };
    this.objects.set(key, b);
    return Promise.resolve(structuredClone(b) as T);
  }
  update<T>(path: string, body: unknown): Promise<T> {
    this.calls.push({ method: 'PUT', path, body });
    this.fail();
    const cur = this.objects.get(path) as { metadata: { resourceVersion: string } } | undefined;
    const b = structuredClone(body) as { metadata: { resourceVersion?: string } };
    if (!cur) return Promise.reject(new ApiError(404, 'NotFound', 'gone'));
    if (b.metadata.resourceVersion !== cur.metadata.resourceVersion) return Promise.reject(new ApiError(409, 'Conflict', 'stale'));
    b.metadata.resourceVersion = String(this.rv++);
    this.objects.set(path, b as Record<string, unknown>);
    return Promise.resolve(structuredClone(b) as T);
  }
  patch<T>(path: string, body: unknown, type: PatchType = 'merge'): Promise<T> {
    this.calls.push({ method: 'PATCH', path, body, type });
    this.fail();
    const key = path.replace(/\/status$/, '');
    const cur = this.objects.get(key);
    if (!cur) return Promise.reject(new ApiError(404, 'NotFound', 'no node'));
    const b = body as { status?: unknown; metadata?: { labels?: Record<string, string> } };
    const meta = cur.metadata as { labels?: Record<string, string> };
    const next = { ...cur, ...(b.status ? { status: b.status } : {}), metadata: { ...meta, ...(b.metadata ? { labels: { ...meta.labels, ...b.metadata.labels } } : {}) } };
    this.objects.set(key, next);
    return Promise.resolve(structuredClone(next) as T);
  }
  delete<T>(path: string): Promise<T> {
    this.calls.push({ method: 'DELETE', path });
    return this.objects.delete(path) ? Promise.resolve({} as T) : Promise.reject(new ApiError(404, 'NotFound', `${path} not found`));
  }
  watch(): WatchStream {
    return { done: Promise.reject(new Error('no watch in the fake')), abort: () => undefined };
  }
  count(method: string, path: string): number {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }
}

const machine: MachineFacts = { cpus: 4, memoryBytes: 8 * 1024 ** 3, ephemeralStorageBytes: 100 * 1024 ** 3, hugepages: { [2 * 1024 ** 2]: 64 } };

function lifecycle(api: FakeApi, clock: FakeClock, over: Partial<NodeLifecycleOptions> = {}): NodeLifecycle {
  return new NodeLifecycle({
    api,
    nodeName: 'n1',
    rootDir: '/nonexistent',
    labels: nodeLabels({ nodeName: 'n1', tee: 'dev' }),
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
    kubeletPort: () => 10250,
    runtimeVersion: () => Promise.resolve({ runtimeName: 'containerd', runtimeVersion: '1.6.20' }),
    ready: () => Promise.resolve({ ok: true, message: '' }),
    nodeInfo: (r) => ({ machineID: 'm', systemUUID: 's', bootID: 'b', kernelVersion: 'k', osImage: 'o', containerRuntimeVersion: `${r.runtimeName}://${r.runtimeVersion}`, kubeletVersion: 'v0.1.0-cocolet', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' }),
    allocatable: { maxPods: 110, evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '10%' } },
    machine: () => machine,
    clock,
    ...over,
  });
}

test('resources: capacity from the machine, allocatable minus reservations, eviction threshold and hugepages', () => {
  const r = machineResources(machine, { maxPods: 110, kubeReserved: { cpu: '500m', memory: '1Gi' }, systemReserved: { cpu: '250m' }, evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '10%' } });
  assert.deepEqual(r.capacity, { cpu: '4', memory: '8Gi', 'ephemeral-storage': '100Gi', pods: '110', 'hugepages-2Mi': '128Mi' });
  assert.equal(r.allocatable.cpu, '3250m');
  assert.equal(r.allocatable.memory, formatBytes(8 * 1024 ** 3 - 1024 ** 3 - 100 * 1024 ** 2 - 128 * 1024 ** 2));
  assert.equal(r.allocatable['ephemeral-storage'], formatBytes(90 * 1024 ** 3));
  assert.equal(r.allocatable['hugepages-2Mi'], '128Mi');
  assert.equal(hugepageResourceName(1024 ** 3), 'hugepages-1Gi');
  assert.equal(machineResources({ ...machine, memoryBytes: 50 * 1024 ** 2 }, { maxPods: 1, evictionHard: { 'memory.available': '100Mi' } }).allocatable.memory, '0', 'never negative');
});

test('conditions: upstream order and reasons; transition time kept while the status holds', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const first = nodeConditions({ now: t0, ready: { ok: true, message: '' }, pressure: (t) => ({ pressure: t === 'DiskPressure' }) });
  assert.deepEqual(first.map((c) => `${c.type}=${c.status}:${c.reason}`), ['MemoryPressure=False:KubeletHasSufficientMemory', 'DiskPressure=True:KubeletHasDiskPressure', 'PIDPressure=False:KubeletHasSufficientPID', 'Ready=True:KubeletReady']);
  const t1 = new Date('2026-01-01T00:00:10Z');
  const second = nodeConditions({ now: t1, ready: { ok: false, message: 'PLEG is not healthy' }, pressure: () => ({ pressure: false }), previous: first });
  const by = (type: string): (typeof second)[number] => second.find((c) => c.type === type)!;
  assert.equal(by('MemoryPressure').lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(by('MemoryPressure').lastHeartbeatTime, '2026-01-01T00:00:10Z');
  assert.equal(by('DiskPressure').lastTransitionTime, '2026-01-01T00:00:10Z');
  assert.deepEqual([by('Ready').status, by('Ready').reason, by('Ready').message], ['False', 'KubeletNotReady', 'PLEG is not healthy']);
});

test('labels: os, arch, hostname, confidential and the TEE; --node-labels parsed strictly', () => {
  const l = nodeLabels({ nodeName: 'n1', tee: 'snp', extra: { team: 'a' } });
  assert.equal(l['kubernetes.io/hostname'], 'n1');
  assert.equal(l['kubernetes.io/os'], 'linux');
  assert.ok(l['kubernetes.io/arch']);
  assert.equal(l['cocolet.io/confidential'], 'true');
  assert.equal(l['cocolet.io/tee'], 'snp');
  assert.equal(l.team, 'a');
  assert.deepEqual(parseNodeLabels('a=b, example.com/x=y'), { a: 'b', 'example.com/x': 'y' });
  assert.throws(() => parseNodeLabels('a=b,bad label=x'), /"bad label=x" is not a valid/);
});

test('lifecycle: registers with full status, then reports only on change or when the report period is up', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  let ready = true;
  const n = lifecycle(api, clock, { ready: () => Promise.resolve({ ok: ready, message: ready ? '' : 'container runtime is down' }), statusUpdateMs: 10_000, statusReportMs: 300_000 });
  n.start();
  await flushMicrotasks();
  assert.equal(n.registered, true);
  const node = api.objects.get('/api/v1/nodes/n1') as { metadata: { labels: Record<string, string> }; status: { capacity: Record<string, string>; daemonEndpoints: { kubeletEndpoint: { Port: number } }; nodeInfo: { containerRuntimeVersion: string } } };
  assert.equal(node.metadata.labels['cocolet.io/tee'], 'dev');
  assert.equal(node.status.capacity.cpu, '4');
  assert.equal(node.status.daemonEndpoints.kubeletEndpoint.Port, 10250);
  assert.equal(node.status.nodeInfo.containerRuntimeVersion, 'containerd://1.6.20');
  const patches = (): number => api.count('PATCH', '/api/v1/nodes/n1/status');
  await clock.advance(10_000);
  assert.equal(patches(), 0, 'nothing changed: no report');
  ready = false;
  await clock.advance(10_000);
  assert.equal(patches(), 1, 'Ready flipped: reported');
  const patch = api.calls.filter((c) => c.method === 'PATCH').at(-1)!;
  assert.equal(patch.type, 'merge');
  const ready1 = (patch.body as { status: { conditions: { type: string; status: string; message: string }[] } }).status.conditions.find((c) => c.type === 'Ready')!;
  assert.deepEqual([ready1.status, ready1.message], ['False', 'container runtime is down']);
  for (let i = 0; i < 30; i++) {
    await clock.advance(10_000);
  }
  assert.equal(patches(), 2, 'one full report after nodeStatusReportFrequency');
  n.stop();
});

test('lifecycle: registered NotReady (PLEG not yet relisted), the Ready status goes out within 100 ms of readiness, not at the next tick', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  let ready = false;
  let checks = 0;
  const n = lifecycle(api, clock, {
    ready: () => {
      checks++;
      return Promise.resolve({ ok: ready, message: ready ? '' : 'PLEG is not healthy: pleg has yet to be successful' });
    },
    statusUpdateMs: 10_000,
  });
  n.start();
  await flushMicrotasks();
  const readyOf = (o: unknown): string | undefined => (o as { status: { conditions: { type: string; status: string }[] } }).status.conditions.find((c) => c.type === 'Ready')?.status;
  assert.equal(readyOf(api.objects.get('/api/v1/nodes/n1')), 'False');
  await clock.advance(500);
  assert.equal(api.count('PATCH', '/api/v1/nodes/n1/status'), 0, 'still not ready: nothing to report');
  ready = true;
  await clock.advance(100);
  assert.equal(api.count('PATCH', '/api/v1/nodes/n1/status'), 1);
  assert.equal(readyOf(api.calls.at(-1)!.body), 'True');
  const after = checks;
  await clock.advance(5_000);
  assert.equal(checks, after, 'no more fast checks once Ready was reported');
  n.stop();
});

test('lifecycle: readinessChanged (the PLEG relisted) reports Ready at once, without waiting for a tick; ignored before registration and once Ready', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  let ready = false;
  const n = lifecycle(api, clock, { ready: () => Promise.resolve({ ok: ready, message: ready ? '' : 'PLEG is not healthy: pleg has yet to be successful' }), statusUpdateMs: 10_000 });
  n.readinessChanged();
  await flushMicrotasks();
  assert.equal(api.calls.length, 0, 'not started: nothing sent');
  n.start();
  await flushMicrotasks();
  const patches = (): number => api.count('PATCH', '/api/v1/nodes/n1/status');
  assert.equal(patches(), 0);
  ready = true;
  n.readinessChanged();
  await flushMicrotasks();
  assert.equal(patches(), 1, 'reported with no time passing');
  const sent = (api.calls.at(-1)!.body as { status: { conditions: { type: string; status: string }[] } }).status.conditions.find((c) => c.type === 'Ready')?.status;
  assert.equal(sent, 'True');
  n.readinessChanged();
  await flushMicrotasks();
  assert.equal(patches(), 1, 'already Ready: nothing more');
  n.stop();
});

test('lifecycle: a restarted kubelet finds its Node (409), updates labels and status, keeps transition times', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const a = lifecycle(api, clock);
  await a.register();
  const t0 = (api.objects.get('/api/v1/nodes/n1') as { status: { conditions: { lastTransitionTime: string }[] } }).status.conditions[0]!.lastTransitionTime;
  await clock.advance(60_000);
  const b = lifecycle(api, clock, { labels: { ...nodeLabels({ nodeName: 'n1', tee: 'tdx' }) } });
  await b.register();
  assert.equal(b.uid, 'uid-n1');
  const node = api.objects.get('/api/v1/nodes/n1') as { metadata: { labels: Record<string, string> }; status: { conditions: { lastTransitionTime: string; lastHeartbeatTime: string }[] } };
  assert.equal(node.metadata.labels['cocolet.io/tee'], 'tdx');
  assert.equal(node.status.conditions[0]!.lastTransitionTime, t0);
  assert.equal(node.status.conditions[0]!.lastHeartbeatTime, '2026-01-01T00:01:00Z');
});

test('lifecycle: registration retries with back-off until the API answers', async () => {
  const api = new FakeApi();
  api.failNext = 3;
  const clock = new FakeClock(0);
  const n = lifecycle(api, clock);
  n.start();
  for (let i = 0; i < 10 && !n.registered; i++) {
    await clock.advance(1000);
  }
  assert.equal(n.registered, true);
  assert.equal(api.count('POST', '/api/v1/nodes'), 4);
  n.stop();
});

test('lifecycle: registerNode false never creates the Node; once someone has, its status is reported and the Lease kept', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(0);
  const n = lifecycle(api, clock, { registerNode: false });
  n.start();
  for (let i = 0; i < 5; i++) await clock.advance(1000);
  assert.equal(n.registered, false, 'no Node yet: waiting');
  assert.equal(api.count('POST', '/api/v1/nodes'), 0);
  api.objects.set('/api/v1/nodes/n1', { metadata: { name: 'n1', uid: 'made-by-admin', labels: { team: 'a' } }, status: { conditions: [] } });
  for (let i = 0; i < 10 && !n.registered; i++) await clock.advance(1000);
  assert.equal(n.registered, true);
  assert.equal(n.uid, 'made-by-admin');
  assert.equal(api.count('POST', '/api/v1/nodes'), 0, 'never created');
  assert.equal(api.count('PATCH', '/api/v1/nodes/n1'), 0, 'labels left alone');
  assert.equal(api.count('PATCH', '/api/v1/nodes/n1/status'), 1, 'status reported');
  await clock.advance(10_000);
  assert.ok(api.calls.some((c) => c.path.startsWith('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases')), 'the Lease is kept');
  n.stop();
});

test('lease: created owned by the Node, renewed every 10 s with a microsecond renewTime; conflicts re-read', async () => {
  const api = new FakeApi();
  const clock = new FakeClock(Date.parse('2026-01-01T00:00:00Z'));
  const path = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1';
  const lease = new NodeLease({ api, nodeName: 'n1', leaseDurationSeconds: 40, nodeUid: () => 'uid-n1', clock });
  assert.equal(lease.intervalMs, 10_000);
  lease.start();
  await clock.advance(0);
  const created = api.objects.get(path) as { metadata: { ownerReferences: { kind: string; uid: string }[] }; spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string } };
  assert.deepEqual([created.spec.holderIdentity, created.spec.leaseDurationSeconds], ['n1', 40]);
  assert.equal(created.metadata.ownerReferences[0]!.uid, 'uid-n1');
  assert.equal(created.spec.renewTime, '2026-01-01T00:00:00.000000Z');
  await clock.advance(10_000);
  assert.equal((api.objects.get(path) as { spec: { renewTime: string } }).spec.renewTime, microTime(Date.parse('2026-01-01T00:00:10Z')));
  // Someone else wrote the Lease: the update conflicts, the controller re-reads and succeeds.
  const cur = api.objects.get(path) as { metadata: { resourceVersion: string } };
  cur.metadata.resourceVersion = '999';
  await clock.advance(10_000);
  assert.equal((api.objects.get(path) as { spec: { renewTime: string } }).spec.renewTime, microTime(Date.parse('2026-01-01T00:00:20Z')));
  // Errors back off (200 ms first) instead of waiting a whole interval.
  api.failNext = 1;
  await clock.advance(10_000);
  await clock.advance(200);
  assert.equal((api.objects.get(path) as { spec: { renewTime: string } }).spec.renewTime, microTime(Date.parse('2026-01-01T00:00:30.200Z')));
  lease.stop();
});

test('statusChanged ignores heartbeat times only', () => {
  const base = { capacity: { cpu: '1' }, allocatable: { cpu: '1' }, addresses: [], daemonEndpoints: { kubeletEndpoint: { Port: 1 } }, nodeInfo: {} as never };
  const c = (hb: string, status: 'True' | 'False'): never[] => [{ type: 'Ready', status, reason: '', message: '', lastHeartbeatTime: hb, lastTransitionTime: 'x' }] as never[];
  assert.equal(statusChanged({ ...base, conditions: c('1', 'True') }, { ...base, conditions: c('2', 'True') }), false);
  assert.equal(statusChanged({ ...base, conditions: c('1', 'True') }, { ...base, conditions: c('1', 'False') }), true);
  assert.equal(statusChanged({ ...base, conditions: c('1', 'True') }, { ...base, capacity: { cpu: '2' }, conditions: c('1', 'True') }), true);
});

test('TLS bootstrap CSR: the node identity, a valid self-signature, and a key that matches', async () => {
  const { nodeCsr } = await import('./bootstrap.js');
  const asn1js = await import('asn1js');
  const { createPublicKey, createPrivateKey, verify } = await import('node:crypto');
  const { csrPem, keyPem } = nodeCsr('n1');
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const csr = asn1js.fromBER(new Uint8Array(der).buffer).result as InstanceType<typeof asn1js.Sequence>;
  const [info, , sig] = csr.valueBlock.value as [InstanceType<typeof asn1js.Sequence>, unknown, InstanceType<typeof asn1js.BitString>];
  const [, subject, spki] = info.valueBlock.value as [unknown, InstanceType<typeof asn1js.Sequence>, InstanceType<typeof asn1js.Sequence>];
  const pub = createPublicKey({ key: Buffer.from(spki.toBER(false)), format: 'der', type: 'spki' });
  assert.ok(verify('sha256', Buffer.from(info.toBER(false)), pub, Buffer.from(sig.valueBlock.valueHexView)));
  const names = (subject.valueBlock.value as InstanceType<typeof asn1js.Set>[]).map((rdn) => {
    const atv = rdn.valueBlock.value[0] as InstanceType<typeof asn1js.Sequence>;
    return (atv.valueBlock.value[1] as InstanceType<typeof asn1js.Utf8String>).valueBlock.value;
  });
  assert.deepEqual(names, ['system:nodes', 'system:node:n1']);
  assert.equal(createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('hex'), pub.export({ type: 'spki', format: 'der' }).toString('hex'));
});

test('the Node\'s capacity and allocatable are the container manager\'s (one computation with admission): reservedSystemCPUs, reservations, hard eviction, hugepages, devices', async () => {
  const { ContainerManager } = await import('../cm/manager.js');
  const { defaultKubeletConfiguration } = await import('../config/kubeletconfig.js');
  const { containerManagerSource } = await import('./resources.js');
  const Gi = 1024 ** 3;
  const cm = new ContainerManager({
    config: { ...defaultKubeletConfiguration(), kubeReserved: { cpu: '1', memory: '1Gi' }, systemReserved: { cpu: '500m' }, reservedSystemCPUs: '0-1,3' },
    machine: { cpus: [0, 1, 2, 3].map((cpu) => ({ cpu, core: cpu, socket: 0, numa: 0 })), numaNodes: [0], distances: { 0: [10] }, memoryPerNuma: { 0: 8 * Gi } },
    hugepagesPerNuma: { 0: { 'hugepages-2Mi': 512 * 1024 ** 2, 'hugepages-1Gi': 0 } },
    ephemeralStorageCapacity: 100 * Gi,
    devices: { name: 'devices', resources: () => ({ 'example.com/gpu': { capacity: 2, allocatable: 1 } }), getTopologyHints: () => null, getPodTopologyHints: () => null, allocate: () => {}, removeContainer: () => {} },
  });
  const r = containerManagerSource(cm).resources({ capacity: {}, allocatable: {} });
  assert.deepEqual(r.capacity, { cpu: '4', memory: '8Gi', pods: '110', 'hugepages-2Mi': '512Mi', 'hugepages-1Gi': '0', 'ephemeral-storage': '100Gi', 'example.com/gpu': '2' });
  // cpu: 4 - the 3 reserved CPUs; memory: 8Gi - 1Gi - 100Mi (hard eviction) - 512Mi hugepages;
  // storage: - 10% taken as upstream does, of a float32 0.1 (100Gi x 0.100000001 = 10737418400 bytes)
  assert.deepEqual(r.allocatable, { cpu: '1', memory: `${8 * 1024 - 1024 - 100 - 512}Mi`, pods: '110', 'hugepages-2Mi': '512Mi', 'hugepages-1Gi': '0', 'ephemeral-storage': String(100 * Gi - 10737418400), 'example.com/gpu': '1' });
  // and admission checks against the same figures
  assert.deepEqual(cm.allocatable().cpu, 1);
});

test('flags: --bootstrap-kubeconfig, --node-ip, --node-labels', async () => {
  const { parseKubeletFlags, resolveSettings } = await import('../config/flags.js');
  const { flags } = parseKubeletFlags(['--kubeconfig=/k', '--bootstrap-kubeconfig', '/b', '--node-ip=10.0.0.5', '--node-labels=a=b', '--node-labels', 'c=d']);
  const s = resolveSettings(flags);
  assert.deepEqual([s.kubeconfig, s.bootstrapKubeconfig, s.nodeIp, s.nodeLabels], ['/k', '/b', '10.0.0.5', { a: 'b', c: 'd' }]);
  assert.throws(() => parseKubeletFlags(['--node-ip=nope']), /--node-ip: "nope" is not an IP address/);
  assert.throws(() => parseKubeletFlags(['--node-labels=x']), /--node-labels: "x" is not a valid key=value label/);
});

test('client certificate rotation: at 70-90 % of the lifetime, with a CSR of the node, swapping the current link; failures back off', async () => {
  const { mkdtempSync, readFileSync, realpathSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { X509Certificate } = await import('node:crypto');
  const { issueCert } = await import('../server/certs.js');
  const { CertRotator, installCert, CLIENT_CERT, KUBELET_CLIENT_SIGNER } = await import('./bootstrap.js');
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-rotate-'));
  try {
    const ca = await issueCert({ cn: 'test-ca', isCa: true, days: 30 });
    const first = await issueCert({ cn: 'system:node:n1', o: ['system:nodes'], client: true, issuer: ca, days: 10 });
    installCert(dir, CLIENT_CERT, first.cert, first.key);
    const next = await issueCert({ cn: 'system:node:n1', o: ['system:nodes'], client: true, issuer: ca, days: 10 });
    const csrs: { spec: { signerName: string; usages: string[]; request: string } }[] = [];
    let fail = 0;
    const api: RestClient = {
      server: 'https://fake',
      get: <T>() => Promise.resolve({ metadata: { name: 'csr-1' }, status: { certificate: Buffer.from(next.cert).toString('base64') } } as T),
      create: <T>(_p: string, body: unknown) => {
        if (fail-- > 0) return Promise.reject(new ApiError(500, 'InternalError', 'injected'));
        csrs.push(body as (typeof csrs)[number]);
        return Promise.resolve({ metadata: { name: 'csr-1' } } as T);
      },
      update: () => Promise.reject(new Error('unused')),
      patch: () => Promise.reject(new Error('unused')),
      delete: () => Promise.reject(new Error('unused')),
      watch: () => ({ done: Promise.resolve(), abort: () => undefined }),
    };
    const x = new X509Certificate(first.cert);
    const from = Date.parse(x.validFrom);
    const life = Date.parse(x.validTo) - from;
    const clock = new FakeClock(from);
    const r = new CertRotator({ nodeName: 'n1', pkiDir: dir, api, clock, random: () => 0 });
    assert.equal(r.deadline(), from + life * 0.7);
    fail = 1;
    r.start();
    await clock.advance(life * 0.7 - 1000);
    assert.equal(csrs.length, 0, 'not before 70 %');
    await clock.advance(1000);
    assert.equal(r.rotations, 0, 'the first attempt failed');
    await clock.advance(1000);
    assert.equal(r.rotations, 1, 'retried after 1 s');
    assert.equal(csrs[0]!.spec.signerName, KUBELET_CLIENT_SIGNER);
    assert.deepEqual(csrs[0]!.spec.usages, ['digital signature', 'client auth']);
    assert.match(Buffer.from(csrs[0]!.spec.request, 'base64').toString(), /BEGIN CERTIFICATE REQUEST/);
    const current = readFileSync(join(dir, 'kubelet-client-current.pem'), 'utf8');
    assert.ok(current.startsWith(next.cert.trimEnd()), 'the link points at the new certificate');
    assert.match(current, /BEGIN PRIVATE KEY/);
    assert.notEqual(realpathSync(join(dir, 'kubelet-client-current.pem')), join(dir, 'kubelet-client-current.pem'));
    r.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serving certificate (serverTLSBootstrap): requested at once when none is there, for the node\'s names, handed to the server; stop ends a wait for approval', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { issueCert } = await import('../server/certs.js');
  const { CertRotator, SERVING_CERT, KUBELET_SERVING_SIGNER } = await import('./bootstrap.js');
  const { servingNames } = await import('./serving.js');
  const { parseCsr } = await import('../../cluster/approver.js');
  assert.deepEqual(servingNames([{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'Hostname', address: 'n1' }, { type: 'ExternalIP', address: '10.0.0.5' }]), { dns: ['n1'], ips: ['10.0.0.5'] });
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-serving-'));
  try {
    const ca = await issueCert({ cn: 'test-ca', isCa: true, days: 30 });
    const issued = await issueCert({ cn: 'system:node:n1', o: ['system:nodes'], issuer: ca, days: 10, ips: ['10.0.0.5'] });
    const csrs: { spec: { signerName: string; usages: string[]; request: string } }[] = [];
    let approved = false;
    const api: RestClient = {
      server: 'https://fake',
      get: <T>() => Promise.resolve({ metadata: { name: 'csr-1' }, status: approved ? { certificate: Buffer.from(issued.cert).toString('base64') } : {} } as T),
      create: <T>(_p: string, body: unknown) => {
        csrs.push(body as (typeof csrs)[number]);
        return Promise.resolve({ metadata: { name: 'csr-1' } } as T);
      },
      update: () => Promise.reject(new Error('unused')),
      patch: () => Promise.reject(new Error('unused')),
      delete: () => Promise.reject(new Error('unused')),
      watch: () => ({ done: Promise.resolve(), abort: () => undefined }),
    };
    const handed: string[] = [];
    const r = new CertRotator({ nodeName: 'n1', pkiDir: join(dir, 'pki'), api, kind: SERVING_CERT, names: () => ({ dns: ['n1'], ips: ['10.0.0.5'] }), onRotated: (p) => handed.push(p.cert) });
    assert.equal(r.current(), undefined);
    r.start();
    await waitFor(() => csrs.length === 1, { what: 'the serving CSR', timeoutMs: 5000, intervalMs: 10 });
    assert.equal(csrs[0]!.spec.signerName, KUBELET_SERVING_SIGNER);
    assert.deepEqual(csrs[0]!.spec.usages, ['digital signature', 'server auth']);
    const p = parseCsr(Buffer.from(csrs[0]!.spec.request, 'base64').toString());
    assert.deepEqual(p.names, [{ type: 'dns', value: 'n1' }, { type: 'ip', value: '10.0.0.5' }]);
    approved = true;
    await waitFor(() => handed.length === 1, { what: 'the issued certificate handed over', timeoutMs: 5000, intervalMs: 10 });
    assert.equal(r.current()?.cert.trim(), issued.cert.trim());
    assert.match(r.current()!.key, /BEGIN PRIVATE KEY/);
    r.stop();
    // a second rotator with no certificate waits for approval; stop() ends that wait at once
    approved = false;
    const r2 = new CertRotator({ nodeName: 'n1', pkiDir: join(dir, 'pki2'), api, kind: SERVING_CERT, names: () => ({ dns: ['n1'], ips: [] }) });
    r2.start();
    await waitFor(() => csrs.length === 2, { what: 'the second CSR', timeoutMs: 5000, intervalMs: 10 });
    r2.stop();
    assert.equal(r2.rotations, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
