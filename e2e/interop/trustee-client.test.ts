/**
 * trustee v0.21's `kbs-client` (its sample attester: this machine has no TEE) against
 * `cocolet-kbs serve` as real processes on loopback HTTPS.
 *
 * - Admin: kbs-client's `config` commands (set-resource, set-attestation-policy with cocolet's
 *   JSON reference values, set-resource-policy --allow-all / a JSON policy file) with a bearer
 *   JWT signed by the same Ed25519 key `serve` was given; a foreign key is refused.
 * - The sample TEE is refused until the `default` reference values allow it; then the token
 *   names the waiver, and get-resource works with kbs-client's own TEE key, an RSA (PKCS#1) and
 *   an EC P-256 (PKCS#8) `--tee-key-file`, and a token from `attest` (bearer path).
 * - Refusals, each asserted with cocolet-kbs's error type and detail as kbs-client reports them:
 *   a wrong binding (report_data changed in flight), an expired session (the /attest held past
 *   a 1-second session) and an expired token, a policy deny.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { Waiver } from '../../kbs/attest/evidence.js';
import { adminKeys, serveBroker, type AdminKeys, type ServedBroker } from '../kbs/support.js';
import { adminTokenFile, caAndLeaf, errorTypesIn, kbsClient, startMitm, TRUSTEE_ADMIN_AUDIENCE, TRUSTEE_ADMIN_ISSUER, trusteeMissing, untilSessionExpired, type Run } from './support.js';

const skip = trusteeMissing('kbs-client');
const SECRET = 'interop-secret-from-cocolet-9d41';
const h = new Harness();
let dir = '';
let admin: AdminKeys;
let tls: ReturnType<typeof caAndLeaf>;
let kbs: ServedBroker;
let token = '';

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

/** `cocolet-kbs serve` on HTTPS, admin JWTs by our key with the iss/aud trustee's kbs-client tokens carry. */
function serveArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', join(dir, state), '--admin-public-key', admin.publicFile, '--admin-issuer', TRUSTEE_ADMIN_ISSUER, '--admin-audience', TRUSTEE_ADMIN_AUDIENCE, '--cert', tls.cert, '--key', tls.key, ...extra];
}

/** kbs-client against `url` (the broker's certificate as its root). */
function client(url: string, args: string[]): Promise<Run> {
  return kbsClient(['--url', url, '--cert-file', tls.ca, ...args]);
}

async function adminOk(url: string, args: string[]): Promise<void> {
  const r = await client(url, ['config', '--admin-token-file', token, ...args]);
  assert.equal(r.code, 0, `kbs-client config ${args[0]}: ${r.stderr}`);
}

/** The resource through kbs-client's RCAR flow (prints base64). */
async function getResource(url: string, path: string, extra: string[] = []): Promise<string> {
  const r = await client(url, ['get-resource', '--path', path, ...extra]);
  assert.equal(r.code, 0, `kbs-client get-resource ${path}: ${r.stderr.slice(-2000)}`);
  return Buffer.from(r.stdout.trim(), 'base64').toString();
}

/** kbs-client failed, and what it relays from the broker names `kind` with a detail matching `detail`. */
function refused(r: Run, kind: string, detail: RegExp): void {
  assert.notEqual(r.code, 0, `kbs-client should have failed: ${r.stdout}`);
  assert.ok(errorTypesIn(r.stderr).includes(kind), `expected ${kind} from cocolet-kbs in: ${r.stderr.slice(-3000)}`);
  assert.match(r.stderr, detail);
  assert.equal(r.stderr.includes(SECRET), false);
}

async function provision(url: string): Promise<void> {
  await adminOk(url, ['set-resource', '--path', 'default/interop/secret', '--resource-file', file('secret', SECRET)]);
  await adminOk(url, ['set-resource', '--path', 'prod/interop/secret', '--resource-file', file('secret-prod', 'prod-only')]);
  // cocolet's reference values through trustee's attestation-policy command (type json).
  await adminOk(url, ['set-attestation-policy', '--type', 'json', '--id', 'default', '--policy-file', file('rv.json', JSON.stringify({ allowSample: true }))]);
  await adminOk(url, ['set-resource-policy', '--allow-all']);
}

before(async () => {
  if (skip) return;
  dir = h.tempDir('cocolet-interop-client-');
  admin = adminKeys(dir);
  tls = caAndLeaf(dir);
  token = await adminTokenFile(dir, admin.privateKey);
  kbs = await serveBroker(h, serveArgs('state'));
});
after(() => h.dispose());

test('admin: kbs-client config commands with the same Ed25519 key; a foreign key is refused', { skip }, async () => {
  await adminOk(kbs.url, ['set-resource', '--path', 'default/interop/secret', '--resource-file', file('secret', SECRET)]);
  await adminOk(kbs.url, ['set-resource', '--path', 'prod/interop/secret', '--resource-file', file('secret-prod', 'prod-only')]);
  const other = adminKeys(dir, 'other');
  const foreign = await kbsClient(['--url', kbs.url, '--cert-file', tls.ca, 'config', '--admin-token-file', await adminTokenFile(dir, other.privateKey, 'other-token'), 'set-resource', '--path', 'default/interop/secret', '--resource-file', file('x', 'overwritten')]);
  assert.notEqual(foreign.code, 0);
  assert.match(foreign.stderr, /AdminAuthAccess.*not signed by a configured admin key/s);
  // trustee's Rego that cocolet-kbs does not evaluate is refused with its own error, not ignored.
  const rego = await client(kbs.url, ['config', '--admin-token-file', token, 'set-resource-policy', '--policy-file', file('p.rego', 'package policy\ndefault allow = true\n')]);
  assert.notEqual(rego.code, 0);
  assert.match(rego.stderr, /ParsePolicyError.*evaluates no Rego/s);
});

