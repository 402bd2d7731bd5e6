/**
 * `cocolet-kbs serve` as a real process on loopback HTTPS, configured through `cocolet-kbs admin`,
 * driven through the whole RCAR flow by the test's client with real swtpm TPM quotes (AK pinned
 * with --tpm-ak-pin, init-data bound in PCR 8): the positive path (resource decrypted with the TEE
 * private key) and each refusal with its own reason; then restart safety and a corrupt state file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KbsClient, KbsHttpError, generateTeeKey } from '../../shared/kbs/client.js';
import { decryptResource } from '../../shared/kbs/jwe.js';
import { KBS_PREFIX } from '../../shared/kbs/protocol.js';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { makeAdminToken } from '../../kbs/admin/cli.js';
import { SwtpmAttester, swtpmMissing } from './swtpm-attester.js';
import { adminKeys, kbsCli, serveBroker, tlsCert, type AdminKeys, type ServedBroker } from './support.js';

const skip = swtpmMissing();
const SECRET = 'e2e-secret-7f3a9c';
const INIT_DATA = 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = \'\'\'\n[token_configs.kbs]\nurl = "https://127.0.0.1"\n\'\'\'\n';
const INIT_DIGEST = createHash('sha256').update(INIT_DATA).digest();

const h = new Harness();
let dir = '';
let tpm: SwtpmAttester;
let admin: AdminKeys;
let tls: ReturnType<typeof tlsCert>;
let kbs: ServedBroker;
let pcrs: string[] = [];

function serveArgs(stateDir: string, extra: string[] = []): string[] {
  return ['--state-dir', stateDir, '--admin-public-key', admin.publicFile, '--cert', tls.cert, '--key', tls.key, '--tpm-ak-pin', tpm.akFile, ...extra];
}

async function adminCli(url: string, args: string[]): Promise<void> {
  const r = await kbsCli(['admin', '--url', url, '--admin-key', admin.privateFile, '--cacert', tls.cert, ...args]);
  assert.equal(r.code, 0, `admin ${args[0]}: ${r.stderr}`);
}

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Resource, reference values and policy, set through the admin CLI. */
async function provision(url: string, allowDevelopmentTee = true): Promise<void> {
  await adminCli(url, ['set-resource', '--path', 'default/app/secret', '--resource-file', file('secret.txt', SECRET)]);
  await adminCli(url, ['set-resource', '--path', 'prod/app/secret', '--resource-file', file('secret2.txt', 'prod-only')]);
  await adminCli(url, ['set-reference-values', '--id', 'default', '--file', file('rv.json', JSON.stringify({ allowDevelopmentTee, pcrs: { '0': [pcrs[0]], '8': [pcrs[8]] }, initDataDigests: [INIT_DIGEST.toString('hex')] }))]);
  await adminCli(url, ['set-reference-values', '--id', 'prod', '--file', file('rv-prod.json', JSON.stringify({ pcrs: { '0': ['ff'.repeat(32)] } }))]);
  await adminCli(url, ['set-resource-policy', '--policy-file', file('policy.json', JSON.stringify({ rules: [{ resource: 'prod/*/*', require: ['default', 'prod'] }, { resource: '*/*/*', require: ['default'] }] }))]);
}

function client(url = kbs.url, teeKey = generateTeeKey('EC')): KbsClient {
  return new KbsClient({ url, ca: tls.pem, attester: tpm, teeKey, initData: { format: 'toml', body: INIT_DATA } });
}

async function refused(p: Promise<unknown>, kind: string, detail: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof KbsHttpError, String(e));
    assert.equal(e.status, 401, e.message);
    assert.equal(e.kind, kind, e.message);
    assert.match(e.detail, detail);
    return true;
  });
}

