/**
 * The guest's data hub against `cocolet-kbs serve` as a real process on loopback HTTPS, with
 * real TPM evidence from swtpm (the guest attester's raw TPM commands, AK pinned on the broker,
 * init-data measured into PCR 8). The broker is reached through a TLS proxy holding the broker's
 * certificate, so that one test can tamper with a resource JWE in flight and another can take
 * the broker away. Positive paths (EC and RSA TEE keys, a sealed secret, renewal, a broker
 * restart), and refusals each with its own check: policy deny, wrong binding, init-data the host
 * changed, a broker certificate other than init-data's, the sample TEE and the development TEE
 * not accepted, tampered JWE, broker down.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Harness } from '../../shared/testing/harness.js';
import { createLogger } from '../../shared/log/logger.js';
import { pcrExtend } from '../../guest/attester/tpm/commands.js';
import { TpmAttester } from '../../guest/attester/tpm/attester.js';
import { haveSwtpm, startTestSwtpm, type TestSwtpm } from '../../guest/attester/tpm/swtpm-testing.js';
import type { Attester } from '../../guest/attester/types.js';
import { SampleAttester } from '../../guest/attester/sample.js';
import { parseInitdata } from '../../guest/initdata/initdata.js';
import { ConfidentialDataHub, type DataHubOptions } from '../../guest/cdh/hub.js';
import type { RetryEvent } from '../../guest/cdh/kbs-client.js';
import { refusedBy, withHub } from '../support/cdh.js';
import { sealVaultSecret } from '../../guest/cdh/sealed-testing.js';
import { adminKeys, kbsCli, serveBroker, tlsCert, type AdminKeys, type ServedBroker } from '../kbs/support.js';

const skip = haveSwtpm() ? false : 'swtpm is not installed';
const SECRET = 'cdh-e2e-secret-5c1d0e';
const h = new Harness();
let dir = '';
let tpm: TestSwtpm;
let admin: AdminKeys;
let tls: ReturnType<typeof tlsCert>;
let kbs: ServedBroker;
let akPin = '';
let proxy: { url: string; server: Server; upstream: string; tamper: boolean };
let initdata = '';
let pcrs: string[] = [];
const sealKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const logLines: string[] = [];
const logger = createLogger({ component: 'cdh-e2e', level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => (logLines.push(c.toString()), cb()) }) });

/** A TLS endpoint with the broker's certificate that forwards to the broker (and can flip a JWE bit). */
async function startProxy(port = 0): Promise<typeof proxy> {
  const p = { url: '', server: undefined as unknown as Server, upstream: kbs.url, tamper: false };
  p.server = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = new URL(req.url ?? '/', p.upstream);
      const fwd = httpsRequest(up, { method: req.method, headers: { ...req.headers, host: up.host }, ca: tls.pem }, (r) => {
        const body: Buffer[] = [];
        r.on('data', (c: Buffer) => body.push(c));
        r.on('end', () => {
          let b = Buffer.concat(body);
          if (p.tamper && r.statusCode === 200 && req.url?.startsWith('/kbs/v0/resource/')) {
            const jwe = JSON.parse(b.toString()) as { ciphertext: string };
            const ct = Buffer.from(jwe.ciphertext, 'base64url');
            ct[0]! ^= 0x01;
            b = Buffer.from(JSON.stringify({ ...jwe, ciphertext: ct.toString('base64url') }));
          }
          const headers = { ...r.headers, 'content-length': String(b.length) };
          delete headers['transfer-encoding'];
          res.writeHead(r.statusCode ?? 502, headers);
          res.end(b);
        });
      });
      fwd.on('error', () => (res.writeHead(502), res.end()));
      fwd.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => p.server.listen(port, '127.0.0.1', r));
  p.url = `https://127.0.0.1:${(p.server.address() as AddressInfo).port}`;
  h.defer('proxy', () => new Promise<void>((r) => p.server.close(() => r())));
  return p;
}

function initdataToml(url: string, cert = tls.pem.toString()): string {
  const cdh = `[kbc]\nname = "cc_kbc"\nurl = "${url}"\nkbs_cert = """\n${cert.trim()}\n"""\n`;
  return `version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"cdh.toml" = '''\n${cdh}'''\n`;
}

/** One `cocolet-kbs admin` call; `content` is written to a file and passed as the command's file flag. */
async function admin_(url: string, command: string, flags: string[], content?: { flag: string; name: string; text: string }): Promise<void> {
  const extra = content ? [content.flag, join(dir, content.name)] : [];
  if (content) writeFileSync(join(dir, content.name), content.text);
  const r = await kbsCli(['admin', '--url', url, '--admin-key', admin.privateFile, '--cacert', tls.cert, command, ...flags, ...extra]);
  assert.equal(r.code, 0, `admin ${command}: ${r.stderr}`);
}

