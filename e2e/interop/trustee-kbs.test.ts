/**
 * cocolet's guest data hub (guest/cdh, its KBS client) against trustee v0.21's `kbs` as a real
 * process on loopback HTTPS, configured through `cocolet-kbs admin` (bearer JWTs signed by an
 * Ed25519 key trustee's identity provider names). This machine has no TEE: the hub uses the
 * guest's SampleAttester (trustee's sample attester shape, `{svn, report_data}`), which trustee's
 * built-in attestation service verifies with its sample verifier (report_data = the binding).
 *
 * Positive with EC and RSA TEE keys; trustee's own default resource policy refusing the sample
 * TEE; a Rego policy (ours) denying prod/; a wrong binding; an expired session (a broker whose
 * sessions last 0 minutes). Each refusal is asserted with trustee's error type and detail as the
 * hub reports them, and with the cause trustee logs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { SampleAttester } from '../../guest/attester/sample.js';
import type { Attester } from '../../guest/attester/types.js';
import { parseInitdata } from '../../guest/initdata/initdata.js';
import { ConfidentialDataHub, type DataHubOptions } from '../../guest/cdh/hub.js';
import { refusedBy, withHub } from '../support/cdh.js';
import { adminKeys, kbsCli, tlsCert, type AdminKeys } from '../kbs/support.js';
import { startTrusteeKbs, TRUSTEE_ADMIN_AUDIENCE, TRUSTEE_ADMIN_ISSUER, trusteeMissing, type TrusteeKbs } from './support.js';

const skip = trusteeMissing('kbs');
const SECRET = 'interop-secret-from-trustee-27be';
/** Resource policies (Rego, trustee's input: data.plugin, data["resource-path"]). */
const ALLOW_BUT_PROD = 'package policy\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n  data.plugin == "resource"\n  data["resource-path"][0] != "prod"\n}\n';
const h = new Harness();
let dir = '';
let admin: AdminKeys;
let tls: ReturnType<typeof tlsCert>;
let kbs: TrusteeKbs;

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

/** `cocolet-kbs admin` against trustee: a JWT per call with trustee's iss/aud. */
async function adminOk(url: string, args: string[]): Promise<void> {
  const r = await kbsCli(['admin', '--url', url, '--cacert', tls.cert, '--admin-key', admin.privateFile, '--issuer', TRUSTEE_ADMIN_ISSUER, '--audience', TRUSTEE_ADMIN_AUDIENCE, ...args]);
  assert.equal(r.code, 0, `cocolet-kbs admin ${args[0]} against trustee: ${r.stderr}`);
}

async function provision(url: string, policy: string | undefined): Promise<void> {
  await adminOk(url, ['set-resource', '--path', 'default/interop/secret', '--resource-file', file('secret', SECRET)]);
  await adminOk(url, ['set-resource', '--path', 'prod/interop/secret', '--resource-file', file('secret-prod', 'prod-only')]);
  if (policy) await adminOk(url, ['set-resource-policy', '--policy-file', file('policy.rego', policy)]);
}

function initdata(url: string): string {
  const cdh = `[kbc]\nname = "cc_kbc"\nurl = "${url}"\nkbs_cert = """\n${tls.pem.toString().trim()}\n"""\n`;
  return `version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"cdh.toml" = '''\n${cdh}'''\n`;
}

function hub(url: string, o: Partial<DataHubOptions> = {}): ConfidentialDataHub {
  return new ConfidentialDataHub({ initdata: parseInitdata(Buffer.from(initdata(url))), attester: () => Promise.resolve(new SampleAttester()), client: { retry: { attempts: 1 } }, ...o });
}


const refused = (p: Promise<unknown>, check: string, detail: RegExp): Promise<void> => refusedBy(p, check, detail, SECRET);

/** trustee logs the cause its error body leaves out (`error!("{self:?}")`). */
function trusteeLogged(k: TrusteeKbs, re: RegExp): Promise<string> {
  return waitFor(() => re.exec(k.proc.output())?.[0], { what: `trustee's log to show ${re}`, timeoutMs: 10_000 });
}

before(async () => {
  if (skip) return;
  dir = h.tempDir('cocolet-interop-trustee-');
  admin = adminKeys(dir);
  tls = tlsCert(dir);
  kbs = await startTrusteeKbs(h, join(dir, 'kbs'), { adminPublicFile: admin.publicFile, tls });
});
after(() => h.dispose());

test("trustee's default resource policy refuses the sample TEE: PolicyDeny", { skip }, async () => {
  await provision(kbs.url, undefined);
  await withHub(hub(kbs.url), (cdh) => refused(cdh.getResource('kbs:///default/interop/secret'), 'kbs.policy-deny', /the broker's policy denies it \(Access denied by policy\)/));
});

test('positive: the resource from trustee with EC and RSA TEE keys, sample evidence', { skip }, async () => {
  await provision(kbs.url, ALLOW_BUT_PROD);
  for (const teeKeyType of ['EC', 'RSA'] as const) {
    await withHub(hub(kbs.url, { client: { teeKeyType, retry: { attempts: 1 } } }), async (cdh) => {
      assert.equal((await cdh.getResource('kbs:///default/interop/secret')).toString(), SECRET, teeKeyType);
      assert.equal((await cdh.getResource('kbs:///default/interop/secret')).toString(), SECRET, `${teeKeyType} (session reused)`);
    });
  }
});

test('policy deny: our Rego on trustee refuses prod/ with PolicyDeny', { skip }, async () => {
  await provision(kbs.url, ALLOW_BUT_PROD);
  await withHub(hub(kbs.url), async (cdh) => {
    await refused(cdh.getResource('kbs:///prod/interop/secret'), 'kbs.policy-deny', /^kbs:\/\/\/prod\/interop\/secret: the broker's policy denies it \(Access denied by policy\)/);
    assert.equal((await cdh.getResource('kbs:///default/interop/secret')).toString(), SECRET);
  });
});

test("wrong binding: sample evidence over another digest fails trustee's sample verifier", { skip }, async () => {
  await provision(kbs.url, ALLOW_BUT_PROD);
  const liar = (): Promise<Attester> => {
    const a = new SampleAttester();
    return Promise.resolve(Object.assign(a, { evidence: (rd: Uint8Array) => new SampleAttester().evidence(Buffer.from(rd).map((b, i) => (i === 0 ? b ^ 1 : b))) }));
  };
  const mark = kbs.proc.output().length;
  await withHub(hub(kbs.url, { attester: liar }), (cdh) => refused(cdh.getResource('kbs:///default/interop/secret'), 'kbs.attestation-refused', /broker refused the sample evidence \(AttestationError: Attestation error: RCAR handshake Attest failed\)/));
  await waitFor(() => /REPORT_DATA is different from that in Sample Quote/.test(kbs.proc.output().slice(mark)), { what: "trustee's log to name the report_data mismatch", timeoutMs: 10_000 });
});

test('expired session: a trustee whose sessions last 0 minutes refuses the attestation', { skip }, async () => {
  const quick = await startTrusteeKbs(h, join(dir, 'kbs-expired'), { adminPublicFile: admin.publicFile, tls, sessionMinutes: 0 });
  await provision(quick.url, ALLOW_BUT_PROD);
  await withHub(hub(quick.url), (cdh) => refused(cdh.getResource('kbs:///default/interop/secret'), 'kbs.attestation-refused', /\(AttestationError: Attestation error: RCAR handshake Attest failed\)/));
  // trustee drops an expired session when it is looked up, so its log says it is gone.
  await trusteeLogged(quick, /RcarAttestFailed \{ source: session not found/);
  await quick.proc.stop();
});
