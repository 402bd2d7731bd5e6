// API-backed volumes: the atomic writer's layout and in-place updates, configMap / secret /
// downwardAPI / projected payload rules, token binding and rotation, and the confidential-pod rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoletError } from '../../../shared/errors/errors.js';
import type { Pod } from '../api/types.js';
import { DATA_DIR_NAME, validatePayloadPath, writeAtomic, type Payload } from './atomic.js';
import { TokenManager, fieldRefValue, projectApiVolume, type ApiObjects, type ApiVolume, type TokenRequestSpec } from './apivolumes.js';
import { VolumeManager } from './volumes.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ccl-vol-'));
const payload = (o: Record<string, string>, mode?: number): Payload => new Map(Object.entries(o).map(([k, v]) => [k, { data: Buffer.from(v), ...(mode ? { mode } : {}) }]));

test('atomic writer: ..data points at one version; updates swap it and drop stale keys', () => {
  const dir = tmp();
  try {
    assert.equal(writeAtomic(dir, payload({ a: '1', 'sub/b': '2' })), true);
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), '1');
    assert.equal(readFileSync(join(dir, 'sub', 'b'), 'utf8'), '2');
    assert.ok(lstatSync(join(dir, 'a')).isSymbolicLink());
    assert.equal(readlinkSync(join(dir, 'a')), join(DATA_DIR_NAME, 'a'));
    const v1 = readlinkSync(join(dir, DATA_DIR_NAME));
    assert.equal(writeAtomic(dir, payload({ a: '1', 'sub/b': '2' })), false, 'same payload: nothing written');
    assert.equal(writeAtomic(dir, payload({ a: '3', c: '4' }, 0o400)), true);
    const v2 = readlinkSync(join(dir, DATA_DIR_NAME));
    assert.notEqual(v1, v2);
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), '3');
    assert.equal(statSync(join(dir, 'c')).mode & 0o777, 0o400);
    assert.deepEqual(readdirSync(dir).sort(), ['..data', v2, 'a', 'c'].sort(), 'old version and stale key removed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const bad of ['/abs', '../x', 'a/../b', '..hidden', '', 'a//b']) {
  test(`atomic writer refuses the path ${JSON.stringify(bad)}`, () => {
    assert.throws(() => validatePayloadPath(bad), (e: unknown) => e instanceof CocoletError && e.code === 'COCOLET_INVALID_ARGUMENT');
  });
}

class FakeApi implements ApiObjects {
  configMaps = new Map<string, { data?: Record<string, string>; binaryData?: Record<string, string> }>();
  secrets = new Map<string, { data?: Record<string, string> }>();
  tokens: { ns: string; sa: string; spec: TokenRequestSpec }[] = [];
  lifetimeS = 3600;
  now = Date.now();
  getConfigMap(ns: string, name: string) {
    return Promise.resolve(this.configMaps.get(`${ns}/${name}`));
  }
  getSecret(ns: string, name: string) {
    return Promise.resolve(this.secrets.get(`${ns}/${name}`));
  }
  requestToken(ns: string, sa: string, spec: TokenRequestSpec) {
    this.tokens.push({ ns, sa, spec });
    return Promise.resolve({ token: `tok-${this.tokens.length}`, expirationTimestamp: new Date(this.now + this.lifetimeS * 1000).toISOString() });
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const pod = (extra: Partial<Pod['metadata']> = {}, volumes: ApiVolume[] = []): Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'x', tier: 'web' }, annotations: { 'kubernetes.io/config.source': 'api' }, ...extra },
  spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { memory: '64Mi', cpu: '500m' } } }], volumes: volumes as Pod['spec']['volumes'] },
});

const files = (p: Payload | undefined): Record<string, string> => Object.fromEntries([...(p ?? new Map())].map(([k, v]) => [k, `${v.data.toString()}:${(v.mode ?? 0o644).toString(8)}`]));

