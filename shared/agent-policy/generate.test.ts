import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { parse as parseToml } from 'smol-toml';
import { generatePolicy } from './generate.js';
import { initdataAnnotation, renderInitdata } from './initdata.js';
import { parsePolicy } from './parse.js';
import { DEFAULT_CAPABILITIES } from './defaults.js';

const DIGEST = 'sha256:' + 'c'.repeat(64);
type Obj = Record<string, unknown>;
const pod = (spec: Obj, kind = 'Pod'): Obj => ({ apiVersion: 'v1', kind, metadata: { name: 'web' }, spec });
const one = (c: Obj, spec: Obj = {}): Obj => pod({ containers: [{ name: 'app', image: `reg.example/app@${DIGEST}`, ...c }], ...spec });
const entry = (doc: Obj, o = {}) => generatePolicy(doc, o).policy.containers[0]!;

const cases: { name: string; run: () => void }[] = [
  {
    name: 'an image by digest is pinned by name and digest, checked after the pull',
    run: () => {
      const c = entry(one({}));
      assert.equal(c.image, `reg.example/app@${DIGEST}`);
      assert.equal(c.imageDigest, DIGEST);
    },
  },
  {
    name: 'an image by tag is pinned by name and tag, with a warning',
    run: () => {
      const g = generatePolicy(one({ image: 'busybox' }));
      assert.equal(g.policy.containers[0]!.image, 'docker.io/library/busybox:latest');
      assert.equal(g.policy.containers[0]!.imageDigest, undefined);
      assert.match(g.warnings.join('\n'), /pinned by name and tag only/);
    },
  },
  {
    name: 'shareProcessNamespace (or hostPID) admits the pod PID namespace for every container; without them none',
    run: () => {
      assert.equal(entry(one({}, { shareProcessNamespace: true })).podPidNamespace, true);
      const host = generatePolicy(one({}, { hostPID: true }));
      assert.equal(host.policy.containers[0]!.podPidNamespace, true, 'hostPID: the pod\'s namespace in the guest');
      assert.match(host.warnings.join('\n'), /hostPID gives the pod's containers one PID namespace in the guest/);
      assert.equal(entry(one({})).podPidNamespace, undefined);
    },
  },
  { name: '--require-digest refuses a tag', run: () => assert.throws(() => generatePolicy(one({ image: 'busybox:1' }), { requireDigest: true }), /given by tag only/) },
  {
    name: 'command + args are the exact argv; $(VAR) expands with literal env values',
    run: () => {
      const c = entry(one({ command: ['/app'], args: ['--port', '$(PORT)', '$$(PORT)'], env: [{ name: 'PORT', value: '8080' }] }));
      assert.deepEqual(c.command, ['/app', '--port', '8080', '$(PORT)']);
      assert.equal(c.args, undefined);
    },
  },
  {
    name: 'args alone: the image\'s entrypoint with these args (checked after the pull)',
    run: () => {
      const c = entry(one({ args: ['--quiet'] }));
      assert.equal(c.command, undefined);
      assert.deepEqual(c.args, ['--quiet']);
      assert.equal(c.imageDefaults, true);
    },
  },
  { name: 'an argv that needs a run-time value cannot be pinned', run: () => assert.throws(() => generatePolicy(one({ command: ['/app', '$(TOKEN)'], env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] })), /only known at run time/) },
  {
    name: 'env: literal values exactly, run-time values by name, service links and HOSTNAME by shape',
    run: () => {
      const c = entry(one({ env: [{ name: 'MODE', value: 'a.b' }, { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] }));
      const re = c.env!.map((p) => new RegExp(`^(?:${p})$`, 's'));
      const ok = (e: string): boolean => re.some((r) => r.test(e));
      assert.ok(ok('MODE=a.b'));
      assert.ok(!ok('MODE=aXb'));
      assert.ok(ok('POD_IP=10.1.2.3'));
      assert.ok(ok('KUBERNETES_SERVICE_HOST=10.96.0.1'));
      assert.ok(ok('KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443'));
      assert.ok(ok('HOSTNAME=web'));
      assert.ok(!ok('LD_PRELOAD=/tmp/x.so'));
      assert.ok(!ok('KUBERNETES_SERVICE_HOST=$(curl evil)'));
    },
  },
  {
    name: 'enableServiceLinks: false drops the service-link shape',
    run: () => {
      const re = entry(one({}, { enableServiceLinks: false })).env!.map((p) => new RegExp(`^(?:${p})$`));
      assert.ok(!re.some((r) => r.test('DB_SERVICE_HOST=10.0.0.1')));
    },
  },
  {
    name: 'envFrom admits run-time names but never the loader\'s variables',
    run: () => {
      const g = generatePolicy(one({ envFrom: [{ configMapRef: { name: 'cm' } }] }));
      const re = g.policy.containers[0]!.env!.map((p) => new RegExp(`^(?:${p})$`));
      assert.ok(re.some((r) => r.test('FOO=bar')));
      assert.ok(!re.some((r) => r.test('LD_PRELOAD=/x')));
      assert.match(g.warnings.join('\n'), /envFrom/);
    },
  },
  {
    name: 'volumes: emptyDir read-write, API data read-only, host storage left out with a warning',
    run: () => {
      const g = generatePolicy(one(
        { volumeMounts: [{ name: 'cache', mountPath: '/cache' }, { name: 'cfg', mountPath: '/etc/app/' }, { name: 'host', mountPath: '/host' }] },
        { volumes: [{ name: 'cache', emptyDir: {} }, { name: 'cfg', configMap: { name: 'c' } }, { name: 'host', hostPath: { path: '/' } }] },
      ));
      const m = g.policy.containers[0]!.mounts;
      assert.deepEqual(m.find((x) => x.destination === '/cache'), { destination: '/cache', type: 'bind', source: 'shared' });
      assert.deepEqual(m.find((x) => x.destination === '/etc/app'), { destination: '/etc/app', type: 'bind', source: 'shared', readOnly: true });
      assert.equal(m.find((x) => x.destination === '/host'), undefined);
      assert.match(g.warnings.join('\n'), /volume host \(hostPath\) is host storage/);
    },
  },
  { name: 'automountServiceAccountToken: false drops the token mount', run: () => assert.ok(!entry(one({}, { automountServiceAccountToken: false })).mounts.some((m) => m.destination.includes('serviceaccount'))) },
  { name: 'privileged cannot be confidential', run: () => assert.throws(() => generatePolicy(one({ securityContext: { privileged: true } })), /privileged containers cannot be confidential/) },
  {
    name: 'capabilities: containerd defaults with the pod\'s add and drop',
    run: () => {
      assert.deepEqual(entry(one({ securityContext: { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } })).capabilities, ['CAP_NET_BIND_SERVICE']);
      const c = entry(one({ securityContext: { capabilities: { drop: ['NET_RAW'] } } })).capabilities;
      assert.deepEqual(c, DEFAULT_CAPABILITIES.filter((x) => x !== 'CAP_NET_RAW'));
    },
  },
  { name: 'user: runAsUser/runAsGroup, container over pod', run: () => assert.deepEqual(entry(one({ securityContext: { runAsUser: 1000 } }, { securityContext: { runAsUser: 5, runAsGroup: 6 } })).user, { uid: 1000, gid: 6 }) },
  { name: 'pod sysctls are pinned by value', run: () => assert.deepEqual(entry(one({}, { securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '1024' }] } })).sysctls, { 'net.core.somaxconn': '1024' }) },
  { name: 'keepSetuid only for the containers named', run: () => assert.equal(entry(one({}), { keepSetuid: ['app'] }).keepSetuid, true) },
  {
    name: 'probe and hook exec commands open ExecProcess for exactly those argvs',
    run: () => {
      const g = generatePolicy(one({ livenessProbe: { exec: { command: ['cat', '/tmp/ok'] } }, lifecycle: { preStop: { exec: { command: ['/stop'] } } } }));
      assert.deepEqual(g.policy.rules.ExecProcess, { allow: true, commands: [['cat', '/tmp/ok'], ['/stop']] });
      assert.deepEqual(generatePolicy(one({})).policy.rules.ExecProcess, { allow: false });
    },
  },
  {
    name: 'a Deployment\'s pod template; init containers too',
    run: () => {
      const g = generatePolicy({ kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { initContainers: [{ name: 'init', image: 'a:1' }], containers: [{ name: 'app', image: 'b:1' }] } } } });
      assert.deepEqual(g.policy.containers.map((c) => c.name), ['init', 'app']);
    },
  },
  { name: 'a Service is not a pod', run: () => assert.throws(() => generatePolicy({ kind: 'Service' }), /not a Pod/) },
  {
    name: 'the init-data carries the policy the agent parses, and the annotation is gzip+base64 of it',
    run: () => {
      const { policy } = generatePolicy(one({}));
      const toml = renderInitdata({ policy, settings: { insecureRegistries: ['10.0.2.2:5000'] } });
      assert.equal(gunzipSync(Buffer.from(initdataAnnotation(toml), 'base64')).toString(), toml);
      const back = parseToml(toml) as { version: string; algorithm: string; data: Record<string, string> };
      assert.deepEqual([back.version, back.algorithm], ['0.1.0', 'sha256']);
      assert.deepEqual(parsePolicy(back.data['policy.json']), policy);
      assert.deepEqual(JSON.parse(back.data['cocolet-agent.json']!), { insecureRegistries: ['10.0.2.2:5000'] });
    },
  },
];

for (const tc of cases) test(tc.name, tc.run);
