import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isCocoletError } from '../../../shared/errors/errors.js';
import { decodeStaticPod } from './manifest.js';

const yaml = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: c
      image: localhost/x:1
      readinessProbe:
        tcpSocket: { port: 80 }
`;
const opts = { source: 'file' as const, origin: '/m/web.yaml', nodeName: 'node1', now: '2026-01-01T00:00:00Z' };

test('static pod defaulting: name suffix, namespace, uid hash, annotations, API defaults', () => {
  const p = decodeStaticPod(yaml, opts);
  assert.equal(p.metadata.name, 'web-node1');
  assert.equal(p.metadata.namespace, 'default');
  assert.match(p.metadata.uid!, /^[0-9a-f]{32}$/);
  assert.equal(p.metadata.annotations!['kubernetes.io/config.source'], 'file');
  assert.equal(p.metadata.annotations!['kubernetes.io/config.hash'], p.metadata.uid);
  assert.equal(p.spec.nodeName, 'node1');
  assert.equal(p.spec.restartPolicy, 'Always');
  assert.equal(p.spec.terminationGracePeriodSeconds, 30);
  assert.equal(p.spec.containers[0]!.imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(
    { ...p.spec.containers[0]!.readinessProbe, tcpSocket: undefined },
    { tcpSocket: undefined, initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
  );
});

test('the UID depends on content, node and path, and is stable', () => {
  const a = decodeStaticPod(yaml, opts).metadata.uid;
  assert.equal(decodeStaticPod(yaml, opts).metadata.uid, a);
  assert.notEqual(decodeStaticPod(yaml, { ...opts, nodeName: 'node2' }).metadata.uid, a);
  assert.notEqual(decodeStaticPod(yaml, { ...opts, origin: '/m/other.yaml' }).metadata.uid, a);
  assert.notEqual(decodeStaticPod(yaml.replace('localhost/x:1', 'localhost/x:2'), opts).metadata.uid, a);
});

test('JSON manifests decode too; :latest images default to Always', () => {
  const p = decodeStaticPod(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'j' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }), opts);
  assert.equal(p.spec.containers[0]!.imagePullPolicy, 'Always');
});

const broken: { name: string; text: string; field: string }[] = [
  { name: 'not YAML', text: 'a: [', field: '(root)' },
  { name: 'no containers', text: 'metadata: {name: x}\nspec: {containers: []}', field: 'spec.containers' },
  { name: 'no name', text: 'metadata: {}\nspec: {containers: [{name: c, image: i}]}', field: 'metadata.name' },
  { name: 'bad container name', text: 'metadata: {name: x}\nspec: {containers: [{name: C_1, image: i}]}', field: 'spec.containers[0].name' },
  { name: 'no image', text: 'metadata: {name: x}\nspec: {containers: [{name: c}]}', field: 'spec.containers[0].image' },
  { name: 'duplicate container', text: 'metadata: {name: x}\nspec: {containers: [{name: c, image: i}, {name: c, image: i}]}', field: 'spec.containers[1].name' },
  { name: 'wrong kind', text: 'kind: Service\nmetadata: {name: x}\nspec: {containers: [{name: c, image: i}]}', field: 'kind' },
  { name: 'two handlers in a probe', text: 'metadata: {name: x}\nspec: {containers: [{name: c, image: i, livenessProbe: {exec: {command: [a]}, tcpSocket: {port: 1}}}]}', field: 'spec.containers[0].livenessProbe' },
  { name: 'liveness successThreshold', text: 'metadata: {name: x}\nspec: {containers: [{name: c, image: i, livenessProbe: {exec: {command: [a]}, successThreshold: 2}}]}', field: 'spec.containers[0].livenessProbe.successThreshold' },
  { name: 'mount of a missing volume', text: 'metadata: {name: x}\nspec: {containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /v}]}]}', field: 'spec.containers[0].volumeMounts[0].name' },
  { name: 'two documents', text: 'metadata: {name: x}\n---\nmetadata: {name: y}', field: '(root)' },
];
for (const tc of broken) {
  test(`broken manifest: ${tc.name}`, () => {
    assert.throws(() => decodeStaticPod(tc.text, opts), (e) => isCocoletError(e, ErrorCode.ManifestInvalid) && e.context.field === tc.field && e.context.manifest === opts.origin);
  });
}