async function provision(url: string, allowDevelopmentTee = true): Promise<void> {
  const digest = createHash('sha256').update(initdata).digest('hex');
  const resources: [string, string][] = [
    ['default/app/secret', SECRET],
    ['default/keys/seal', JSON.stringify(sealKey.publicKey.export({ format: 'jwk' }))],
    ['prod/app/secret', 'prod-only'],
  ];
  for (const [path, text] of resources) await admin_(url, 'set-resource', ['--path', path], { flag: '--resource-file', name: 'resource', text });
  const rvs: [string, unknown][] = [
    ['default', { allowDevelopmentTee, pcrs: { '8': [pcrs[8]] }, initDataDigests: [digest] }],
    ['prod', { pcrs: { '0': ['ff'.repeat(32)] } }],
  ];
  for (const [id, rv] of rvs) await admin_(url, 'set-reference-values', ['--id', id], { flag: '--file', name: 'rv.json', text: JSON.stringify(rv) });
  const policy = { rules: [{ resource: 'prod/*/*', require: ['default', 'prod'] }, { resource: '*/*/*', require: ['default'] }] };
  await admin_(url, 'set-resource-policy', [], { flag: '--policy-file', name: 'policy.json', text: JSON.stringify(policy) });
}

/** swtpm serves one connection at a time: every attester is closed (with its hub) before the next. */
const tpmAttester = async (): Promise<TpmAttester> => new TpmAttester(await tpm.connect());

function hub(o: Partial<DataHubOptions> & { raw?: string } = {}): ConfidentialDataHub {
  const parsed = parseInitdata(Buffer.from(o.raw ?? initdata));
  return new ConfidentialDataHub({ initdata: parsed, attester: tpmAttester, logger, ...o });
}

const refused = (p: Promise<unknown>, check: string, detail: RegExp): Promise<void> => refusedBy(p, check, detail, SECRET);

before(async () => {
  if (skip) return;
  dir = h.tempDir('cocolet-cdh-e2e-');
  tpm = await startTestSwtpm(h);
  {
    await using a = await tpmAttester();
    akPin = await a.akPin();
  }
  admin = adminKeys(dir);
  tls = tlsCert(dir);
  kbs = await serveBroker(h, ['--state-dir', join(dir, 'state'), '--admin-public-key', admin.publicFile, '--cert', tls.cert, '--key', tls.key, '--tpm-ak-pin', akPin]);
  proxy = await startProxy();
  initdata = initdataToml(proxy.url);
  {
    await using a = await tpmAttester();
    await pcrExtend(a.transport, 8, createHash('sha256').update(initdata).digest());
    pcrs = (await a.evidence(Buffer.alloc(48))).tpm_quote.pcrs;
  }
  await provision(kbs.url);
});
after(() => h.dispose());

test('positive: the resource through init-data\'s broker, EC and RSA TEE keys; a sealed secret', { skip }, async () => {
  for (const teeKeyType of ['EC', 'RSA'] as const) {
    await withHub(hub({ client: { teeKeyType } }), async (cdh) => {
      assert.equal((await cdh.getResource('kbs:///default/app/secret')).toString(), SECRET, teeKeyType);
      const sealed = sealVaultSecret('kbs:///default/app/secret', sealKey.privateKey, 'kbs:///default/keys/seal');
      assert.equal((await cdh.unsealSecret(sealed)).toString(), SECRET);
      await refused(cdh.unsealSecret(sealVaultSecret('kbs:///default/app/secret', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'kbs:///default/keys/seal')), 'sealed.signature', /does not verify/);
    });
  }
});

