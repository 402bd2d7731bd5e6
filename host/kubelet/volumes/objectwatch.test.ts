// The ConfigMap / Secret watcher against an in-process fake API server (node:http).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { waitFor } from '../../../shared/testing/harness.js';
import type { Pod } from '../api/types.js';
import { parseKubeconfig } from '../client/kubeconfig.js';
import { restClient } from '../client/rest.js';
import type { ApiObjects } from './apivolumes.js';
import { ObjectWatcher, podObjectRefs } from './objectwatch.js';

const pod = (uid: string, spec: Partial<Pod['spec']>): Pod => ({ metadata: { name: uid, namespace: 'ns', uid }, spec: { containers: [{ name: 'c', image: 'i' }], ...spec } });

const refCases: { name: string; pod: Pod; want: string[] }[] = [
  { name: 'no references', pod: pod('a', {}), want: [] },
  {
    name: 'volumes and projected sources',
    pod: pod('a', {
      volumes: [
        { name: 'v1', configMap: { name: 'cm1' } },
        { name: 'v2', secret: { secretName: 's1' } },
        { name: 'v3', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt' } }, { secret: { name: 's2' } }, { serviceAccountToken: { path: 'token' } }] } },
      ] as Pod['spec']['volumes'],
    }),
    want: ['configmaps/cm1', 'secrets/s1', 'configmaps/kube-root-ca.crt', 'secrets/s2'],
  },
  {
    name: 'env and envFrom of init and app containers, deduplicated',
    pod: pod('a', {
      initContainers: [{ name: 'i', image: 'i', envFrom: [{ configMapRef: { name: 'cm1' } }, { secretRef: { name: 's1' } }] }],
      containers: [{ name: 'c', image: 'i', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cm1', key: 'k' } } }, { name: 'B', valueFrom: { secretKeyRef: { name: 's3', key: 'k' } } }, { name: 'C', value: 'x' }] }],
    }),
    want: ['configmaps/cm1', 'secrets/s1', 'secrets/s3'],
  },
];
for (const tc of refCases) {
  test(`podObjectRefs: ${tc.name}`, () => {
    assert.deepEqual(
      podObjectRefs(tc.pod).map((r) => `${r.kind}/${r.name}`),
      tc.want,
    );
  });
}

test('object watcher: one shared watch per object, reads from its store, pods told of a change, watch stopped with the last pod', async () => {
  const watches = new Map<string, ServerResponse>();
  const requests: string[] = [];
  let rv = 1;
  const cm = (): unknown => ({ metadata: { name: 'cm1', namespace: 'ns', resourceVersion: String(rv) }, data: { k: `v${rv}` } });
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(`${req.method} ${url.pathname}?${url.searchParams.get('fieldSelector') ?? ''}${url.searchParams.get('watch') ? ' watch' : ''}`);
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/api/v1/namespaces/ns/configmaps' && url.searchParams.get('fieldSelector') === 'metadata.name=cm1') {
      if (url.searchParams.get('watch')) {
        res.write('');
        watches.set('cm1', res);
        req.on('close', () => watches.delete('cm1'));
        return;
      }
      return res.end(JSON.stringify({ kind: 'ConfigMapList', metadata: { resourceVersion: String(rv) }, items: [cm()] }));
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const api = restClient(
    parseKubeconfig(JSON.stringify({ clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}` } }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' })),
  );
  const direct: string[] = [];
  const fallback: ApiObjects = {
    getConfigMap: (ns, name) => (direct.push(`${ns}/${name}`), Promise.resolve({ data: { k: 'direct' } })),
    getSecret: () => Promise.resolve(undefined),
    requestToken: () => Promise.reject(new Error('unused')),
  };
  const changed: string[][] = [];
  const w = new ObjectWatcher({ api, fallback, onChange: (uids) => changed.push([...uids].sort()) });
  try {
    const volumes = [{ name: 'v', configMap: { name: 'cm1' } }] as Pod['spec']['volumes'];
    w.registerPod(pod('p1', { volumes }));
    w.registerPod(pod('p2', { volumes }));
    assert.deepEqual([...w.watched()], [['configmaps/ns/cm1', { pods: 2, changes: 0 }]], 'one watch for both pods');
    await waitFor(() => watches.has('cm1'), { what: 'the watch of cm1', timeoutMs: 10_000 });
    assert.deepEqual(changed, [['p1', 'p2']], 'the first list tells the pods registered before it');
    assert.deepEqual(await w.getConfigMap('ns', 'cm1'), { data: { k: 'v1' } });
    assert.deepEqual(direct, [], 'served from the store, no GET');
    assert.deepEqual(await w.getConfigMap('ns', 'other'), { data: { k: 'direct' } }, 'not watched: read directly');

    rv = 2;
    watches.get('cm1')!.write(`${JSON.stringify({ type: 'MODIFIED', object: cm() })}\n`);
    await waitFor(() => changed.length === 2, { what: 'the change reported', timeoutMs: 10_000 });
    assert.deepEqual(changed[1], ['p1', 'p2']);
    assert.deepEqual(await w.getConfigMap('ns', 'cm1'), { data: { k: 'v2' } });
    watches.get('cm1')!.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } })}\n`);

    w.registerPod(pod('p1', {})); // p1 no longer refers to cm1
    assert.deepEqual([...w.watched()], [['configmaps/ns/cm1', { pods: 1, changes: 2 }]]);
    w.unregisterPod('p2');
    assert.deepEqual([...w.watched()], [], 'no pod refers to cm1: no watch');
    await waitFor(() => !watches.has('cm1'), { what: 'the watch connection closed', timeoutMs: 10_000 });
    assert.equal(changed.length, 2, 'a bookmark is no change');
    assert.ok(requests.every((r) => !r.includes('/configmaps/cm1')), 'never a GET of the object itself');
  } finally {
    w.stop();
    for (const r of watches.values()) r.destroy();
    server.closeAllConnections();
    server.close();
  }
});
