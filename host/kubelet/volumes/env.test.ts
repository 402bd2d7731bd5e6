// Environment resolution (env.ts): valueFrom sources, envFrom, optional, and the confidential rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../api/types.js';
import { envFieldValue, envNeedsPodIPs, resolveEnv, type EnvObjects } from './env.js';

const store = new Map<string, Map<string, string>>([
  [
    'configmap/app',
    new Map([
      ['MODE', 'fast'],
      ['LEVEL', '3'],
    ]),
  ],
  ['secret/db', new Map([['password', 's3cret']])],
  ['secret/sealed', new Map([['token', ' sealed.eyJhbGciOi.xyz ']])],
]);
const objects: EnvObjects = { get: (kind, name) => store.get(`${kind}/${name}`) };

const pod = (c: Container, annotations: Record<string, string> = {}): Pod => ({
  metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' }, annotations },
  spec: { nodeName: 'n1', serviceAccountName: 'builder', containers: [c] } as Pod['spec'],
});

interface Case {
  name: string;
  c: Container;
  confidential?: boolean;
  annotations?: Record<string, string>;
  want?: [string, string][];
  error?: RegExp;
  code?: string;
}

const cases: Case[] = [
  {
    name: 'envFrom with prefix first, then env; configMapKeyRef and secretKeyRef',
    c: { name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'app' }, prefix: 'APP_' }], env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }, { name: 'M', valueFrom: { configMapKeyRef: { name: 'app', key: 'MODE' } } }] },
    want: [['APP_MODE', 'fast'], ['APP_LEVEL', '3'], ['PW', 's3cret'], ['M', 'fast']],
  },
  {
    name: 'optional: a missing object or key leaves the variable out',
    c: { name: 'c', image: 'i', envFrom: [{ secretRef: { name: 'nope', optional: true } }], env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app', key: 'NOPE', optional: true } } }, { name: 'Y', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } }] },
    want: [],
  },
  { name: 'a missing key is a config error naming it', c: { name: 'c', image: 'i', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app', key: 'NOPE' } } }] }, error: /couldn't find key NOPE in configmap "app" \(env X of container c\)/ },
  { name: 'a missing envFrom object is a config error', c: { name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'gone' } }] }, error: /configmap "gone" not found/ },
  {
    name: 'fieldRef: metadata, labels, spec and status fields',
    c: {
      name: 'c',
      image: 'i',
      env: [
        { name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
      ],
    },
    want: [['N', 'web-1'], ['NS', 'shop'], ['UID', 'u-1'], ['APP', 'web'], ['NODE', 'n1'], ['SA', 'builder'], ['HOST', '10.0.0.5'], ['IPS', '10.88.0.7,fd00::7']],
  },
  { name: 'an unknown fieldRef is refused by name', c: { name: 'c', image: 'i', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.hostname' } } }] }, error: /env X: fieldRef spec.hostname is not supported/ },
  {
    name: 'resourceFieldRef with a divisor, the container itself by default',
    c: { name: 'c', image: 'i', resources: { limits: { memory: '256Mi' }, requests: { cpu: '250m' } }, env: [{ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } }, { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } }] },
    want: [['MEM', '256'], ['CPU', '250']],
  },
  { name: 'two sources in one valueFrom are refused', c: { name: 'c', image: 'i', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.name' }, configMapKeyRef: { name: 'app', key: 'MODE' } } }] }, error: /must have exactly one of/ },
  { name: 'confidential: a plain Secret value is refused (HostSecretRefused)', confidential: true, c: { name: 'c', image: 'i', env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }, error: /env PW of container c \(secretKeyRef db\/password\) refused for a confidential pod/, code: 'HostSecretRefused' },
  { name: 'confidential: envFrom of a plain Secret is refused', confidential: true, c: { name: 'c', image: 'i', envFrom: [{ secretRef: { name: 'db' } }] }, error: /envFrom secret "db"/, code: 'HostSecretRefused' },
  { name: 'confidential: sealed values pass, trimmed', confidential: true, c: { name: 'c', image: 'i', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'sealed', key: 'token' } } }] }, want: [['T', 'sealed.eyJhbGciOi.xyz']] },
  { name: 'confidential with the opt-in: plain values pass', confidential: true, annotations: { 'io.cocolet.allow-host-secrets': 'true' }, c: { name: 'c', image: 'i', env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }, want: [['PW', 's3cret']] },
];

for (const tc of cases) {
  test(`env: ${tc.name}`, () => {
    const run = (): [string, string][] => resolveEnv(pod(tc.c, tc.annotations), tc.c, { objects, confidential: tc.confidential ?? false, fields: { hostIPs: ['10.0.0.5'], podIPs: ['10.88.0.7', 'fd00::7'] } }).map((e) => [e.key, e.value]);
    if (tc.error) {
      assert.throws(run, (e: Error & { context?: Record<string, unknown> }) => tc.error!.test(e.message) && e.context?.reason === (tc.code ?? 'CreateContainerConfigError') && !e.message.includes('s3cret'));
    } else assert.deepEqual(run(), tc.want);
  });
}

test('env: podIPs are asked for only by containers that use them; nodeName falls back to the kubelet', () => {
  assert.equal(envNeedsPodIPs({ name: 'c', image: 'i', env: [{ name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] }), true);
  assert.equal(envNeedsPodIPs({ name: 'c', image: 'i', env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }), false);
  assert.equal(envFieldValue({ metadata: { name: 'p' }, spec: { containers: [] } }, 'spec.nodeName', { nodeName: 'self' }), 'self');
});