before(async () => {
  if (skip) return;
  dir = h.tempDir('cocolet-kbs-e2e-');
  tpm = await SwtpmAttester.start(h, join(dir, 'tpm'));
  await tpm.bindInitData(INIT_DIGEST);
  pcrs = await tpm.pcrs();
  admin = adminKeys(dir);
  tls = tlsCert(dir);
  kbs = await serveBroker(h, serveArgs(join(dir, 'state')));
  await provision(kbs.url);
});
after(() => h.dispose());

test('positive: swtpm evidence, EC and RSA TEE keys, resource decrypted with the TEE private key', { skip }, async () => {
  for (const kind of ['EC', 'RSA'] as const) {
    const c = client(kbs.url, generateTeeKey(kind));
    await c.handshake();
    assert.equal(Buffer.from(await c.getResource('default/app/secret')).toString(), SECRET, kind);
    c.close();
  }
});

test('wrong binding: the quote covers another TEE key', { skip }, async () => {
  const c = client();
  const ch = await c.auth();
  const body = await c.attestation(ch);
  body['runtime-data']['tee-pubkey'] = generateTeeKey('EC').publicJwk;
  await refused(c.attest(ch, body), 'AttestationError', /tpm\.nonce: qualifying data/);
  c.close();
});

test('replayed nonce: the same attestation sent twice', { skip }, async () => {
  const c = client();
  const ch = await c.auth();
  const body = await c.attestation(ch);
  await c.attest(ch, body);
  await refused(c.attest(ch, body), 'AttestationError', /nonce was already used/);
  c.close();
});

test('init-data that is not the one bound in PCR 8 is refused', { skip }, async () => {
  const c = new KbsClient({ url: kbs.url, ca: tls.pem, attester: tpm, initData: { format: 'toml', body: INIT_DATA.replace('127.0.0.1', '10.0.0.1') } });
  await refused(c.handshake(), 'AttestationError', /kbs\.init-data: PCR 8/);
  c.close();
});

test('policy deny: prod/ requires reference values this guest does not match', { skip }, async () => {
  const c = client();
  await c.handshake();
  await refused(c.getResource('prod/app/secret'), 'PolicyDeny', /requires reference values 'prod' \(contraindicated: pcr 0 value/);
  c.close();
});

test('tampered JWE: a flipped ciphertext bit or another key gives no secret', { skip }, async () => {
  const c = client();
  await c.handshake();
  const jwe = await c.getResourceJwe('default/app/secret');
  const tag = Buffer.from(jwe.tag, 'base64url');
  tag[3]! ^= 0x40;
  await assert.rejects(decryptResource({ ...jwe, tag: tag.toString('base64url') }, c.teeKey.privateKey), /does not decrypt with the TEE key/);
  await assert.rejects(decryptResource({ ...jwe, protected: Buffer.from('{"alg":"ECDH-ES+A256KW","enc":"A128GCM"}').toString('base64url') }, c.teeKey.privateKey), /does not decrypt/);
  c.close();
});

test('admin calls with a missing, expired or foreign JWT are refused and change nothing', { skip }, async () => {
  const c = client();
  const other = adminKeys(dir, 'other');
  const cases: [string, Record<string, string>, RegExp][] = [
    ['missing', {}, /no Authorization: Bearer token/],
    ['expired', { authorization: `Bearer ${await makeAdminToken(admin.privateKey, { ttlSeconds: 60, now: Date.now() - 3_600_000 })}` }, /admin token has expired/],
    ['foreign key', { authorization: `Bearer ${await makeAdminToken(other.privateKey)}` }, /not signed by a configured admin key/],
  ];
  for (const [name, hdr, re] of cases) {
    const r = await c.request('POST', `${KBS_PREFIX}/resource/default/app/secret`, Buffer.from('overwritten'), { 'content-type': 'application/octet-stream', ...hdr });
    assert.equal(r.status, 401, name);
    const body = JSON.parse(r.body.toString()) as { type: string; detail: string };
    assert.equal(body.type, 'https://github.com/confidential-containers/kbs/errors/AdminAuthAccess', name);
    assert.match(body.detail, re, name);
  }
  const cli = await kbsCli(['admin', '--url', kbs.url, '--admin-key', other.privateFile, '--cacert', tls.cert, 'set-resource', '--path', 'default/app/secret', '--resource-file', file('x', 'overwritten')]);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /401 AdminAuthAccess: .*not signed by a configured admin key/);
  await c.handshake();
  assert.equal(Buffer.from(await c.getResource('default/app/secret')).toString(), SECRET);
  c.close();
});

