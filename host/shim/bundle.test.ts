import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { OptionsSchema } from '../../shared/gen/containerd/runtimeoptions/v1/api_pb.js';
import { groupId, sharesHostNetwork, socketPath, taskRole, type OciSpec } from './bundle.js';
import { decodeRuntimeOptions } from './options.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/errors.js';

const roles: { name: string; spec: OciSpec; id: string; role: string; group: string }[] = [
  { name: 'CRI pause container', spec: { annotations: { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': 'sb1' } }, id: 'sb1', role: 'sandbox', group: 'sb1' },
  { name: 'CRI container joins its sandbox', spec: { annotations: { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb1' } }, id: 'c1', role: 'container', group: 'sb1' },
  { name: 'ctr run container is standalone', spec: {}, id: 'demo', role: 'standalone', group: 'demo' },
  { name: 'explicit group annotation wins', spec: { annotations: { 'io.containerd.runc.v2.group': 'g', 'io.kubernetes.cri.sandbox-id': 'sb1', 'io.kubernetes.cri.container-type': 'container' } }, id: 'c2', role: 'container', group: 'g' },
];
for (const tc of roles) {
  test(`bundle: ${tc.name}`, () => {
    assert.equal(taskRole(tc.spec), tc.role);
    assert.equal(groupId(tc.spec, tc.id), tc.group);
  });
}

test('bundle: socket path is sha256(address/namespace/group) like containerd shims', () => {
  const want = createHash('sha256').update('/run/c.sock/k8s.io/sb1').digest('hex');
  assert.equal(socketPath('/run/containerd/s', '/run/c.sock', 'k8s.io', 'sb1'), `/run/containerd/s/${want}`);
  assert.notEqual(socketPath('/d', '/a', 'n', 'x'), socketPath('/d', '/a', 'n2', 'x'));
});

const optionCases = [
  { name: 'empty stdin', bytes: new Uint8Array(), want: '' },
  {
    name: 'CRI options with a bare type URL',
    bytes: toBinary(AnySchema, create(AnySchema, { typeUrl: 'runtimeoptions.v1.Options', value: toBinary(OptionsSchema, create(OptionsSchema, { typeUrl: 'io.cocolet.v1', configPath: '/etc/cocolet/shim.toml' })) })),
    want: '/etc/cocolet/shim.toml',
  },
  {
    name: 'prefixed type URL',
    bytes: toBinary(AnySchema, create(AnySchema, { typeUrl: 'type.googleapis.com/runtimeoptions.v1.Options', value: toBinary(OptionsSchema, create(OptionsSchema, { configPath: '/c.toml' })) })),
    want: '/c.toml',
  },
];
for (const tc of optionCases) {
  test(`options: ${tc.name}`, async () => assert.equal((await decodeRuntimeOptions(tc.bytes)).configPath, tc.want));
}

test('options: a runc options Any is refused with a clear error', async () => {
  const bytes = toBinary(AnySchema, create(AnySchema, { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array([8, 1]) }));
  await assert.rejects(decodeRuntimeOptions(bytes), (e) => isCocoletError(e, ErrorCode.InvalidArgument));
});

test('options: garbage on stdin is refused', async () => {
  await assert.rejects(decodeRuntimeOptions(new Uint8Array([0xff, 0xff, 0xff])), (e) => isCocoletError(e, ErrorCode.InvalidArgument));
});

test('options: containerd 2.3 BootstrapParams are recognised by id and namespace', async () => {
  const { BootstrapParamsSchema } = await import('../../shared/gen/containerd/bootstrap/v1/bootstrap_pb.js');
  const opts = create(AnySchema, { typeUrl: 'runtimeoptions.v1.Options', value: toBinary(OptionsSchema, create(OptionsSchema, { configPath: '/etc/cocolet/shim.toml' })) });
  const bytes = toBinary(BootstrapParamsSchema, create(BootstrapParamsSchema, { instanceId: 'sb1', namespace: 'k8s.io', containerdTtrpcAddress: '/run/containerd/containerd.sock.ttrpc', socketDir: '/run/s', extensions: [{ value: opts }] }));
  const r = await decodeRuntimeOptions(bytes, { id: 'sb1', namespace: 'k8s.io' });
  assert.equal(r.configPath, '/etc/cocolet/shim.toml');
  assert.deepEqual(r.bootstrap, { ttrpcAddress: '/run/containerd/containerd.sock.ttrpc', socketDir: '/run/s' });
  // The same bytes for another task id are not taken as bootstrap params.
  await assert.rejects(decodeRuntimeOptions(bytes, { id: 'other', namespace: 'k8s.io' }));
});

test('sharesHostNetwork: a spec listing namespaces without a network one shares the host network; one with it (path or new) does not', () => {
  assert.equal(sharesHostNetwork({ linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] } }), true);
  assert.equal(sharesHostNetwork({ linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/cni-1' }] } }), false);
  assert.equal(sharesHostNetwork({ linux: { namespaces: [{ type: 'network' }] } }), false);
  // no namespace list at all: nothing to judge (not a CRI or ctr spec)
  assert.equal(sharesHostNetwork({}), false);
});
