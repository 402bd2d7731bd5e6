import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANONYMOUS, Authorizer, authenticate, cachedTokenReviewer, requestAttributes, type AccessReviewer, type RequestAttributes, type UserInfo } from './auth.js';

const alice = { cn: 'alice', o: ['ops', 'dev'], verified: true };

test('a verified client certificate authenticates as CN with the O groups', async () => {
  const r = await authenticate({ cert: alice }, { anonymous: false });
  assert.deepEqual(r, { ok: true, user: { name: 'alice', groups: ['ops', 'dev', 'system:authenticated'] }, method: 'x509' });
});

test('an unverified certificate is refused with the verification error, even with anonymous on', async () => {
  const r = await authenticate({ cert: { ...alice, verified: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } }, { anonymous: true });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /clientCAFile: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
});

test('no credentials: anonymous when enabled, else 401 naming the setting', async () => {
  assert.deepEqual(await authenticate({}, { anonymous: true }), { ok: true, user: ANONYMOUS, method: 'anonymous' });
  const r = await authenticate({}, { anonymous: false });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /authentication\.anonymous\.enabled is false/);
});

test('bearer tokens go only through the token reviewer and never appear in the reason', async () => {
  const none = await authenticate({ authorization: 'Bearer s3cr3t' }, { anonymous: true, tokensUnavailable: 'no API server is configured (--kubeconfig)' });
  assert.equal(none.ok, false);
  assert.match(!none.ok ? none.reason : '', /cannot be verified: no API server/);
  assert.doesNotMatch(JSON.stringify(none), /s3cr3t/);
  const seen: string[] = [];
  const tokens = {
    review: (t: string): Promise<UserInfo | undefined> => {
      seen.push(t);
      return Promise.resolve(t === 'good' ? { name: 'bob', groups: ['g'] } : undefined);
    },
  };
  assert.deepEqual(await authenticate({ authorization: 'Bearer good' }, { anonymous: false, tokens }), { ok: true, user: { name: 'bob', groups: ['g'] }, method: 'token' });
  const bad = await authenticate({ authorization: 'bearer s3cr3t' }, { anonymous: true, tokens });
  assert.equal(bad.ok, false);
  assert.doesNotMatch(JSON.stringify(bad), /s3cr3t/);
  assert.deepEqual(seen, ['good', 's3cr3t']);
  const basic = await authenticate({ authorization: 'Basic eDp5' }, { anonymous: true, tokens });
  assert.match(!basic.ok ? basic.reason : '', /only Bearer/);
});

test('request attributes: verb from the method, subresource from the path, fine-grained before proxy', () => {
  const sub = (m: string, p: string): string[] => requestAttributes(m, p, 'n1').map((a) => `${a.verb} ${a.resource}/${a.subresource} ${a.name}`);
  assert.deepEqual(sub('GET', '/stats/summary'), ['get nodes/stats n1']);
  assert.deepEqual(sub('GET', '/metrics'), ['get nodes/metrics n1']);
  assert.deepEqual(sub('GET', '/metrics/cadvisor'), ['get nodes/metrics n1']);
  assert.deepEqual(sub('GET', '/logs/syslog'), ['get nodes/log n1']);
  assert.deepEqual(sub('POST', '/checkpoint/a/b/c'), ['create nodes/checkpoint n1']);
  assert.deepEqual(sub('GET', '/pods'), ['get nodes/pods n1', 'get nodes/proxy n1']);
  assert.deepEqual(sub('GET', '/healthz/syncloop'), ['get nodes/healthz n1', 'get nodes/proxy n1']);
  assert.deepEqual(sub('GET', '/containerLogs/ns/p/c'), ['get nodes/proxy n1']);
  assert.deepEqual(sub('DELETE', '/statsfoo'), ['delete nodes/proxy n1']);
  assert.deepEqual(sub('PUT', '/x'), ['update nodes/proxy n1']);
  assert.deepEqual(sub('PATCH', '/x'), ['patch nodes/proxy n1']);
});

