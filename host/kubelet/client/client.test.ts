// The kubeconfig reader and the JSON / watch client against an in-process node:http server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadKubeconfig, parseKubeconfig } from './kubeconfig.js';
import { ApiError, restClient } from './rest.js';
import { httpStatusOf } from '../sources/reflector.js';

const config = (user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://api.example:6443/' }): string =>
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }, { name: 'other', context: { cluster: 'nope', user: 'u' } }],
    'current-context': 'x',
  });

test('kubeconfig: relative credential files resolve against its folder; data wins over files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-kc-'));
  try {
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    writeFileSync(join(dir, 'node.pem'), 'CERT+KEY');
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, config({ 'client-certificate': 'node.pem', 'client-key': 'node.pem' }, { server: 'https://api.example:6443/', 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' }));
    const kc = loadKubeconfig(path);
    assert.equal(kc.cluster.server, 'https://api.example:6443');
    assert.equal(kc.cluster.caFile, join(dir, 'ca.crt'));
    assert.equal(kc.user.certFile, join(dir, 'node.pem'));
    const c = kc.connection();
    assert.equal(c.ca?.toString(), 'CA');
    assert.equal(c.cert?.toString(), 'CERT+KEY');
    assert.equal(c.servername, 'kubernetes');
    assert.equal(c.rejectUnauthorized, true);
    assert.deepEqual(c.headers, {});
    // A rotated certificate (new content, new mtime) is read on the next connection.
    writeFileSync(join(dir, 'node.pem'), 'NEW');
    utimesSync(join(dir, 'node.pem'), new Date(), new Date(Date.now() + 5000));
    assert.equal(kc.connection().cert?.toString(), 'NEW');
    const data = parseKubeconfig(config({ 'client-certificate-data': Buffer.from('D').toString('base64'), 'client-key-data': Buffer.from('K').toString('base64') }, { server: 'https://a', 'certificate-authority-data': Buffer.from('C').toString('base64'), 'insecure-skip-tls-verify': true }));
    const dc = data.connection();
    assert.deepEqual([dc.ca?.toString(), dc.cert?.toString(), dc.key?.toString(), dc.rejectUnauthorized], ['C', 'D', 'K', false]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kubeconfig: a file loaded again gives the same settings; rewritten (bootstrap, rotation) it is read anew', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-kc-'));
  try {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, config({ 'client-certificate': 'a.pem', 'client-key': 'a.pem' }));
    const first = loadKubeconfig(path);
    const again = loadKubeconfig(path);
    assert.notEqual(again, first, 'a new Kubeconfig (its credential file cache is its own)');
    assert.deepEqual([again.cluster, again.user], [first.cluster, first.user]);
    writeFileSync(path, config({ 'client-certificate': 'b.pem', 'client-key': 'b.pem' }, { server: 'https://other:6443' }));
    const changed = loadKubeconfig(path);
    assert.equal(changed.cluster.server, 'https://other:6443');
    assert.equal(changed.user.certFile, join(dir, 'b.pem'));
    assert.equal(first.user.certFile, join(dir, 'a.pem'), 'what was loaded before is left as it was');
    writeFileSync(path, 'a: [');
    assert.throws(() => loadKubeconfig(path), /not YAML/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const bad: { name: string; text: string; code: string; match: RegExp }[] = [
  { name: 'not YAML', text: 'a: [', code: 'COCOLET_CONFIG_INVALID', match: /not YAML/ },
  { name: 'no current-context', text: stringify({ clusters: [] }), code: 'COCOLET_CONFIG_INVALID', match: /no current-context/ },
  { name: 'context names a missing cluster', text: config({}).replace('current-context: x', 'current-context: other'), code: 'COCOLET_CONFIG_INVALID', match: /cluster nope/ },
  { name: 'cluster without server', text: config({}, { 'certificate-authority': '/x' }), code: 'COCOLET_CONFIG_INVALID', match: /has no server/ },
];
for (const tc of bad) {
  test(`kubeconfig refused: ${tc.name}`, () => {
    assert.throws(() => parseKubeconfig(tc.text, '/etc/k.conf'), (e: Error & { code?: string }) => e.code === tc.code && tc.match.test(e.message) && e.message.includes('/etc/k.conf'));
  });
}

test('kubeconfig: a token is a bearer header; exec credentials are refused naming the user, never the token', () => {
  assert.equal(parseKubeconfig(config({ token: 's3cret' })).connection().headers.Authorization, 'Bearer s3cret');
  const kc = parseKubeconfig(config({ exec: { command: 'get-token' } }));
  assert.throws(() => kc.connection(), /user u uses exec credentials/);
});

test('rest client: JSON calls, Status errors with the HTTP code, watch events until the server ends, abort', async () => {
  const watchers: ServerResponse[] = [];
  const seen: { method: string; url: string; auth?: string; type?: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body });
      const url = new URL(req.url!, 'http://x');
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/api/v1/gone') {
        res.statusCode = 410;
        return res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 1 (5)' }));
      }
      if (url.searchParams.get('watch') === 'true') {
        res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } })}\n${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }).slice(0, 20)}`);
        setTimeout(() => res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }).slice(20)}\n`), 20);
        if (url.searchParams.get('fieldSelector') === 'end') setTimeout(() => res.end(), 60);
        else watchers.push(res);
        return;
      }
      res.end(JSON.stringify({ ok: true, path: url.pathname }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const api = restClient(parseKubeconfig(config({ token: 't' }, { server: `http://127.0.0.1:${port}` })));
    assert.deepEqual(await api.patch('/api/v1/x', { a: 1 }, 'strategic'), { ok: true, path: '/api/v1/x' });
    assert.equal(seen[0]!.type, 'application/strategic-merge-patch+json');
    assert.equal(seen[0]!.auth, 'Bearer t');
    const err = await api.get('/api/v1/gone').catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(httpStatusOf(err), 410);
    assert.match(err.message, /GET \/api\/v1\/gone: 410 too old resource version/);
    const events: [string, unknown][] = [];
    const ended = api.watch('/api/v1/pods', { fieldSelector: 'end', resourceVersion: '5' }, (t, o) => events.push([t, o]));
    await ended.done;
    assert.deepEqual(events.map((e) => e[0]), ['ADDED', 'BOOKMARK'], 'an event split over two chunks is one event');
    const gone = api.watch('/api/v1/gone', {}, () => undefined);
    assert.equal(httpStatusOf(await gone.done.catch((e: unknown) => e)), 410);
    const open = api.watch('/api/v1/pods', { fieldSelector: 'stay' }, () => undefined);
    while (watchers.length === 0) await new Promise((r) => setTimeout(r, 10));
    open.abort();
    await open.done; // an aborted watch ends cleanly
    assert.match(seen.find((s) => s.url.includes('stay'))!.url, /watch=true/);
  } finally {
    for (const w of watchers) w.destroy();
    server.closeAllConnections();
    server.close();
  }
});