const cases: { name: string; v: ApiVolume; want?: Record<string, string>; error?: RegExp; confidential?: boolean; annotations?: Record<string, string> }[] = [
  { name: 'configMap: every key, default mode', v: { name: 'v', configMap: { name: 'cm' } }, want: { k1: 'one:644', k2: 'two:644', bin: 'raw:644' } },
  { name: 'configMap: items rename and mode beats defaultMode', v: { name: 'v', configMap: { name: 'cm', defaultMode: 0o600, items: [{ key: 'k1', path: 'dir/first' }, { key: 'k2', path: 'second', mode: 0o444 }] } }, want: { 'dir/first': 'one:600', second: 'two:444' } },
  { name: 'configMap: a missing key is an error', v: { name: 'v', configMap: { name: 'cm', items: [{ key: 'nope', path: 'x' }] } }, error: /configmap "cm" has no key "nope"/ },
  { name: 'configMap: a missing key of an optional source is skipped', v: { name: 'v', configMap: { name: 'cm', optional: true, items: [{ key: 'nope', path: 'x' }] } }, want: {} },
  { name: 'configMap: a missing object is an error', v: { name: 'v', configMap: { name: 'gone' } }, error: /configmap "gone" not found/ },
  { name: 'configMap: a missing optional object is an empty volume', v: { name: 'v', configMap: { name: 'gone', optional: true } }, want: {} },
  { name: 'secret: values are base64-decoded', v: { name: 'v', secret: { secretName: 's', defaultMode: 0o400 } }, want: { password: 'hunter2:400' } },
  { name: 'secret: refused for a confidential pod', v: { name: 'v', secret: { secretName: 's' } }, confidential: true, error: /secret "s" in volume v refused for a confidential pod/ },
  { name: 'secret: allowed for a confidential pod that opted in', v: { name: 'v', secret: { secretName: 's' } }, confidential: true, annotations: { 'io.cocolet.allow-host-secrets': 'true' }, want: { password: 'hunter2:644' } },
  { name: 'secret: sealed values are fine for a confidential pod', v: { name: 'v', secret: { secretName: 'sealed' } }, confidential: true, want: { key: 'sealed.abc:644' } },
  { name: 'downwardAPI: name, labels, one annotation, cpu limit in millicores', v: { name: 'v', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }, { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" } }, { path: 'cpu', resourceFieldRef: { containerName: 'c', resource: 'limits.cpu', divisor: '1m' } }] } }, want: { name: 'p:644', labels: 'app="x"\ntier="web":644', tier: 'web:644', cpu: '500:644' } },
  { name: 'downwardAPI: an unsupported field is an error', v: { name: 'v', downwardAPI: { items: [{ path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] } }, error: /unsupported fieldRef status.podIP/ },
  {
    name: 'projected: token + kube-root-ca.crt + namespace (the service-account volume)',
    v: { name: 'kube-api-access', projected: { defaultMode: 0o644, sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } }] } },
    want: { token: 'tok-1:644', 'ca.crt': 'CA:644', namespace: 'ns:644' },
  },
  { name: 'projected: a token is refused for a confidential pod', v: { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }, confidential: true, error: /service-account token in volume kube-api-access refused for a confidential pod.*automountServiceAccountToken: false/ },
  { name: 'projected: configMap and downwardAPI are fine for a confidential pod', v: { name: 'v', projected: { sources: [{ configMap: { name: 'cm', items: [{ key: 'k1', path: 'k1' }] } }] } }, confidential: true, want: { k1: 'one:644' } },
];

for (const tc of cases) {
  test(`api volume ${tc.name}`, async () => {
    const api = new FakeApi();
    api.configMaps.set('ns/cm', { data: { k1: 'one', k2: 'two' }, binaryData: { bin: b64('raw') } });
    api.configMaps.set('ns/kube-root-ca.crt', { data: { 'ca.crt': 'CA' } });
    api.secrets.set('ns/s', { data: { password: b64('hunter2') } });
    api.secrets.set('ns/sealed', { data: { key: b64('sealed.abc') } });
    const p = pod({ annotations: { 'kubernetes.io/config.source': 'api', ...tc.annotations } }, [tc.v]);
    const run = projectApiVolume(p, tc.v, { api, tokens: new TokenManager(api), confidential: tc.confidential ?? false });
    if (tc.error) {
      await assert.rejects(run, (e: unknown) => {
        assert.ok(e instanceof CocoletError);
        assert.match(e.message, tc.error!);
        assert.doesNotMatch(e.message, /hunter2/, 'no secret value in errors');
        return true;
      });
      return;
    }
    assert.deepEqual(files(await run), tc.want);
    if (tc.v.projected?.sources?.some((s) => s.serviceAccountToken)) {
      assert.deepEqual(api.tokens[0], {
        ns: 'ns',
        sa: 'default',
        spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u1' } },
      });
    }
  });
}

test('confidential refusals carry reason HostSecretRefused', async () => {
  const api = new FakeApi();
  api.secrets.set('ns/s', { data: { password: b64('hunter2') } });
  const v: ApiVolume = { name: 'v', secret: { secretName: 's' } };
  await assert.rejects(projectApiVolume(pod({}, [v]), v, { api, tokens: new TokenManager(api), confidential: true }), (e: unknown) => (e as CocoletError).context.reason === 'HostSecretRefused');
});