test('AlwaysAllow allows; Webhook without an API server forbids, naming the mode and the missing API server', async () => {
  const attrs = requestAttributes('GET', '/pods', 'n1');
  assert.deepEqual(await new Authorizer({ mode: 'AlwaysAllow' }).authorize(ANONYMOUS, attrs), { allowed: true });
  const az = new Authorizer({ mode: 'Webhook' });
  assert.match(az.misconfigured ?? '', /Webhook.*no API server/);
  const r = await az.authorize(ANONYMOUS, attrs);
  assert.equal(r.allowed, false);
  assert.match(!r.allowed ? r.reason : '', /^Forbidden \(user=system:anonymous, verb=get, resource=nodes, subresource=pods\): authorization\.mode is Webhook but no API server/);
});

test('Webhook: any allowed attribute admits; answers are cached for their TTLs', async () => {
  let now = 0;
  const calls: string[] = [];
  const allow = new Set(['proxy']);
  const reviewer: AccessReviewer = {
    review: (_u: UserInfo, a: RequestAttributes) => {
      calls.push(a.subresource);
      return Promise.resolve({ allowed: allow.has(a.subresource), reason: allow.has(a.subresource) ? '' : `no rule for ${a.subresource}` });
    },
  };
  const az = new Authorizer({ mode: 'Webhook', reviewer, allowedTtlMs: 1000, deniedTtlMs: 100, now: () => now });
  assert.equal(az.misconfigured, undefined);
  const user = { name: 'alice', groups: ['ops'] };
  assert.deepEqual(await az.authorize(user, requestAttributes('GET', '/pods', 'n1')), { allowed: true });
  assert.deepEqual(calls, ['pods', 'proxy']);
  await az.authorize(user, requestAttributes('GET', '/pods', 'n1'));
  assert.deepEqual(calls, ['pods', 'proxy'], 'both answers cached');
  now = 500;
  await az.authorize(user, requestAttributes('GET', '/pods', 'n1'));
  assert.deepEqual(calls, ['pods', 'proxy', 'pods'], 'the denial expired, the allowance did not');
  const denied = await az.authorize(user, requestAttributes('GET', '/stats/summary', 'n1'));
  assert.equal(denied.allowed, false);
  assert.match(!denied.allowed ? denied.reason : '', /subresource=stats\): no rule for stats/);
});

test('Webhook: a failing SubjectAccessReview forbids with the error and is not cached', async () => {
  let fail = true;
  const reviewer: AccessReviewer = { review: () => (fail ? Promise.reject(new Error('connection refused')) : Promise.resolve({ allowed: true, reason: '' })) };
  const az = new Authorizer({ mode: 'Webhook', reviewer });
  const r = await az.authorize(ANONYMOUS, requestAttributes('GET', '/metrics', 'n1'));
  assert.match(!r.allowed ? r.reason : '', /SubjectAccessReview failed: connection refused/);
  fail = false;
  assert.deepEqual(await az.authorize(ANONYMOUS, requestAttributes('GET', '/metrics', 'n1')), { allowed: true });
});

test('TokenReview answers are cached for the TTL by token hash; errors are not cached', async () => {
  let now = 0;
  let calls = 0;
  let fail = false;
  const inner = {
    review: (t: string): Promise<UserInfo | undefined> => {
      calls++;
      return fail ? Promise.reject(new Error('api down')) : Promise.resolve(t === 'good' ? { name: 'bob', groups: [] } : undefined);
    },
  };
  const r = cachedTokenReviewer(inner, 1000, () => now);
  assert.equal((await r.review('good'))?.name, 'bob');
  assert.equal(await r.review('bad'), undefined);
  assert.equal((await r.review('good'))?.name, 'bob');
  assert.equal(await r.review('bad'), undefined);
  assert.equal(calls, 2, 'both answers cached');
  now = 1500;
  fail = true;
  await assert.rejects(r.review('good'), /api down/);
  fail = false;
  assert.equal((await r.review('good'))?.name, 'bob');
  assert.equal(calls, 4, 'expired, then the failure was not cached');
});