test('policy deny: prod/ needs reference values this guest does not meet', { skip }, async () => {
  await withHub(hub(), async (cdh) => {
    await refused(cdh.getResource('kbs:///prod/app/secret'), 'kbs.policy-deny', /^kbs:\/\/\/prod\/app\/secret: the broker's policy denies it/);
    assert.equal((await cdh.getResource('kbs:///default/app/secret')).toString(), SECRET);
  });
});

test('wrong binding: evidence over another digest is refused by the broker', { skip }, async () => {
  const liar = async (): Promise<Attester> => {
    const a = await tpmAttester();
    const evidence = a.evidence.bind(a);
    return Object.assign(a, { evidence: (rd: Uint8Array) => evidence(createHash('sha384').update(rd).digest()) });
  };
  await withHub(hub({ attester: liar }), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.attestation-refused', /AttestationError: .*tpm\.nonce/));
});

test('init-data the host changed (not what PCR 8 holds) is refused by the broker', { skip }, async () => {
  await withHub(hub({ raw: `${initdata}# host was here\n` }), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.attestation-refused', /AttestationError: .*init-data/));
});

test('a broker whose certificate is not the one init-data names is refused before any evidence is sent', { skip }, async () => {
  const otherDir = h.tempDir('cocolet-cdh-other-');
  let quotes = 0;
  const counting = async (): Promise<Attester> => Object.assign(await tpmAttester(), { evidence: () => (quotes++, Promise.resolve({})) });
  await withHub(hub({ raw: initdataToml(proxy.url, tlsCert(otherDir).pem.toString()), attester: counting }), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.tls', /certificate does not verify/));
  assert.equal(quotes, 0);
});

test('the sample TEE (trustee interop without hardware) is refused by a broker that does not accept it', { skip }, async () => {
  await withHub(hub({ attester: () => Promise.resolve(new SampleAttester()) }), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.attestation-refused', /sample-tee/));
});

test('tampered JWE in flight: no secret, the integrity check named', { skip }, async () => {
  proxy.tamper = true;
  try {
    await withHub(hub(), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'jwe.integrity', /does not authenticate/));
  } finally {
    proxy.tamper = false;
  }
});

test('renewal: a token near its exp is replaced by a new attestation', { skip }, async () => {
  let now = Date.now();
  let quotes = 0;
  const counting = async (): Promise<Attester> => {
    const a = await tpmAttester();
    const evidence = a.evidence.bind(a);
    return Object.assign(a, { evidence: (rd: Uint8Array) => (quotes++, evidence(rd)) });
  };
  await withHub(hub({ attester: counting, client: { now: () => now } }), async (cdh) => {
    await cdh.getResource('kbs:///default/app/secret');
    await cdh.getResource('kbs:///default/app/secret');
    assert.equal(quotes, 1);
    now += 24 * 3600_000;
    assert.equal((await cdh.getResource('kbs:///default/app/secret')).toString(), SECRET);
    assert.equal(quotes, 2);
  });
});

test('broker restart: the unknown session gets a 401 and one re-attestation', { skip }, async () => {
  await withHub(hub(), async (cdh) => {
    await cdh.getResource('kbs:///default/app/secret');
    await kbs.proc.stop();
    kbs = await serveBroker(h, ['--state-dir', join(dir, 'state'), '--admin-public-key', admin.publicFile, '--cert', tls.cert, '--key', tls.key, '--tpm-ak-pin', akPin]);
    proxy.upstream = kbs.url;
    assert.equal((await cdh.getResource('kbs:///default/app/secret')).toString(), SECRET);
  });
});

test('development TEE: a broker that does not accept it refuses the evidence', { skip }, async () => {
  const strict = await serveBroker(h, ['--state-dir', join(dir, 'state-strict'), '--admin-public-key', admin.publicFile, '--cert', tls.cert, '--key', tls.key, '--tpm-ak-pin', akPin]);
  await provision(strict.url, false);
  const saved = proxy.upstream;
  proxy.upstream = strict.url;
  try {
    await withHub(hub(), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.attestation-refused', /development-tee/));
  } finally {
    proxy.upstream = saved;
    await strict.proc.stop();
  }
});

test('broker down: bounded exponential backoff, then an error naming the resource and broker', { skip }, async () => {
  await new Promise<void>((r) => proxy.server.close(() => r()));
  proxy.server.closeAllConnections();
  const events: RetryEvent[] = [];
  await withHub(hub({ client: { retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 1000 }, onRetry: (e) => events.push(e) } }), (cdh) =>
    refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.unavailable', /did not answer after 4 attempts \(last: ECONNREFUSED\)/),
  );
  assert.deepEqual(events.map((e) => [e.attempt, e.delayMs, e.reason]), [[1, 20, 'ECONNREFUSED'], [2, 40, 'ECONNREFUSED'], [3, 80, 'ECONNREFUSED']]);
});

test('the data hub logged no secret, token or session cookie', { skip }, () => {
  const log = logLines.join('');
  assert.ok(log.includes('attested to the broker'));
  assert.ok(log.includes('development TEE: evidence the host can forge'));
  for (const needle of [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('hex'), 'kbs-session-id=', 'eyJ']) assert.equal(log.includes(needle), false, needle);
});

/** `await using` for a hub (closes it, and so its attester's TPM connection, even on failure). */
