/**
 * The broker's HTTP handler in process, driven by the RCAR client with software TPM quotes:
 * the full flow and each refusal with its own error kind and reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KbsClient, KbsHttpError, generateTeeKey } from '../../shared/kbs/client.js';
import { decryptResource } from '../../shared/kbs/jwe.js';
import { KBS_PREFIX } from '../../shared/kbs/protocol.js';
import { SoftTpm } from '../testing/soft-tpm.js';
import { startTestBroker, type TestBroker } from '../testing/broker.js';

const tpm = new SoftTpm();
const stranger = new SoftTpm();
stranger.pcrs[0] = Buffer.alloc(32, 0xee); // booted something else
let b: TestBroker;
let clock = Date.now();
const now = (): number => clock;

async function admin(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const r = await c.request(method, path, body, { authorization: `Bearer ${await b.adminToken()}`, ...headers });
  c.close();
  return { status: r.status, body: r.body.toString() };
}

async function setRv(id: string, rv: unknown): Promise<void> {
  const r = await admin('POST', `${KBS_PREFIX}/attestation-policy`, { type: 'json', policy_id: id, policy: Buffer.from(JSON.stringify(rv)).toString('base64url') });
  assert.equal(r.status, 200, r.body);
}

async function rejects(p: Promise<unknown>, status: number, kind: string, detail: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KbsHttpError, String(e));
    assert.equal(e.status, status, e.message);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.detail, detail);
    return true;
  });
}

before(async () => {
  b = await startTestBroker({ tpmAkPins: [tpm.akPin, stranger.akPin], now });
  await setRv('default', { allowDevelopmentTee: true, pcrs: { '0': [tpm.pcrs[0]!.toString('hex')] } });
  const r = await admin('POST', `${KBS_PREFIX}/resource/default/test/secret1`, Buffer.from('s3cret-value'), { 'content-type': 'application/octet-stream' });
  assert.equal(r.status, 200, r.body);
});
after(() => b?.dispose());

for (const kind of ['EC', 'RSA'] as const) {
  test(`full RCAR flow with a ${kind} TEE key: the resource decrypts with the TEE private key`, async () => {
    const c = new KbsClient({ url: b.url, attester: tpm, teeKey: generateTeeKey(kind) });
    await rejects(c.getResource('default/test/secret1'), 401, 'TokenNotFound', /^Attestation Token not found$/);
    const token = await c.handshake();
    assert.equal(Buffer.from(await c.getResource('default/test/secret1')).toString(), 's3cret-value');
    // The token works as a bearer, without the session cookie.
    const other = new KbsClient({ url: b.url, attester: tpm, teeKey: c.teeKey });
    assert.equal(Buffer.from(await other.getResource('default/test/secret1', { bearer: token })).toString(), 's3cret-value');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { submods: { cpu0: Record<string, unknown> } };
    assert.equal(claims.submods.cpu0['ear.status'], 'affirming');
    assert.deepEqual((claims.submods.cpu0['ear.veraison.annotated-evidence'] as { runtime_data_claims: { 'tee-pubkey': unknown } }).runtime_data_claims['tee-pubkey'], c.teeKey.publicJwk);
    assert.match(String((claims.submods.cpu0['cocolet.waivers'] as string[])[0]), /^development-tee/);
    c.close();
    other.close();
  });
}

test('a wrong binding (evidence over another TEE key) is refused at attest', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const ch = await c.auth();
  const body = await c.attestation(ch);
  body['runtime-data']['tee-pubkey'] = generateTeeKey('EC').publicJwk;
  await rejects(c.attest(ch, body), 401, 'AttestationError', /RCAR handshake Attest failed: tpm\.nonce/);
});

test('a replayed nonce is refused: the same attestation twice on one session', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const ch = await c.auth();
  const body = await c.attestation(ch);
  await c.attest(ch, body);
  await rejects(c.attest(ch, body), 401, 'AttestationError', /already used/);
});

test('additional (device) evidence is refused: this broker does not verify it', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const ch = await c.auth();
  const body = await c.attestation(ch);
  body['tee-evidence'].additional_evidence = '{"nvidia":{}}';
  await rejects(c.attest(ch, body), 401, 'AttestationError', /additional_evidence .* is not verified by this broker/);
});

test("another session's nonce is refused", async () => {
  const c1 = new KbsClient({ url: b.url, attester: tpm });
  const c2 = new KbsClient({ url: b.url, attester: tpm });
  const ch1 = await c1.auth();
  await c2.auth();
  await rejects(c2.attest(ch1, await c2.attestation(ch1)), 401, 'AttestationError', /not this session's challenge nonce/);
});

test('an AK that is not pinned is refused', async () => {
  const c = new KbsClient({ url: b.url, attester: new SoftTpm() });
  await rejects(c.handshake(), 401, 'AttestationError', /tpm\.ak-untrusted: /);
});

test('policy deny: PCR values not among the reference values', async () => {
  const c = new KbsClient({ url: b.url, attester: stranger });
  await c.handshake();
  await rejects(c.getResource('default/test/secret1'), 401, 'PolicyDeny', /^Access denied by policy: .*reference values 'default' \(contraindicated: pcr 0 value/);
});

test('expired session and expired token are refused, each with its own reason', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const token = await c.handshake();
  const c2 = new KbsClient({ url: b.url, attester: tpm });
  const ch2 = await c2.auth();
  clock += 6 * 60_000;
  try {
    await rejects(c.getResource('default/test/secret1'), 401, 'TokenNotFound', /session expired/);
    await rejects(c.getResource('default/test/secret1', { bearer: token }), 401, 'TokenVerifierError', /token has expired/);
    await rejects(c2.attest(ch2), 401, 'AttestationError', /session expired/);
  } finally {
    clock = Date.now();
  }
});

test('development-TEE evidence is refused when the default reference values do not accept it', async () => {
  await setRv('default', { pcrs: { '0': [tpm.pcrs[0]!.toString('hex')] } });
  try {
    const c = new KbsClient({ url: b.url, attester: tpm });
    await rejects(c.handshake(), 401, 'AttestationError', /kbs\.development-tee/);
  } finally {
    await setRv('default', { allowDevelopmentTee: true, pcrs: { '0': [tpm.pcrs[0]!.toString('hex')] } });
  }
});

test('the sample TEE is refused unless allowed, and its waiver shows in the token', async () => {
  const sample = { tee: 'sample' as const, evidence: (rd: Uint8Array) => ({ svn: '1', report_data: Buffer.from(rd).toString('base64') }) };
  const c = new KbsClient({ url: b.url, attester: sample });
  await rejects(c.handshake(), 401, 'AttestationError', /kbs\.sample-tee/);
  await setRv('default', { allowDevelopmentTee: true, allowSample: true, pcrs: { '0': [tpm.pcrs[0]!.toString('hex')] } });
  try {
    const token = await c.handshake();
    assert.match(Buffer.from(token.split('.')[1]!, 'base64url').toString(), /sample-tee: no hardware evidence/);
    await rejects(c.getResource('default/test/secret1'), 401, 'PolicyDeny', /pcr 0: sample evidence has no PCR values/);
  } finally {
    await setRv('default', { allowDevelopmentTee: true, pcrs: { '0': [tpm.pcrs[0]!.toString('hex')] } });
  }
});

test('a tampered JWE does not decrypt', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  await c.handshake();
  const jwe = await c.getResourceJwe('default/test/secret1');
  const ct = Buffer.from(jwe.ciphertext, 'base64url');
  ct[0]! ^= 1;
  await assert.rejects(decryptResource({ ...jwe, ciphertext: ct.toString('base64url') }, c.teeKey.privateKey), /does not decrypt with the TEE key/);
  await assert.rejects(decryptResource(jwe, generateTeeKey('EC').privateKey), /does not decrypt/);
});

test('admin calls need a valid admin JWT', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const path = `${KBS_PREFIX}/resource/default/test/x`;
  const cases: [string, Record<string, string>, RegExp][] = [
    ['missing', {}, /no Authorization: Bearer token/],
    ['expired', { authorization: `Bearer ${await b.adminToken(-10)}` }, /expired/],
    ['wrong key', { authorization: `Bearer ${await (await import('../admin/cli.js')).makeAdminToken((await import('node:crypto')).generateKeyPairSync('ed25519').privateKey)}` }, /not signed by a configured admin key/],
  ];
  for (const [name, h, re] of cases) {
    const r = await c.request('POST', path, Buffer.from('x'), { 'content-type': 'application/octet-stream', ...h });
    assert.equal(r.status, 401, name);
    const body = JSON.parse(r.body.toString()) as { type: string; detail: string };
    assert.match(body.type, /AdminAuthAccess$/, name);
    assert.match(body.detail, re, name);
  }
  assert.equal(b.state.resource('default/test/x'), undefined);
  c.close();
});

test("attestation-policy takes trustee v0.21's body {policy_id, policy}; Rego and bad JSON are refused as ParsePolicyError", async () => {
  const b64 = (t: string): string => Buffer.from(t).toString('base64url');
  const ok = await admin('POST', `${KBS_PREFIX}/attestation-policy`, { policy_id: 'extra', policy: b64('{"tees":["snp"]}') });
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(b.state.referenceValues.extra, { tees: ['snp'] });
  const cases: [unknown, RegExp][] = [
    [{ type: 'rego', policy_id: 'x', policy: b64('package policy') }, /type "rego" is not supported/],
    [{ policy_id: 'x', policy: b64('package policy\ndefault allow = true') }, /not JSON \(cocolet-kbs evaluates no Rego\)/],
  ];
  for (const [body, re] of cases) {
    const r = await admin('POST', `${KBS_PREFIX}/attestation-policy`, body);
    assert.equal(r.status, 401);
    const info = JSON.parse(r.body) as { type: string; detail: string };
    assert.match(info.type, /ParsePolicyError$/);
    assert.match(info.detail, re);
  }
  const raw = await admin('POST', `${KBS_PREFIX}/resource-policy`, Buffer.from('{nope'), { 'content-type': 'application/json' });
  assert.match(raw.body, /ParsePolicyError.*Illegal SetPolicy Request Json/);
  assert.equal(b.state.referenceValues.x, undefined);
});

test('unknown paths and bad resource paths answer 404 with trustee kinds', async () => {
  const c = new KbsClient({ url: b.url, attester: tpm });
  const r1 = await c.request('GET', `${KBS_PREFIX}/nope/x`);
  assert.equal(r1.status, 404);
  assert.match(r1.body.toString(), /PluginNotFound/);
  const r2 = await c.request('GET', `${KBS_PREFIX}/resource/a/..%2f/b`);
  assert.equal(r2.status, 404);
  assert.match(r2.body.toString(), /InvalidRequestPath/);
  const r3 = await c.request('POST', `${KBS_PREFIX}/auth`, { version: '0.3.0', tee: 'tpm', 'extra-params': '' });
  assert.equal(r3.status, 401);
  assert.match(r3.body.toString(), /Protocol Version Mismatch: expect =0\.4\.0 while the request is 0\.3\.0/);
  c.close();
});