test('the sample TEE is refused until the default reference values allow it; then its waiver is in the token', { skip }, async () => {
  const before_ = await client(kbs.url, ['get-resource', '--path', 'default/interop/secret']);
  refused(before_, 'AttestationError', /tee sample carries no hardware evidence and this broker does not accept it/);
  await adminOk(kbs.url, ['set-attestation-policy', '--type', 'json', '--id', 'default', '--policy-file', file('rv.json', JSON.stringify({ allowSample: true }))]);
  await adminOk(kbs.url, ['set-resource-policy', '--allow-all']);
  const att = await client(kbs.url, ['attest']);
  assert.equal(att.code, 0, att.stderr);
  const claims = JSON.parse(Buffer.from(att.stdout.trim().split('.')[1]!, 'base64url').toString()) as { submods: { cpu0: Record<string, unknown> } };
  assert.equal(claims.submods.cpu0['cocolet.tee'], 'sample');
  assert.deepEqual(claims.submods.cpu0['cocolet.waivers'], [Waiver.Sample]);
  assert.equal(await getResource(kbs.url, 'default/interop/secret'), SECRET);
});

test('get-resource with --tee-key-file RSA (PKCS#1) and EC P-256 (PKCS#8), and with a token from attest', { skip }, async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs1' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' });
  for (const [name, pem] of [['rsa', rsa], ['ec', ec]] as const) {
    const key = file(`tee-${name}.pem`, pem);
    assert.equal(await getResource(kbs.url, 'default/interop/secret', ['--tee-key-file', key]), SECRET, name);
    const att = await client(kbs.url, ['attest', '--tee-key-file', key]);
    assert.equal(att.code, 0, att.stderr);
    const tokenFile = file(`token-${name}`, att.stdout.trim());
    assert.equal(await getResource(kbs.url, 'default/interop/secret', ['--attestation-token', tokenFile, '--tee-key-file', key]), SECRET, `${name} bearer`);
  }
});

test('policy deny: a JSON resource policy and trustee\'s --affirming, set through kbs-client, refuse with PolicyDeny', { skip }, async () => {
  const policy = { rules: [{ resource: 'prod/*/*', allow: false }, { resource: '*/*/*', allow: true }] };
  await adminOk(kbs.url, ['set-resource-policy', '--policy-file', file('policy.json', JSON.stringify(policy))]);
  try {
    refused(await client(kbs.url, ['get-resource', '--path', 'prod/interop/secret']), 'PolicyDeny', /Access denied by policy.*policy rule 0 \(prod\/\*\/\*\) denies resource prod\/interop\/secret/s);
    assert.equal(await getResource(kbs.url, 'default/interop/secret'), SECRET);
    // trustee's own --affirming: sample evidence appraises `default` as warning, never affirming.
    await adminOk(kbs.url, ['set-resource-policy', '--affirming']);
    refused(await client(kbs.url, ['get-resource', '--path', 'default/interop/secret']), 'PolicyDeny', /Access denied by policy.*requires reference values 'default' \(warning/s);
  } finally {
    await adminOk(kbs.url, ['set-resource-policy', '--allow-all']);
  }
});

test('wrong binding: report_data changed in flight is refused as AttestationError (sample.report-data)', { skip }, async () => {
  const mitm = await startMitm(h, kbs.url, tls);
  mitm.onRequest = (path, body) => {
    if (!path.startsWith('/kbs/v0/attest')) return body;
    const a = JSON.parse(body.toString()) as { 'tee-evidence': { primary_evidence: { report_data: string } } };
    const rd = Buffer.from(a['tee-evidence'].primary_evidence.report_data, 'base64');
    rd[0]! ^= 0x01;
    a['tee-evidence'].primary_evidence.report_data = rd.toString('base64');
    return Buffer.from(JSON.stringify(a));
  };
  refused(await client(mitm.url, ['get-resource', '--path', 'default/interop/secret']), 'AttestationError', /sample evidence report_data is not the binding of this nonce/);
  assert.ok(mitm.exchanges.some((e) => e.path === '/kbs/v0/attest' && e.status === 401));
  assert.equal(mitm.exchanges.some((e) => e.path === '/kbs/v0/attest' && e.status === 200), false);
});

test('expired session (attest held past a 1-second session) and expired token are refused', { skip }, async () => {
  const short = await serveBroker(h, serveArgs('state-short', ['--session-ttl', '1', '--token-ttl', '1']));
  await provision(short.url);
  const mitm = await startMitm(h, short.url, tls);
  mitm.onRequest = async (path, body, headers) => {
    if (path.startsWith('/kbs/v0/attest')) await untilSessionExpired(mitm, headers);
    return body;
  };
  refused(await client(mitm.url, ['get-resource', '--path', 'default/interop/secret']), 'AttestationError', /RCAR handshake Attest failed: the session expired at/);

  const key = file('tee-exp.pem', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const att = await client(short.url, ['attest', '--tee-key-file', key]);
  assert.equal(att.code, 0, att.stderr);
  const exp = (JSON.parse(Buffer.from(att.stdout.trim().split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
  await waitFor(() => Date.now() > exp + 50, { what: 'the token to expire', timeoutMs: 10_000 });
  refused(await client(short.url, ['get-resource', '--path', 'default/interop/secret', '--attestation-token', file('token-exp', att.stdout.trim()), '--tee-key-file', key]), 'TokenVerifierError', /the attestation token has expired/);
  await short.proc.stop();
});
