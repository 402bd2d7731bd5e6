// A policy generated from the example confidential pod admits the request the shim sends for it
// (containerd's CRI spec after the shim dropped host binds) and nothing a step beyond it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { parse as parseYaml } from 'yaml';
import { CreateContainerRequestSchema } from '../../shared/gen/kata/agent_pb.js';
import { generatePolicy } from '../../shared/agent-policy/generate.js';
import { PolicyEngine } from './engine.js';
import { CRI_DEFAULT_MOUNTS } from './testing.js';

const root = process.env.COCOLET_ROOT ?? process.cwd();
const podYaml = parseYaml(readFileSync(join(root, 'examples', 'pods-confidential', 'busybox-coco.yaml'), 'utf8')) as { spec: { containers: { command: string[]; args: string[] }[] } };
const engine = new PolicyEngine(generatePolicy(podYaml).policy);
const main = podYaml.spec.containers[0]!;
const argv = [...main.command, ...main.args];

function request(over: { args?: string[]; env?: string[]; mounts?: { destination: string; type: string; source: string; options: string[] }[]; name?: string; image?: string } = {}) {
  return create(CreateContainerRequestSchema, {
    containerId: 'c1', execId: 'c1',
    storages: [{ driver: 'image_guest_pull', source: over.image ?? 'localhost/cocolet/busybox:1' }],
    OCI: {
      Process: { Args: over.args ?? argv, Env: over.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=busybox-coco', 'KUBERNETES_SERVICE_HOST=10.96.0.1', 'KUBERNETES_PORT=tcp://10.96.0.1:443'], Cwd: '/', User: { UID: 0, GID: 0 } },
      Mounts: over.mounts ?? CRI_DEFAULT_MOUNTS,
      Annotations: { 'io.kubernetes.cri.container-name': over.name ?? 'main', 'io.kubernetes.cri.image-name': 'localhost/cocolet/busybox:1' },
      Linux: { Namespaces: [{ Type: 'pid' }, { Type: 'ipc' }, { Type: 'uts' }, { Type: 'mount' }, { Type: 'network' }] },
    },
  } as never);
}

const cases: { name: string; req: ReturnType<typeof request>; rule?: string }[] = [
  { name: 'the pod\'s own container', req: request() },
  { name: 'another argv', req: request({ args: ['/bin/sh', '-c', 'cat /proc/1/environ'] }), rule: 'CreateContainer.command' },
  { name: 'another image', req: request({ image: 'evil.example/busybox:1' }), rule: 'CreateContainer.image' },
  { name: 'a container the pod does not have', req: request({ name: 'debug' }), rule: 'CreateContainer.containers' },
  { name: 'an extra proc mount', req: request({ mounts: [{ destination: '/hostproc', type: 'proc', source: 'proc', options: [] }] }), rule: 'CreateContainer.mounts' },
];
for (const tc of cases) {
  test(`generated policy: ${tc.name}`, () => {
    const d = engine.evaluate('CreateContainer', tc.req);
    assert.equal(d.allowed, tc.rule === undefined, `${d.rule}: ${d.reason}`);
    if (tc.rule) assert.equal(d.rule, tc.rule);
  });
}

test('generated policy: env left to the image must be the image\'s, after the pull', () => {
  const image = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] };
  assert.equal(engine.checkImageConfig(request(), image).allowed, true);
  const d = engine.checkImageConfig(request({ env: ['PATH=/tmp/evil:/bin'] }), image);
  assert.deepEqual([d.allowed, d.rule], [false, 'CreateContainer.env']);
});
