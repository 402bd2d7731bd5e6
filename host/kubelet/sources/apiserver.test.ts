// The API source and pod status / mirror pods against an in-process
// fake API server (plain node:http speaking the few REST paths the kubelet uses).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parseKubeconfig } from '../client/kubeconfig.js';
import { restClient, type RestClient } from '../client/rest.js';
import { waitFor } from '../../../shared/testing/harness.js';
import type { Pod } from '../api/types.js';
import { ApiPodSource } from './apipods.js';
import { kubeClient } from './apiclient.js';
import { MirrorPods } from './mirror.js';
import { ApiStatusWriter } from '../status/apistatus.js';

interface Call {
  method: string;
  path: string;
  body?: unknown;
  contentType?: string;
}

const calls: Call[] = [];
const nodes = new Map<string, unknown>();
const leases = new Map<string, { metadata: { name: string; resourceVersion?: string }; spec: Record<string, unknown> }>();
const watchers: ServerResponse[] = [];
const mkPod = (name: string, node: string, uid: string): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid, resourceVersion: '5' },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'i:1' }] },
});
let server: Server;
let kubeconfigText = '';
let api: RestClient;

function body(req: IncomingMessage): Promise<unknown> {
  return new Promise((r) => {
    let s = '';
    req.on('data', (d: Buffer) => (s += d.toString()));
    req.on('end', () => r(s ? JSON.parse(s) : undefined));
  });
}

function send(res: ServerResponse, code: number, obj: unknown): void {
  res.statusCode = code;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(obj));
}

before(async () => {
  server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://x');
      const b = await body(req);
      calls.push({ method: req.method!, path: url.pathname, body: b, contentType: req.headers['content-type'] });
      const notFound = (): void => send(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      const p = url.pathname;
      if (p === '/api/v1/pods' && url.searchParams.get('watch')) {
        assert.equal(url.searchParams.get('fieldSelector'), 'spec.nodeName=node1');
        res.setHeader('content-type', 'application/json');
        res.write('');
        watchers.push(res);
        return;
      }
      if (p === '/api/v1/pods') {
        return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [mkPod('a', 'node1', 'ua')] });
      }
      const node = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(p);
      if (node && req.method === 'GET') return nodes.has(node[1]!) ? send(res, 200, nodes.get(node[1]!)) : notFound();
      if (p === '/api/v1/nodes' && req.method === 'POST') {
        const n = b as { metadata: { name: string } };
        nodes.set(n.metadata.name, n);
        return send(res, 201, n);
      }
      if (node && node[2] && req.method === 'PATCH') return send(res, 200, nodes.get(node[1]!) ?? {});
      const lease = /^\/apis\/coordination.k8s.io\/v1\/namespaces\/kube-node-lease\/leases(?:\/([^/]+))?$/.exec(p);
      if (lease) {
        if (req.method === 'GET') return leases.has(lease[1]!) ? send(res, 200, leases.get(lease[1]!)) : notFound();
        const l = b as { metadata: { name: string }; spec: Record<string, unknown> };
        leases.set(l.metadata.name, { ...l, metadata: { ...l.metadata, resourceVersion: String(calls.length) } });
        return send(res, req.method === 'POST' ? 201 : 200, leases.get(l.metadata.name));
      }
      if (/^\/api\/v1\/namespaces\/[^/]+\/pods$/.test(p) && req.method === 'POST') {
        const m = b as { metadata: Record<string, unknown> };
        return send(res, 201, { ...m, metadata: { ...m.metadata, uid: `m-${calls.length}` } });
      }
      if (/^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+$/.test(p) && req.method === 'DELETE') return send(res, 200, { kind: 'Status', status: 'Success' });
      if (/^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/status$/.test(p) && req.method === 'PATCH') return send(res, 200, mkPod('x', 'node1', 'ux'));
      notFound();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  kubeconfigText = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 'fake-token' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
  api = restClient(parseKubeconfig(kubeconfigText));
});

after(() => {
  for (const w of watchers) w.destroy();
  server.closeAllConnections();
  server.close();
});

test('api source: lists pods bound to the node, then follows the watch', async () => {
  const snaps: string[][] = [];
  const src = new ApiPodSource({ api, nodeName: 'node1', onSnapshot: (p: Pod[]) => snaps.push(p.map((x) => x.metadata.name).sort()) });
  src.start();
  try {
    await waitFor(() => watchers.length === 1, { what: 'watch opened', timeoutMs: 10_000 });
    assert.deepEqual(snaps[0], ['a']);
    const w = watchers[0]!;
    w.write(`${JSON.stringify({ type: 'ADDED', object: mkPod('b', 'node1', 'ub') })}\n`);
    await waitFor(() => snaps.at(-1)?.join() === 'a,b', { what: 'added pod', timeoutMs: 10_000 });
    w.write(`${JSON.stringify({ type: 'DELETED', object: mkPod('a', 'node1', 'ua') })}\n`);
    await waitFor(() => snaps.at(-1)?.join() === 'b', { what: 'deleted pod', timeoutMs: 10_000 });
    const watchCall = calls.find((c) => c.path === '/api/v1/pods' && c.method === 'GET');
    assert.ok(watchCall);
  } finally {
    src.stop();
  }
});