test('token manager: reuses a token until 80 % of its lifetime, then requests a new one', async () => {
  const api = new FakeApi();
  let now = api.now;
  const tm = new TokenManager(api, () => now);
  const p = pod();
  assert.equal(await tm.get(p, 'default', ['vault'], 3600), 'tok-1');
  assert.deepEqual(api.tokens[0]!.spec.audiences, ['vault']);
  now += 0.79 * 3600_000;
  assert.equal(await tm.get(p, 'default', ['vault'], 3600), 'tok-1');
  assert.equal(tm.nextRefresh('u1'), api.now + 0.8 * 3600_000);
  now += 0.02 * 3600_000;
  assert.equal(await tm.get(p, 'default', ['vault'], 3600), 'tok-2', 'renewed after 80 %');
  tm.forget('u1');
  assert.equal(tm.nextRefresh('u1'), undefined);
});

test('token manager: a long-lived token is renewed after 24 h', async () => {
  const api = new FakeApi();
  api.lifetimeS = 7 * 24 * 3600;
  let now = api.now;
  const tm = new TokenManager(api, () => now);
  await tm.get(pod(), 'default', [], 7 * 24 * 3600);
  now += 24 * 3600_000 + 1;
  assert.equal(await tm.get(pod(), 'default', [], 7 * 24 * 3600), 'tok-2');
});

test('fieldRef annotations are sorted key="value" lines', () => {
  assert.equal(fieldRefValue(pod({ annotations: { b: '2', a: 'x"y' } }), 'metadata.annotations'), 'a="x\\"y"\nb="2"');
});

test('volume manager: an API pod configMap volume is updated in place on the next set-up', async () => {
  const root = tmp();
  try {
    const api = new FakeApi();
    api.configMaps.set('ns/cm', { data: { k: 'v1' } });
    const vm = new VolumeManager({ rootDir: root, api, tmpfsForSecrets: false });
    const p = pod({}, [{ name: 'conf', configMap: { name: 'cm' } }]);
    const paths = await vm.setUp(p, { confidential: false });
    const dir = paths.get('conf')!;
    assert.equal(dir, join(root, 'pods', 'u1', 'volumes', 'kubernetes.io~configmap', 'conf'));
    assert.equal(readFileSync(join(dir, 'k'), 'utf8'), 'v1');
    api.configMaps.set('ns/cm', { data: { k: 'v2' } });
    await vm.setUp(p, { confidential: false });
    assert.equal(readFileSync(join(dir, 'k'), 'utf8'), 'v2', 'same directory (the bind mount), new content');
    vm.tearDown('u1');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('volume manager: a failed refresh keeps the last content and warns; a first set-up failure is an error', async () => {
  const root = tmp();
  try {
    const api = new FakeApi();
    api.configMaps.set('ns/cm', { data: { k: 'v1' } });
    const vm = new VolumeManager({ rootDir: root, api, tmpfsForSecrets: false });
    const p = pod({}, [{ name: 'conf', configMap: { name: 'cm' } }]);
    const warnings: string[] = [];
    const dir = (await vm.setUp(p, { confidential: false, warn: (m) => warnings.push(m) })).get('conf')!;
    api.getConfigMap = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443'));
    assert.equal((await vm.setUp(p, { confidential: false, warn: (m) => warnings.push(m) })).get('conf'), dir);
    assert.equal(readFileSync(join(dir, 'k'), 'utf8'), 'v1');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /ECONNREFUSED/);
    const fresh = pod({ uid: 'u2' }, [{ name: 'conf', configMap: { name: 'cm' } }]);
    await assert.rejects(vm.setUp(fresh, { confidential: false, warn: (m) => warnings.push(m) }), /ECONNREFUSED/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('volume manager: a volume type cocolet cannot mount is a FailedMount naming it', async () => {
  const root = tmp();
  try {
    const vm = new VolumeManager({ rootDir: root, api: new FakeApi(), tmpfsForSecrets: false });
    const p = pod({}, [{ name: 'data', persistentVolumeClaim: { claimName: 'c' } } as unknown as ApiVolume]);
    await assert.rejects(vm.setUp(p, { confidential: false }), (e: unknown) => {
      assert.ok(e instanceof CocoletError);
      assert.equal(e.context.reason, 'FailedMount');
      assert.match(e.message, /volume data: type persistentVolumeClaim is not supported/);
      return true;
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
