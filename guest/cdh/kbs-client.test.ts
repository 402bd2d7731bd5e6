/**
 * The KBS client's behaviour against a scripted broker on loopback (the real broker is in
 * e2e/cdh): the RCAR exchange and binding, one handshake shared by concurrent callers, renewal
 * before the token's exp, one re-attestation on a 401 for the session, no re-attestation on a
 * policy denial, bounded exponential backoff on 5xx and refused connections, HTTPS pinned to
 * init-data's certificate, and errors that name the resource and check but never the value.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { FlattenedEncrypt, SignJWT } from 'jose';
import { Harness } from '../../shared/testing/harness.js';
import { SampleAttester } from '../attester/sample.js';
import { CdhError, KbsClient, type KbsClientOptions, type RetryEvent } from './kbs-client.js';
import { bindingDigest, type TeePubKey } from './protocol.js';
import { parseResourceUri } from './resource-uri.js';

const SECRET = 'unit-secret-93b1';
const h = new Harness();

interface Script {
  /** Answers for the next requests to a path prefix, consumed in order; then the normal flow. */
  queue: { path: string; status: number; body?: unknown }[];
  tokenExpS: number;
  sessions: Map<string, TeePubKey>;
  auths: number;
  attests: number;
  gets: number;
  badBinding: number;
}

function newScript(): Script {
  return { queue: [], tokenExpS: 3600, sessions: new Map(), auths: 0, attests: 0, gets: 0, badBinding: 0 };
}

const ERR = 'https://github.com/confidential-containers/kbs/errors/';

