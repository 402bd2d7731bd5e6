import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { PodRecord } from '../status/manager.js';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../../shared/log/logger.js';
import { defaultKubeletConfiguration, durationMs, type KubeletConfiguration } from '../config/kubeletconfig.js';
import { parseKubeletFlags, resolveSettings } from '../config/flags.js';
import { newFakeNode } from '../testing.js';
import { issueCert, localClientPki, type Pem } from './certs.js';
import { serveKubeApi, serverSettings, type KubeApiOptions, type KubeApiServer } from './kubeapi.js';

const dir = mkdtempSync(join(tmpdir(), 'ccl-kubeapi-'));
const servers: KubeApiServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const pod: PodRecord = {
  pod: { metadata: { name: 'web-n1', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } } as PodRecord['pod'],
  status: { phase: 'Running', conditions: [], containerStatuses: [] },
};
const logDir = join(dir, 'logs', 'default_web-n1_u1', 'app');
mkdirSync(logDir, { recursive: true });
writeFileSync(join(logDir, '0.log'), '2026-01-01T00:00:00Z stdout F first-run\n');
writeFileSync(join(logDir, '1.log'), ['a', 'b', 'c'].map((l, i) => `2026-01-01T00:01:0${i}Z stdout F ${l}`).join('\n') + '\n');

let ca: Pem;
let client: Pem;

async function serve(o: Partial<KubeApiOptions> = {}): Promise<KubeApiServer> {
  const s = await serveKubeApi({
    address: '127.0.0.1',
    port: 0,
    anonymous: false,
    webhookAuthn: true,
    authzMode: 'AlwaysAllow',
    nodeName: 'n1',
    rootDir: join(dir, 'root'),
    checks: [{ name: 'pleg', check: () => ({ ok: true, message: '' }) }],
    registry: new Registry(),
    pods: () => [pod],
    podLogsDir: join(dir, 'logs'),
    ...o,
  });
  servers.push(s);
  return s;
}

function get(s: KubeApiServer, path: string, o: { cert?: Pem; token?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: s.port,
        path,
        ca: readFileSync(s.certFile),
        servername: 'localhost',
        ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}),
        ...(o.token ? { headers: { authorization: `Bearer ${o.token}` } } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('server settings: v1beta1 defaults, off with port 0 or enableServer false, bad mode named', () => {
  const c = defaultKubeletConfiguration();
  assert.deepEqual(serverSettings(c, durationMs), { address: '0.0.0.0', port: 10250, anonymous: false, webhookAuthn: true, authzMode: 'Webhook' });
  assert.equal(serverSettings({ ...c, port: 0 }, durationMs), undefined);
  assert.equal(serverSettings({ ...c, enableServer: false }, durationMs), undefined);
  const s = serverSettings(
    { ...c, address: '127.0.0.1', port: 1234, authentication: { x509: { clientCAFile: '/ca' }, anonymous: { enabled: true }, webhook: { cacheTTL: '30s' } }, authorization: { mode: 'AlwaysAllow', webhook: { cacheAuthorizedTTL: '1m' } } },
    durationMs,
  );
  assert.deepEqual(s, { address: '127.0.0.1', port: 1234, clientCAFile: '/ca', anonymous: true, webhookAuthn: true, tokenCacheTtlMs: 30_000, authzMode: 'AlwaysAllow', authorizedTtlMs: 60_000 });
  assert.throws(() => serverSettings({ ...c, authorization: { mode: 'RBAC' } }, durationMs), /authorization\.mode: must be AlwaysAllow or Webhook/);
});

test('x509: CA-signed client certificate is admitted, none or a foreign one is 401', async () => {
  ca = await issueCert({ cn: 'test-ca', isCa: true });
  client = await issueCert({ cn: 'alice', o: ['ops'], client: true, issuer: ca });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.cert);
  const s = await serve({ clientCAFile: caFile });
  const keyStat = statSync(join(dir, 'root', 'pki', 'kubelet.key'));
  assert.equal(keyStat.mode & 0o777, 0o600, 'generated key is private');
  const ok = await get(s, '/pods', { cert: client });
  assert.equal(ok.status, 200);
  assert.deepEqual((JSON.parse(ok.body) as { items: { metadata: { name: string } }[] }).items.map((p) => p.metadata.name), ['web-n1']);
  const none = await get(s, '/pods');
  assert.equal(none.status, 401);
  assert.match(none.body, /^Unauthorized: no client certificate or bearer token, and authentication\.anonymous\.enabled is false/);
  const otherCa = await issueCert({ cn: 'other-ca', isCa: true });
  const foreign = await get(s, '/pods', { cert: await issueCert({ cn: 'mallory', client: true, issuer: otherCa }) });
  assert.equal(foreign.status, 401);
  assert.match(foreign.body, /not verified against authentication\.x509\.clientCAFile/);
  const token = await get(s, '/pods', { token: 'abc.def' });
  assert.equal(token.status, 401);
  assert.match(token.body, /no API server is configured/);
  assert.doesNotMatch(token.body, /abc\.def/);
});

test('the generated serving certificate is reused on the next start', async () => {
  const first = readFileSync(join(dir, 'root', 'pki', 'kubelet.crt'), 'utf8');
  const s = await serve({ anonymous: true });
  assert.equal(readFileSync(s.certFile, 'utf8'), first);
  assert.equal((await get(s, '/healthz')).body, 'ok');
});