test('status writer: static pods get a mirror pod, then a strategic-merge-patched status', async () => {
  const client = kubeClient(api);
  const pod: Pod = {
    metadata: { name: 's-node1', namespace: 'default', uid: 'h1', annotations: { 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': 'h1' } },
    spec: { containers: [{ name: 'c', image: 'i:1' }] },
  };
  if (!nodes.has('node1')) nodes.set('node1', { metadata: { name: 'node1', uid: 'n1' } });
  const mirrors = new MirrorPods({ api: client, nodeName: 'node1', staticPods: () => [pod], onMirror: (uid) => w.kick(uid) });
  const w = new ApiStatusWriter({ api: client, mirrorOf: (p) => mirrors.mirrorOf(p) });
  try {
    w.update('h1', { pod, status: { phase: 'Running', conditions: [], containerStatuses: [] } });
    mirrors.kick();
    await mirrors.idle();
    await waitFor(() => calls.some((c) => c.method === 'PATCH' && c.path === '/api/v1/namespaces/default/pods/s-node1/status'), { what: 'mirror status', timeoutMs: 10_000 });
    w.update('h1', { pod, status: { phase: 'Running', conditions: [], containerStatuses: [] } });
    await w.idle();
    const created = calls.filter((c) => c.method === 'POST' && c.path === '/api/v1/namespaces/default/pods');
    assert.equal(created.length, 1);
    const m = created[0]!.body as { metadata: { annotations: Record<string, string>; ownerReferences: { kind: string; name: string }[] } };
    assert.equal(m.metadata.annotations['kubernetes.io/config.mirror'], 'h1');
    assert.equal(m.metadata.ownerReferences[0]!.kind, 'Node');
    const patches = calls.filter((c) => c.method === 'PATCH' && c.path === '/api/v1/namespaces/default/pods/s-node1/status');
    assert.equal(patches.length, 1, 'an unchanged status is not written again');
    assert.equal(patches[0]!.contentType, 'application/strategic-merge-patch+json');
    const body = patches[0]!.body as { metadata: { uid: string }; status: { phase: string } };
    assert.equal(body.status.phase, 'Running');
    assert.match(body.metadata.uid, /^m-/, 'the patch carries the mirror pod uid as precondition');
  } finally {
    w.stop();
    mirrors.stop();
  }
});

test('a kubelet with --kubeconfig runs the pods the API binds to its node and patches their status', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { FakeCri } = await import('../../cri/fake.js');
  const { Kubelet } = await import('../kubelet.js');
  const { defaultKubeletConfiguration } = await import('../config/kubeletconfig.js');
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-api-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigText);
  const cri = new FakeCri({ images: ['i:1'] });
  const k = new Kubelet({
    settings: { config: { ...defaultKubeletConfiguration(), podLogsDir: join(dir, 'logs') }, rootDir: dir, nodeName: 'node1', kubeconfig, runtimeClassHandlers: {} },
    cri,
    images: cri,
    statusFile: false,
    makeLogDirs: false,
  });
  const before = calls.length;
  await k.start();
  try {
    await waitFor(() => k.status.all().find((r) => r.pod.metadata.name === 'a')?.status.phase === 'Running', { what: 'api pod a Running', timeoutMs: 15_000 });
    await waitFor(
      () => calls.slice(before).some((c) => c.method === 'PATCH' && c.path === '/api/v1/namespaces/default/pods/a/status' && (c.body as { status: { phase: string } }).status.phase === 'Running'),
      { what: 'status patched', timeoutMs: 15_000 },
    );
    // The lease loop runs on its own timer: wait for its write rather than expect it by now.
    await waitFor(() => calls.slice(before).some((c) => c.method === 'PUT' || c.method === 'POST'), { what: 'lease renewed', timeoutMs: 15_000 });
    assert.equal(
      calls.slice(before).filter((c) => c.method === 'POST' && c.path === '/api/v1/namespaces/default/pods').length,
      0,
      'API pods get no mirror pod',
    );
    // Graceful deletion: the API marks the pod; the kubelet kills it, writes the final status and
    // deletes it with grace 0 and a uid precondition.
    const w = watchers.at(-1)!;
    const deleting = mkPod('a', 'node1', 'ua') as { metadata: Record<string, unknown> };
    deleting.metadata = { ...deleting.metadata, resourceVersion: '9', deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 3 };
    w.write(`${JSON.stringify({ type: 'MODIFIED', object: deleting })}\n`);
    await waitFor(() => calls.some((c) => c.method === 'DELETE' && c.path === '/api/v1/namespaces/default/pods/a'), { what: 'final delete', timeoutMs: 15_000 });
    const del = calls.find((c) => c.method === 'DELETE' && c.path === '/api/v1/namespaces/default/pods/a')!;
    assert.deepEqual(del.body, { gracePeriodSeconds: 0, preconditions: { uid: 'ua' } });
    const lastPatch = calls.filter((c) => c.method === 'PATCH' && c.path === '/api/v1/namespaces/default/pods/a/status').at(-1)!;
    assert.ok(calls.indexOf(lastPatch) < calls.indexOf(del), 'final status before the delete');
    assert.match((lastPatch.body as { status: { phase: string } }).status.phase, /^(Failed|Succeeded)$/);
    assert.equal(cri.containers.size, 0, 'containers stopped and removed');
  } finally {
    await k.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
