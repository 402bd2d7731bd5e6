/**
 * A secret reaches a confidential container end to end through Kubernetes objects, and nowhere
 * else. Real peers: containerd + the cocolet shim + a QEMU microVM with swtpm (the development
 * TEE) running the real guest image, `cocolet-kbs serve` as a process on loopback HTTPS (the guest
 * reaches it as 10.0.2.2 through QEMU user networking), the kubelet with a static pod.
 *
 * - The vTPM identity is manufactured once (a swtpm state folder, COCOLET_SWTPM_STATE_TEMPLATE)
 *   and its AK pinned on the broker in advance (`--tpm-ak-pin`), not learned from the guest.
 * - The pod's init-data names the broker (cdh.toml `[kbc]` url + certificate) and the policy; the
 *   broker's reference values require that init-data (digest and PCR 8) and accept the
 *   development TEE; the resource is set through the admin API (the CLI).
 * - One VM: container `ok` has `SECRET=sealed.…` for `default/app/secret` and prints the SHA-256
 *   of its value; container `denied` has a sealed secret for `prod/app/secret`, which the
 *   resource policy denies: it never starts and its status names the check and the reason.
 * - A second pod (its own VM, booted alongside) names a broker that is down: after the data hub's
 *   retries its container does not start, its status and a Failed event say kbs.unavailable.
 * - Leak check: the secret (raw, base64, base64url, hex) appears in no byte the host can see:
 *   kubelet log lines, pod status and events (status file), every file under the containerd,
 *   shim (VM console log, swtpm, sockets), kubelet root and pod-log folders, the ttrpc tap.
 * The shim<->agent ttrpc stream is recorded byte for byte on the shim's side (COCOLET_SHIM_AGENT_TAP).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { createLogger } from '../../shared/log/logger.js';
import { startContainerd, type ContainerdFixture } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { Kubelet } from '../../host/kubelet/kubelet.js';
import { defaultKubeletConfiguration } from '../../host/kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../../host/kubelet/config/flags.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { TpmAttester } from '../../guest/attester/tpm/attester.js';
import { haveSwtpm, startTestSwtpm } from '../../guest/attester/tpm/swtpm-testing.js';
import { sealVaultSecret } from '../../guest/cdh/sealed-testing.js';
import { freePort, startRegistry, type TestRegistry } from '../guest/registry.js';
import { prepareShim, run, type ShimFixture } from '../shim/support.js';
import { adminKeys, kbsCli, serveBroker, type AdminKeys, type ServedBroker } from '../kbs/support.js';

const SECRET = `e2e-secret-${createHash('sha256').update(String(process.pid)).digest('hex').slice(0, 16)}`;
const NODE = 'sec';
const h = new Harness();
let skip: string | false = false;
let dir = '';
let c: ContainerdFixture | undefined;
let cri: CriClient;
let shim: ShimFixture;
let reg: TestRegistry;
let kbs: ServedBroker;
let admin: AdminKeys;
let kubelet: Kubelet | undefined;
let tls: { cert: string; key: string; pem: string };
const kubeletLines: string[] = [];
const sealKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let okSealed = '';

function skipReason(): string | undefined {
  for (const cmd of ['qemu-system-x86_64', 'docker-registry', 'skopeo', 'openssl', 'containerd']) if (!have(cmd)) return `${cmd} is not installed`;
  if (!haveSwtpm()) return 'swtpm is not installed';
  if (process.getuid?.() !== 0) return 'needs root (containerd, runc)';
  if (!existsSync(join(guestImageDir(), 'manifest.json'))) return 'guest image not built (npm run guest-image)';
  return undefined;
}

/** A self-signed certificate for the broker as the guest (10.0.2.2) and the host (127.0.0.1) reach it. */
function brokerCert(d: string): typeof tls {
  const cert = join(d, 'kbs.crt');
  const key = join(d, 'kbs.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=cocolet-kbs', '-addext', 'subjectAltName=IP:10.0.2.2,IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

async function adminCall(command: string, flags: string[], content?: { flag: string; name: string; text: string }): Promise<void> {
  const extra = content ? [content.flag, join(dir, content.name)] : [];
  if (content) writeFileSync(join(dir, content.name), content.text);
  const r = await kbsCli(['admin', '--url', kbs.url, '--admin-key', admin.privateFile, '--cacert', tls.cert, command, ...flags, ...extra]);
  assert.equal(r.code, 0, `admin ${command}: ${r.stderr}`);
}

function initdata(brokerPort: number): string {
  return initdataFor(brokerPort);
}

function initdataFor(brokerPort: number): string {
  const cdh = `[kbc]\nname = "cc_kbc"\nurl = "https://10.0.2.2:${brokerPort}"\nkbs_cert = """\n${tls.pem.trim()}\n"""\n`;
  return [
    'version = "0.1.0"',
    'algorithm = "sha256"',
    '[data]',
    `"policy.json" = '''${JSON.stringify(PERMISSIVE_POLICY)}'''`,
    `"cocolet-agent.json" = '''${JSON.stringify({ insecureRegistries: [`10.0.2.2:${reg.port}`] })}'''`,
    `"cdh.toml" = '''\n${cdh}'''`,
    '',
  ].join('\n');
}

before(async () => {
  skip = skipReason() ?? false;
  if (skip) return;
  dir = h.tempDir('ccsec-');
  // The node's vTPM identity, manufactured once: every VM's swtpm starts from a copy of it.
  mkdirSync(join(dir, 'vtpm-template'));
  const tpm = await startTestSwtpm(h, join(dir, 'vtpm-template'));
  let akPin: string;
  {
    await using a = new TpmAttester(await tpm.connect());
    akPin = await a.akPin();
  }
  await tpm.stop();
  process.env.COCOLET_SWTPM_STATE_TEMPLATE = tpm.stateDir;

  admin = adminKeys(dir);
  tls = brokerCert(dir);
  kbs = await serveBroker(h, ['--state-dir', join(dir, 'kbs-state'), '--admin-public-key', admin.publicFile, '--cert', tls.cert, '--key', tls.key, '--tpm-ak-pin', akPin]);
  const brokerPort = Number(new URL(kbs.url).port);

  shim = prepareShim(h, { kind: 'qemu' });
  process.env.COCOLET_SHIM_CONFIG = shim.configPath;
  process.env.COCOLET_LOG_LEVEL = 'debug'; // the shim logs all it does: more for the leak check to search
  mkdirSync(join(dir, 'tap'));
  process.env.COCOLET_SHIM_AGENT_TAP = join(dir, 'tap'); // every byte of the shim<->agent ttrpc stream
  c = await startContainerd(h, { skip: (why) => (skip = why ?? 'containerd cannot run') }, { shimDir: shim.shimDir });
  if (!c) return;
  reg = await startRegistry(h);
  const image = reg.image.replace('127.0.0.1:', '10.0.2.2:');
  const tag = await run('ctr', ['-a', c.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, image]);
  assert.equal(tag.code, 0, tag.stderr);
  cri = new CriClient({ endpoint: c.address });
  h.defer('cri client', () => cri.close());

  // The broker: resources, reference values that require this pod's init-data, a resource policy.
  const idToml = initdata(brokerPort);
  const idDigest = createHash('sha256').update(idToml).digest();
  const pcr8 = createHash('sha256').update(Buffer.concat([Buffer.alloc(32), idDigest])).digest('hex');
  await adminCall('set-resource', ['--path', 'default/app/secret'], { flag: '--resource-file', name: 'r1', text: SECRET });
  await adminCall('set-resource', ['--path', 'default/keys/seal'], { flag: '--resource-file', name: 'r2', text: JSON.stringify(sealKey.publicKey.export({ format: 'jwk' })) });
  await adminCall('set-resource', ['--path', 'prod/app/secret'], { flag: '--resource-file', name: 'r3', text: 'prod-only' });
  await adminCall('set-reference-values', ['--id', 'default'], { flag: '--file', name: 'rv1.json', text: JSON.stringify({ allowDevelopmentTee: true, pcrs: { '8': [pcr8] }, initDataDigests: [idDigest.toString('hex')] }) });
  await adminCall('set-reference-values', ['--id', 'prod'], { flag: '--file', name: 'rv2.json', text: JSON.stringify({ pcrs: { '0': ['ff'.repeat(32)] } }) });
  await adminCall('set-resource-policy', [], { flag: '--policy-file', name: 'policy.json', text: JSON.stringify({ rules: [{ resource: 'prod/*/*', require: ['default', 'prod'] }, { resource: '*/*/*', require: ['default'] }] }) });

  // The pod, as a static manifest: sealed values only.
  okSealed = sealVaultSecret('kbs:///default/app/secret', sealKey.privateKey, 'kbs:///default/keys/seal');
  const deniedSealed = sealVaultSecret('kbs:///prod/app/secret', sealKey.privateKey, 'kbs:///default/keys/seal');
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'sealed', annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': gzipSync(idToml).toString('base64') } },
    spec: {
      runtimeClassName: 'cocolet', restartPolicy: 'Never', terminationGracePeriodSeconds: 2,
      containers: [
        { name: 'ok', image, imagePullPolicy: 'IfNotPresent', env: [{ name: 'SECRET', value: okSealed }], command: ['/bin/sh', '-c', 'printf %s "$SECRET" | sha256sum | sed "s/^/digest: /"; exec sleep 3600'] },
        { name: 'denied', image, imagePullPolicy: 'IfNotPresent', env: [{ name: 'SECRET', value: deniedSealed }], command: ['/bin/sh', '-c', 'echo started'] },
      ],
    },
  };
  writeFileSync(join(manifests, 'sealed.json'), JSON.stringify(pod));
  // A second pod (its own VM, booted alongside) whose init-data names a broker that is down.
  const downPort = await freePort();
  const down = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'down', annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': gzipSync(initdataFor(downPort)).toString('base64') } },
    spec: { runtimeClassName: 'cocolet', restartPolicy: 'Never', terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent', env: [{ name: 'SECRET', value: okSealed }], command: ['/bin/sh', '-c', 'echo started'] }] },
  };
  writeFileSync(join(manifests, 'down.json'), JSON.stringify(down));
  const logger = createLogger({ component: 'kubelet', level: 'debug', destination: new Writable({ write: (b: Buffer, _e, cb) => (kubeletLines.push(b.toString()), cb()) }) });
  kubelet = new Kubelet({
    settings: {
      config: { ...defaultKubeletConfiguration(), staticPodPath: manifests, podLogsDir: join(dir, 'logs'), containerRuntimeEndpoint: c.address },
      rootDir: join(dir, 'root'), nodeName: NODE, runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
    },
    cri, images: cri, logger,
  });
  await kubelet.start();
  h.defer('kubelet', async () => {
    await kubelet?.stopAllPods(0);
    await kubelet?.stop();
  });
});
after(() => h.dispose());

const record = (pod = 'sealed') => kubelet?.status.all().find((r) => r.pod.metadata.name === `${pod}-${NODE}`);
const cstatus = (name: string, pod = 'sealed') => record(pod)?.status.containerStatuses?.find((x) => x.name === name);

/** Every regular file under `root` (symlinks not followed). */
function files(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

test('a sealed env secret reaches the container through the kubelet, containerd, the shim and the guest; a denied one stops its container with the reason; the host sees neither', { skip, timeout: 600_000 }, async () => {
  // Positive: the container printed the digest of the broker's value (it then sleeps, so the
  // sandbox, its console log and the shim's state are still there for the leak check).
  const digest = createHash('sha256').update(SECRET).digest('hex');
  const logOf = (name: string): string => {
    const podDir = existsSync(join(dir, 'logs')) ? readdirSync(join(dir, 'logs')).find((d) => d.includes('_sealed-')) : undefined;
    const f = podDir ? join(dir, 'logs', podDir, name, '0.log') : '';
    return f && existsSync(f) ? readFileSync(f, 'utf8') : '';
  };
  await waitFor(() => logOf('ok').includes('digest: '), { what: 'container ok to print its digest', timeoutMs: 420_000, intervalMs: 500 }).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}: status ${JSON.stringify(cstatus('ok'))}; events ${JSON.stringify(kubelet?.events.list().slice(-5))}`);
  });
  assert.match(logOf('ok'), new RegExp(`digest: ${digest}`));
  assert.ok(cstatus('ok')?.state.running, 'container ok runs');

  // Negative: the broker's resource policy denies prod/: the container never starts, its status
  // says which check and why (containerd creates the task at StartContainer, so the agent's
  // CreateContainer error is the start error: terminated/StartError, never running).
  const msg = (): string => cstatus('denied')?.state.waiting?.message ?? cstatus('denied')?.state.terminated?.message ?? '';
  await waitFor(() => /kbs\.policy-deny/.test(msg()), { what: 'container denied to be refused', timeoutMs: 120_000, intervalMs: 500 }).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}: status ${JSON.stringify(cstatus('denied'))}`);
  });
  const denied = cstatus('denied')!;
  assert.equal(denied.started, false);
  assert.equal(denied.state.running, undefined);
  assert.match(msg(), /sealed secret not delivered \[kbs\.policy-deny\]: kbs:\/\/\/prod\/app\/secret: the broker's policy denies it \(Access denied by policy: resource prod\/app\/secret requires reference values 'prod'/);
  assert.ok(kubelet!.events.list({ reason: 'Failed' }).some((e) => /kbs\.policy-deny/.test(e.message)), 'a Failed event names the check');
  assert.ok(!logOf('denied').includes('started'), 'the denied container ran nothing');

  // Leak check, while the sandbox still exists (console log, swtpm and shim state present).
  const needles = new Map<string, string>([
    ['raw', SECRET],
    ['base64', Buffer.from(SECRET).toString('base64').replace(/=+$/, '')],
    ['base64url', Buffer.from(SECRET).toString('base64url')],
    ['hex', Buffer.from(SECRET).toString('hex')],
    ['HEX', Buffer.from(SECRET).toString('hex').toUpperCase()],
  ]);
  const seen: string[] = [];
  const search = (where: string, text: string): void => {
    for (const [form, n] of needles) if (text.includes(n)) seen.push(`${form} in ${where}`);
  };
  const roots = [c!.dir, shim.stateDir, shim.socketDir, join(dir, 'root'), join(dir, 'logs'), join(dir, 'manifests'), join(dir, 'tap')];
  let scanned = 0;
  const unreadable: string[] = [];
  const sealedSeenIn: string[] = [];
  for (const root of roots) {
    for (const f of files(root)) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f);
      } catch {
        unreadable.push(f); // kernel files under mounts (EINVAL on read): not stored bytes
        continue;
      }
      const text = bytes.toString('latin1');
      search(f, text);
      if (text.includes(okSealed)) sealedSeenIn.push(f);
      scanned++;
    }
  }
  const consoleLogs = files(shim.stateDir).filter((f) => /console/.test(f));
  assert.ok(consoleLogs.length > 0, 'the VM console log was searched');
  const taps = files(join(dir, 'tap'));
  assert.ok(taps.some((f) => f.endsWith('.sent')) && taps.some((f) => f.endsWith('.received')), `the ttrpc stream was tapped both ways (${taps.join(', ')})`);
  assert.ok(sealedSeenIn.some((f) => f.endsWith('.sent')), 'the tap holds the CreateContainer request with its sealed value');
  assert.ok(files(c!.dir).some((f) => f.endsWith('.log')), 'containerd\'s log (with the shim\'s) was searched');
  search('kubelet log', kubeletLines.join(''));
  search('pod status', JSON.stringify(record()?.status ?? {}));
  search('events', JSON.stringify(kubelet!.events.list()));
  assert.ok(scanned > 10 && kubeletLines.length > 0 && unreadable.length < scanned / 10, `searched ${scanned} files (${unreadable.length} unreadable: ${unreadable.slice(0, 5).join(', ')}), ${kubeletLines.length} kubelet lines`);
  assert.deepEqual(seen, [], 'the secret is nowhere the host can see');
  // Controls: the search looks where the request went (the host's copy of the spec holds the
  // sealed value), and it finds a secret where one is stored (the broker's state, not the node's).
  assert.ok(sealedSeenIn.length > 0, 'the sealed value is in the host\'s files (the search covers the request path)');
  for (const f of files(join(dir, 'kbs-state'))) search(f, readFileSync(f).toString('latin1'));
  assert.ok(seen.length > 0, 'the search finds the secret in the broker\'s own state');
});

test('a broker that is down: the data hub retries with back-off, then the container does not start and its status and a Failed event say so', { skip, timeout: 600_000 }, async () => {
  const msg = (): string => cstatus('main', 'down')?.state.waiting?.message ?? cstatus('main', 'down')?.state.terminated?.message ?? '';
  await waitFor(() => /kbs\.unavailable/.test(msg()), { what: 'the down pod to report the broker unavailable', timeoutMs: 420_000, intervalMs: 500 }).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}: status ${JSON.stringify(cstatus('main', 'down'))}`);
  });
  assert.match(msg(), /sealed secret not delivered \[kbs\.unavailable\]: .*broker https:\/\/10\.0\.2\.2:\d+ did not answer after 6 attempts/);
  assert.equal(cstatus('main', 'down')?.started, false);
  assert.ok(kubelet!.events.list({ reason: 'Failed' }).some((e) => e.object.startsWith('default/down-') && /kbs\.unavailable/.test(e.message)), 'a Failed event on the pod');
});