test('expired session and expired token, on a broker with 1-second lifetimes', { skip }, async () => {
  const short = await serveBroker(h, serveArgs(join(dir, 'state-short'), ['--session-ttl', '1', '--token-ttl', '1']));
  await provision(short.url);
  const c = client(short.url);
  const token = await c.handshake();
  const late = client(short.url);
  const ch = await late.auth();
  const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
  // The session (1 s from auth, which came before the token's iat) ends by exp + 1 s at the latest.
  await waitFor(() => Date.now() > exp + 1050, { what: 'the token and session to expire', timeoutMs: 5000 });
  await refused(c.getResource('default/app/secret'), 'TokenNotFound', /session expired/);
  await refused(c.getResource('default/app/secret', { bearer: token }), 'TokenVerifierError', /token has expired/);
  await refused(late.attest(ch), 'AttestationError', /session expired/);
  c.close();
  late.close();
  await short.proc.stop();
});

test('development-TEE evidence is refused by a broker whose reference values do not accept it', { skip }, async () => {
  const strict = await serveBroker(h, serveArgs(join(dir, 'state-strict')));
  await provision(strict.url, false);
  const c = client(strict.url);
  await refused(c.handshake(), 'AttestationError', /kbs\.development-tee: tee tpm is the development TEE/);
  c.close();
  await strict.proc.stop();
});

test('the broker log names each refusal and carries no secret, token, cookie or key', { skip }, async () => {
  const c = client();
  const token = await c.handshake();
  const cookie = c.sessionCookie!;
  await c.getResource('default/app/secret');
  const log = await waitFor(() => {
    const out = kbs.proc.output();
    return out.includes('"resource":"default/app/secret"') && out.includes('"reason":"policy.deny"') ? out : null;
  }, { what: 'the request lines in the broker log' });
  for (const reason of ['attest.replay', 'policy.deny', 'admin.missing', 'admin.expired', 'admin.signature', 'kbs.init-data']) assert.match(log, new RegExp(`"reason":"${reason.replace('.', '\\.')}"`), reason);
  const secret = Buffer.from(SECRET);
  for (const needle of [SECRET, secret.toString('base64'), secret.toString('hex'), token, token.split('.')[2]!, cookie, readFileSync(admin.privateFile, 'utf8').split('\n')[1]!]) {
    assert.equal(log.includes(needle), false, `the broker log contains ${needle.slice(0, 12)}...`);
  }
  c.close();
});

test('restart: state survives; a corrupt state file stops the broker naming it and is left as it was', { skip }, async () => {
  await kbs.proc.stop();
  kbs = await serveBroker(h, serveArgs(join(dir, 'state')));
  const c = client();
  await c.handshake();
  assert.equal(Buffer.from(await c.getResource('default/app/secret')).toString(), SECRET);
  c.close();
  const stateFile = join(dir, 'state', 'state.json');
  const broken = join(dir, 'state-broken');
  const text = readFileSync(stateFile, 'utf8').replace(/"sha256": "[0-9a-f]{4}/, '"sha256": "0000');
  mkdirSync(broken);
  writeFileSync(join(broken, 'state.json'), text);
  const r = await kbsCli(['serve', ...serveArgs(broken)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`broker state file ${join(broken, 'state.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is unusable \\(checksum mismatch\\)`));
  assert.equal(readFileSync(join(broken, 'state.json'), 'utf8'), text);
});