async function handler(s: Script, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : undefined;
  const url = req.url ?? '';
  const send = (status: number, b: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(b === undefined ? undefined : JSON.stringify(b));
  };
  const q = s.queue.findIndex((e) => url.startsWith(e.path));
  if (q >= 0) {
    const [e] = s.queue.splice(q, 1);
    return send(e!.status, e!.body ?? { type: `${ERR}Internal`, detail: 'scripted' });
  }
  const cookie = /kbs-session-id=([0-9a-f]+)/.exec(req.headers.cookie ?? '')?.[1];
  if (url === '/kbs/v0/auth') {
    s.auths++;
    assert.equal(body?.version, '0.4.0');
    const id = randomBytes(8).toString('hex');
    const nonce = randomBytes(32).toString('base64');
    s.sessions.set(id, { nonce } as unknown as TeePubKey);
    return send(200, { nonce, 'extra-params': '' }, { 'set-cookie': `kbs-session-id=${id}; Expires=Thu, 01 Jan 2099 00:00:00 GMT` });
  }
  if (url === '/kbs/v0/attest') {
    s.attests++;
    const sess = cookie ? (s.sessions.get(cookie) as unknown as { nonce: string }) : undefined;
    const rd = body?.['runtime-data'] as { nonce: string; 'tee-pubkey': TeePubKey };
    const ev = (body?.['tee-evidence'] as { primary_evidence: { report_data: string } }).primary_evidence;
    const want = Buffer.from(bindingDigest(rd.nonce, rd['tee-pubkey'], '', 'sha384')).toString('base64');
    if (!sess || sess.nonce !== rd.nonce || ev.report_data !== want) {
      s.badBinding++;
      return send(401, { type: `${ERR}AttestationError`, detail: 'report_data does not bind the nonce and key' });
    }
    s.sessions.set(cookie!, rd['tee-pubkey']);
    const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(s.tokenExpS + Math.floor(Date.now() / 1000)).sign(Buffer.alloc(32));
    return send(200, { token });
  }
  if (url.startsWith('/kbs/v0/resource/')) {
    s.gets++;
    const key = cookie ? s.sessions.get(cookie) : undefined;
    if (!key || !('kty' in key)) return send(401, { type: `${ERR}TokenNotFound`, detail: 'Attestation Token not found' });
    if (url.endsWith('/missing')) return send(404, { type: `${ERR}InvalidRequestPath`, detail: 'no such resource' });
    if (url.includes('/denied/')) return send(401, { type: `${ERR}PolicyDeny`, detail: 'Access denied by policy' });
    const pub = createPublicKey({ key: key as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
    const jwe = await new FlattenedEncrypt(Buffer.from(SECRET)).setProtectedHeader({ alg: key.alg, enc: 'A256GCM' }).encrypt(pub);
    return send(200, jwe);
  }
  send(404, { type: `${ERR}InvalidRequestPath`, detail: url });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.defer('close broker', () => new Promise<void>((r) => server.close(() => r())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let s: Script;
let httpUrl = '';
let httpsUrl = '';
let caPem = '';
let otherCaPem = '';
const retries: RetryEvent[] = [];

function pki(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

before(async () => {
  s = newScript();
  httpUrl = `http://${await listen(createHttpServer((q, r) => void handler(s, q, r)))}`;
  const dir = h.tempDir();
  const tls = pki(dir, 'broker');
  caPem = tls.cert;
  otherCaPem = pki(dir, 'other').cert;
  httpsUrl = `https://${await listen(createHttpsServer({ cert: tls.cert, key: tls.key }, (q, r) => void handler(s, q, r)))}`;
});
after(() => h.dispose());

function client(o: Partial<KbsClientOptions> = {}): KbsClient {
  const c = new KbsClient({
    config: { url: httpUrl, source: 'cdh.toml' },
    attester: new SampleAttester(),
    retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 4 },
    onRetry: (e) => retries.push(e),
    ...o,
  });
  h.defer('client', () => c.close());
  return c;
}

const uri = (p: string) => parseResourceUri(`kbs:///${p}`);

test('RCAR over HTTPS pinned to the init-data certificate, EC and RSA TEE keys', async () => {
  for (const teeKeyType of ['EC', 'RSA'] as const) {
    const c = client({ config: { url: httpsUrl, cert: caPem, source: 'cdh.toml' }, teeKeyType });
    assert.equal((await c.getResource(uri('default/key/one'))).toString(), SECRET);
  }
});

test('a broker certificate other than init-data\'s is refused at once (no retries)', async () => {
  retries.length = 0;
  const c = client({ config: { url: httpsUrl, cert: otherCaPem, source: 'cdh.toml' } });
  await assert.rejects(c.getResource(uri('default/key/one')), (e: CdhError) => e.check === 'kbs.tls' && e.code === 'COCOLET_UNAUTHENTICATED');
  assert.equal(retries.length, 0);
});

test('concurrent callers share one handshake; the session is reused', async () => {
  const before = { auths: s.auths, attests: s.attests };
  const c = client();
  const got = await Promise.all([1, 2, 3, 4].map(() => c.getResource(uri('default/key/one'))));
  assert.deepEqual(got.map(String), [SECRET, SECRET, SECRET, SECRET]);
  await c.getResource(uri('default/key/two'));
  assert.deepEqual({ auths: s.auths - before.auths, attests: s.attests - before.attests }, { auths: 1, attests: 1 });
});

test('the session is renewed before the token expires', async () => {
  let now = Date.now();
  const c = client({ now: () => now });
  const before = s.attests;
  await c.getResource(uri('default/key/one'));
  now += 3600_000 - 10_000; // within the renewal margin of exp
  await c.getResource(uri('default/key/one'));
  assert.equal(s.attests - before, 2);
});

test('a 401 for the session re-attests once and retries the resource', async () => {
  const c = client();
  await c.getResource(uri('default/key/one'));
  const before = s.attests;
  s.queue.push({ path: '/kbs/v0/resource/', status: 401, body: { type: `${ERR}TokenNotFound`, detail: 'session expired' } });
  assert.equal((await c.getResource(uri('default/key/one'))).toString(), SECRET);
  assert.equal(s.attests - before, 1);
});

test('a policy denial is final: no re-attestation, the error names resource and check', async () => {
  const c = client();
  await c.getResource(uri('default/key/one'));
  const before = s.attests;
  await assert.rejects(c.getResource(uri('default/denied/x')), (e: CdhError) => e.check === 'kbs.policy-deny' && e.code === 'COCOLET_PERMISSION_DENIED' && e.message.startsWith('kbs:///default/denied/x:') && e.context.resource === 'kbs:///default/denied/x');
  assert.equal(s.attests, before);
});

test('unknown resource: not found', async () => {
  await assert.rejects(client().getResource(uri('default/key/missing')), (e: CdhError) => e.check === 'kbs.not-found' && e.code === 'COCOLET_NOT_FOUND');
});

test('attestation refused: the broker\'s reason, and no secret', async () => {
  const bad = new SampleAttester();
  bad.evidence = () => Promise.resolve({ svn: '1', report_data: Buffer.alloc(48).toString('base64') });
  await assert.rejects(client({ attester: bad }).getResource(uri('default/key/one')), (e: CdhError) => e.check === 'kbs.attestation-refused' && /AttestationError: report_data does not bind/.test(e.message));
});

test('5xx answers are retried with exponential backoff, then succeed', async () => {
  retries.length = 0;
  s.queue.push({ path: '/kbs/v0/auth', status: 503 }, { path: '/kbs/v0/auth', status: 502 });
  assert.equal((await client({ retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 1000 } }).getResource(uri('default/key/one'))).toString(), SECRET);
  assert.deepEqual(retries.map((r) => [r.what, r.attempt, r.delayMs, r.reason]), [['attestation', 1, 10, 'HTTP 503'], ['attestation', 2, 20, 'HTTP 502']]);
});

test('a 5xx on attest retries the whole handshake with a fresh challenge (nonces are single-use)', async () => {
  retries.length = 0;
  const before = s.auths;
  s.queue.push({ path: '/kbs/v0/attest', status: 500 });
  assert.equal((await client().getResource(uri('default/key/one'))).toString(), SECRET);
  assert.equal(s.auths - before, 2);
  assert.deepEqual(retries.map((r) => [r.what, r.reason]), [['attestation', 'HTTP 500']]);
});

test('broker down: bounded backoff, then an error naming the resource, the broker and the attempts', async () => {
  retries.length = 0;
  const dead = createHttpServer();
  const port = (await listen(dead)).split(':')[1];
  await new Promise<void>((r) => dead.close(() => r()));
  const slept: number[] = [];
  const c = client({ config: { url: `http://127.0.0.1:${port}`, source: 'cdh.toml' }, retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 300 }, sleep: (ms) => (slept.push(ms), Promise.resolve()) });
  await assert.rejects(c.getResource(uri('default/key/one')), (e: CdhError) => e.check === 'kbs.unavailable' && e.code === 'COCOLET_UNAVAILABLE' && /did not answer after 5 attempts \(last: ECONNREFUSED\)/.test(e.message));
  assert.deepEqual(slept, [100, 200, 300, 300]);
  assert.deepEqual(retries.map((r) => r.reason), ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
});

test('no error or retry event carries the secret', () => {
  assert.equal(JSON.stringify(retries).includes(SECRET), false);
});
