/**
 * The broker as the remote party it is: `cocolet-kbs serve` runs in a podman container started
 * through testcontainers (podman's Docker-compatible API on a socket of a `podman system service`
 * this test starts), from a `FROM scratch` image built out of this machine's node binary, the
 * compiled broker and its npm packages. The test reaches it only through the mapped port over
 * HTTPS: resources, reference values and policy through the admin API (`cocolet-kbs admin`), then
 * the guest's data hub (real swtpm quotes, init-data bound in PCR 8) gets a resource; a resource
 * the policy denies and a broker-wide deny-all are refused with the broker's reasons.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness } from '../../shared/testing/harness.js';
import { pcrExtend } from '../../guest/attester/tpm/commands.js';
import { TpmAttester } from '../../guest/attester/tpm/attester.js';
import { haveSwtpm, startTestSwtpm, type TestSwtpm } from '../../guest/attester/tpm/swtpm-testing.js';
import { parseInitdata } from '../../guest/initdata/initdata.js';
import { ConfidentialDataHub } from '../../guest/cdh/hub.js';
import { refusedBy, withHub } from '../support/cdh.js';
import { kbsImageContext, podmanMissing, startPodmanService } from '../support/podman.js';
import { adminKeys, kbsCli, tlsCert, type AdminKeys } from './support.js';

const skip = podmanMissing() ?? (haveSwtpm() ? undefined : 'swtpm is not installed');
const SECRET = 'container-secret-5d2b81';
const IMAGE = 'localhost/cocolet-kbs:e2e';
const PORT = 8443;

const h = new Harness();
let dir = '';
let tpm: TestSwtpm;
let admin: AdminKeys;
let tls: ReturnType<typeof tlsCert>;
let url = '';
let initdata = '';
let figures = '';
let brokerLog = '';

/** swtpm serves one connection at a time: every attester is closed (with its hub) before the next. */
const tpmAttester = async (): Promise<TpmAttester> => new TpmAttester(await tpm.connect());

function initdataToml(brokerUrl: string): string {
  const cdh = `[kbc]\nname = "cc_kbc"\nurl = "${brokerUrl}"\nkbs_cert = """\n${tls.pem.toString().trim()}\n"""\n`;
  return `version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"cdh.toml" = '''\n${cdh}'''\n`;
}

/** One `cocolet-kbs admin` call against the container's mapped port. */
async function adminCall(command: string, flags: string[], file?: { flag: string; text: string }): Promise<void> {
  const extra: string[] = [];
  if (file) {
    const p = join(dir, `${command}.in`);
    writeFileSync(p, file.text);
    extra.push(file.flag, p);
  }
  const r = await kbsCli(['admin', '--url', url, '--admin-key', admin.privateFile, '--cacert', tls.cert, command, ...flags, ...extra]);
  assert.equal(r.code, 0, `admin ${command}: ${r.stderr}`);
}

const hub = (): ConfidentialDataHub => new ConfidentialDataHub({ initdata: parseInitdata(Buffer.from(initdata)), attester: tpmAttester });

const refused = (p: Promise<unknown>, check: string, detail: RegExp): Promise<void> => refusedBy(p, check, detail, SECRET);