test('Webhook without an API server: 403 naming the mode and the missing API server', async () => {
  const logged: unknown[] = [];
  const logger = { warn: (...a: unknown[]) => logged.push(a), info: () => {}, debug: () => {}, error: () => {} } as unknown as KubeApiOptions['logger'];
  const s = await serve({ anonymous: true, authzMode: 'Webhook', logger });
  const r = await get(s, '/pods');
  assert.equal(r.status, 403);
  assert.match(r.body, /^Forbidden \(user=system:anonymous, verb=get, resource=nodes, subresource=pods\): authorization\.mode is Webhook but no API server is configured/);
  assert.equal(logged.filter((l) => /authorization\.mode is Webhook/.test(JSON.stringify(l))).length, 1, 'warned once at start');
});

test('endpoints: healthz, metrics, containerLogs with tail / timestamps / previous, errors', async () => {
  const reg = new Registry();
  const s = await serve({ anonymous: true, registry: reg, checks: [{ name: 'pleg', check: () => ({ ok: false, message: 'relist stuck' }) }] });
  const h = await get(s, '/healthz');
  assert.equal(h.status, 500);
  assert.match(h.body, /\[-\]pleg failed: relist stuck/);
  assert.equal((await get(s, '/metrics')).status, 200);
  assert.equal((await get(s, '/containerLogs/default/web-n1/app')).body, 'a\nb\nc\n');
  assert.equal((await get(s, '/containerLogs/default/web-n1/app?tailLines=1&timestamps=true')).body, '2026-01-01T00:01:02Z c\n');
  assert.equal((await get(s, '/containerLogs/default/web-n1/app?limitBytes=3')).body, 'a\nb');
  assert.equal((await get(s, '/containerLogs/default/web-n1/app?previous=true')).body, 'first-run\n');
  const noPod = await get(s, '/containerLogs/default/nope/app');
  assert.equal(noPod.status, 404);
  assert.match(noPod.body, /pod "default\/nope" not found/);
  const noC = await get(s, '/containerLogs/default/web-n1/db');
  assert.equal(noC.status, 400);
  assert.match(noC.body, /container "db" is not valid for pod "web-n1"/);
  const badQ = await get(s, '/containerLogs/default/web-n1/app?tailLines=-2');
  assert.equal(badQ.status, 400);
  assert.match(badQ.body, /tailLines/);
  assert.equal((await get(s, '/nothing')).status, 404);
  const sum = JSON.parse((await get(s, '/stats/summary')).body) as { node: { nodeName: string; cpu: { usageCoreNanoSeconds: number } }; pods: { podRef: { name: string } }[] };
  assert.equal(sum.node.nodeName, 'n1');
  assert.ok(sum.node.cpu.usageCoreNanoSeconds > 0);
  assert.deepEqual(sum.pods.map((p) => p.podRef.name), ['web-n1']);
});

test('flags: --address, --port, --tls-cert-file, --tls-private-key-file reach the server settings', () => {
  const { flags } = parseKubeletFlags(['--address=127.0.0.2', '--port', '1234', '--tls-cert-file=/c.crt', '--tls-private-key-file=/c.key']);
  const s = serverSettings(resolveSettings(flags).config, durationMs);
  assert.deepEqual([s?.address, s?.port, s?.tlsCertFile, s?.tlsPrivateKeyFile], ['127.0.0.2', 1234, '/c.crt', '/c.key']);
  assert.equal(serverSettings(resolveSettings(parseKubeletFlags(['--port=0']).flags).config, durationMs), undefined);
});

test('the kubelet serves its API when asked; a port in use is logged and the kubelet runs on', async () => {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
  const config: Partial<KubeletConfiguration> = { authentication: { anonymous: { enabled: true } }, authorization: { mode: 'AlwaysAllow' } };
  const n = await newFakeNode({ config, serverPort: 0 });
  try {
    assert.ok(n.kubelet.apiServer);
    const r = await get(n.kubelet.apiServer, '/pods');
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { kind: string }).kind, 'PodList');
  } finally {
    await n.dispose();
  }
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  const n2 = await newFakeNode({ config, serverPort: port, logger: createLogger({ component: 'kubelet', level: 'warn', destination }) });
  try {
    assert.equal(n2.kubelet.apiServer, undefined);
    const err = lines.map((l) => JSON.parse(l) as { level: string; msg: string; port?: number; err?: { message: string } }).find((l) => l.msg === 'kubelet API server not started');
    assert.equal(err?.level, 'error');
    assert.equal(err?.port, port);
    assert.match(err?.err?.message ?? '', /EADDRINUSE/);
  } finally {
    await n2.dispose();
    await new Promise<void>((r) => taken.close(() => r()));
  }
});

test('localClientPki: a CA and a client certificate it signed, generated once, keys private', async () => {
  const pkiDir = join(dir, 'pki');
  const p = await localClientPki(pkiDir);
  const caCert = new X509Certificate(readFileSync(p.caFile));
  const cert = new X509Certificate(readFileSync(p.certFile));
  assert.ok(cert.verify(caCert.publicKey));
  assert.match(cert.subject, /CN=cocolet-admin/);
  for (const f of [p.keyFile, join(pkiDir, 'ca.key')]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  const again = await localClientPki(pkiDir);
  assert.deepEqual(again, p);
  assert.equal(new X509Certificate(readFileSync(again.certFile)).fingerprint256, cert.fingerprint256);
});
