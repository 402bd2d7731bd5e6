/** `cocolet-kbs admin` against an in-process broker: each command, its exit code and output. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAdmin } from './cli.js';
import { startTestBroker, type TestBroker } from '../testing/broker.js';

let b: TestBroker;
let keyFile = '';

async function admin(args: string[], key = keyFile): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runAdmin(['--url', b.url, '--admin-key', key, ...args], { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
  return { code, out, err };
}

function file(name: string, content: string): string {
  const p = join(b.dir, name);
  writeFileSync(p, content);
  return p;
}

before(async () => {
  b = await startTestBroker();
  keyFile = file('admin.key', b.adminKey.export({ format: 'pem', type: 'pkcs8' }).toString());
});
after(() => b?.dispose());

test('set-resource stores the value', async () => {
  assert.equal((await admin(['set-resource', '--path', 'r/t/a', '--resource-file', file('v', 'value-1')])).code, 0);
  assert.equal(Buffer.from(b.state.resource('r/t/a')!).toString(), 'value-1');
});

test('set-resource-policy --allow-all / --deny-all / a file, read back by get-resource-policy', async () => {
  assert.equal((await admin(['set-resource-policy', '--allow-all'])).code, 0);
  assert.deepEqual(b.state.resourcePolicy, { rules: [{ resource: '*/*/*', allow: true }] });
  assert.equal((await admin(['set-resource-policy', '--deny-all'])).code, 0);
  assert.deepEqual(b.state.resourcePolicy, { rules: [] });
  const text = JSON.stringify({ rules: [{ resource: 'r/*/*', require: ['default'] }] });
  assert.equal((await admin(['set-resource-policy', '--policy-file', file('p.json', text)])).code, 0);
  const got = await admin(['get-resource-policy']);
  assert.equal(got.code, 0);
  assert.equal(got.out.trim(), text);
});

test('a policy the broker cannot parse is refused with its reason, exit 1', async () => {
  const r = await admin(['set-resource-policy', '--policy-file', file('bad.rego', 'package policy\nallow { input.x }\n')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /401 ParsePolicyError: Failed to parse policy: cocolet-kbs evaluates no Rego/);
});

test('set-reference-values stores a set; unknown keys are refused by the broker', async () => {
  assert.equal((await admin(['set-reference-values', '--id', 'prod', '--file', file('rv.json', '{"measurements":["ABCD"]}')])).code, 0);
  assert.deepEqual(b.state.referenceValues.prod, { measurements: ['abcd'] });
  const r = await admin(['set-reference-values', '--file', file('rv2.json', '{"measurement":["ab"]}')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /unknown reference-value key "measurement"/);
});

test('usage errors exit 2; a foreign admin key exits 1 with the broker reason', async () => {
  assert.equal((await admin(['frobnicate'])).code, 2);
  assert.equal((await admin(['set-resource', '--path', 'bad', '--resource-file', file('v2', 'x')])).code, 2);
  assert.equal((await admin(['set-reference-values', '--file', file('nj', '{')])).code, 2);
  const other = file('other.key', generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  const r = await admin(['set-resource', '--path', 'r/t/a', '--resource-file', file('v3', 'evil')], other);
  assert.equal(r.code, 1);
  assert.match(r.err, /AdminAuthAccess: admin access denied for endpoint \/kbs\/v0\/resource\/r\/t\/a: the admin token is not signed by a configured admin key/);
  assert.equal(Buffer.from(b.state.resource('r/t/a')!).toString(), 'value-1');
});