before(async () => {
  if (skip) return;
  dir = h.tempDir('cocolet-kbs-container-');
  tpm = await startTestSwtpm(h);
  let akPin = '';
  {
    await using a = await tpmAttester();
    akPin = await a.akPin();
  }
  admin = adminKeys(dir);
  tls = tlsCert(dir);

  const service = await startPodmanService(h);
  // testcontainers reads these on first use; Ryuk's image cannot be pulled here, cleanup is ours.
  process.env.DOCKER_HOST = service.dockerHost;
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
  const { GenericContainer, Wait } = await import('testcontainers');
  const t0 = performance.now();
  const ctx = await kbsImageContext(h.tempDir('cocolet-kbs-image-'));
  const image = await GenericContainer.fromDockerfile(ctx).build(IMAGE, { deleteOnExit: false });
  const t1 = performance.now();
  const container = await image
    .withCopyFilesToContainer([
      { source: tls.cert, target: '/etc/kbs/tls.crt' },
      { source: tls.key, target: '/etc/kbs/tls.key' },
      { source: admin.publicFile, target: '/etc/kbs/admin.pub' },
    ])
    .withCommand(['serve', '--listen', `0.0.0.0:${PORT}`, '--state-dir', '/var/lib/cocolet-kbs', '--cert', '/etc/kbs/tls.crt', '--key', '/etc/kbs/tls.key', '--admin-public-key', '/etc/kbs/admin.pub', '--tpm-ak-pin', akPin])
    .withEnvironment({ COCOLET_LOG_LEVEL: 'info' })
    .withExposedPorts(PORT)
    .withWaitStrategy(Wait.forLogMessage(/key broker listening/))
    .withStartupTimeout(120_000)
    .withLogConsumer((stream) => stream.on('data', (d: Buffer | string) => (brokerLog = `${brokerLog}${d.toString()}`.slice(-4000))))
    .start()
    .catch((e: unknown) => {
      throw new Error(`the broker container did not start: ${e instanceof Error ? e.message : String(e)}\nits output: ${brokerLog}`);
    });
  h.defer('kbs container', async () => void (await container.stop()));
  figures = `image context + build ${((t1 - t0) / 1000).toFixed(1)} s, container start until listening ${((performance.now() - t1) / 1000).toFixed(1)} s`;
  url = `https://${container.getHost()}:${container.getMappedPort(PORT)}`;

  initdata = initdataToml(url);
  let pcr8 = '';
  {
    await using a = await tpmAttester();
    await pcrExtend(a.transport, 8, createHash('sha256').update(initdata).digest());
    pcr8 = (await a.evidence(Buffer.alloc(48))).tpm_quote.pcrs[8]!;
  }
  await adminCall('set-resource', ['--path', 'default/app/secret'], { flag: '--resource-file', text: SECRET });
  await adminCall('set-resource', ['--path', 'prod/app/secret'], { flag: '--resource-file', text: 'prod-only' });
  const digest = createHash('sha256').update(initdata).digest('hex');
  await adminCall('set-reference-values', ['--id', 'default'], { flag: '--file', text: JSON.stringify({ allowDevelopmentTee: true, pcrs: { '8': [pcr8] }, initDataDigests: [digest] }) });
  await adminCall('set-reference-values', ['--id', 'prod'], { flag: '--file', text: JSON.stringify({ pcrs: { '0': ['ff'.repeat(32)] } }) });
  const policy = { rules: [{ resource: 'prod/*/*', require: ['default', 'prod'] }, { resource: '*/*/*', require: ['default'] }] };
  await adminCall('set-resource-policy', [], { flag: '--policy-file', text: JSON.stringify(policy) });
});
after(() => h.dispose());

test('the data hub gets a resource from the containerised broker over HTTPS through the mapped port', { skip }, async (t) => {
  t.diagnostic(figures);
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  await withHub(hub(), async (cdh) => assert.equal((await cdh.getResource('kbs:///default/app/secret')).toString(), SECRET));
});

test('policy deny through the container: prod/ needs reference values this guest does not meet; deny-all denies everything', { skip }, async () => {
  await withHub(hub(), async (cdh) => {
    await refused(cdh.getResource('kbs:///prod/app/secret'), 'kbs.policy-deny', /^kbs:\/\/\/prod\/app\/secret: the broker's policy denies it/);
    assert.equal((await cdh.getResource('kbs:///default/app/secret')).toString(), SECRET);
  });
  await adminCall('set-resource-policy', ['--deny-all']);
  await withHub(hub(), (cdh) => refused(cdh.getResource('kbs:///default/app/secret'), 'kbs.policy-deny', /the broker's policy denies it/));
});
