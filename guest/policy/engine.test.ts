import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { CopyFileRequestSchema, CreateContainerRequestSchema, CreateSandboxRequestSchema, ExecProcessRequestSchema } from '../../shared/gen/kata/agent_pb.js';
import { PolicyEngine } from './engine.js';
import { parsePolicy } from './document.js';
import { CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY } from './defaults.js';
import { ErrorCode } from '../../shared/errors/index.js';

const conf = new PolicyEngine(CONFIDENTIAL_DEFAULT_POLICY);
const open = new PolicyEngine(PERMISSIVE_POLICY);
const pinned = new PolicyEngine(parsePolicy({
  version: 1, name: 'pinned', default: 'deny',
  rules: {
    CreateContainer: { allow: true, images: ['^reg\\.example/app:', 'sha256:' + 'a'.repeat(64)], env: ['^PATH=', '^MODE=(prod|dev)$'], commands: [['/app', '--serve']] },
    ExecProcess: { allow: true, commandPatterns: ['^/bin/date( -u)?$'] },
  },
}));

const confProcess = new PolicyEngine(CONFIDENTIAL_DEFAULT_POLICY, true);
const hostRootfs = { driver: 'cocolet.host_rootfs', source: '/run/bundle/rootfs', fstype: 'bind' };
const cc = (init: object) => create(CreateContainerRequestSchema, { containerId: 'c', storages: [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }], ...init } as never);
const proc = (args: string[], env: string[] = ['PATH=/bin']) => ({ OCI: { Process: { Args: args, Env: env } } });

const cases: { name: string; engine: PolicyEngine; method: string; req: unknown; allowed: boolean; rule?: string }[] = [
  { name: 'confidential: exec denied by its rule', engine: conf, method: 'ExecProcess', req: create(ExecProcessRequestSchema, {}), allowed: false, rule: 'rules.ExecProcess.allow' },
  { name: 'confidential: stdout read denied', engine: conf, method: 'ReadStdout', req: {}, allowed: false, rule: 'rules.ReadStdout.allow' },
  { name: 'confidential: SetPolicy denied', engine: conf, method: 'SetPolicy', req: {}, allowed: false },
  { name: 'confidential: unknown method falls to default deny', engine: conf, method: 'AddSwap', req: {}, allowed: false, rule: 'default' },
  { name: 'confidential: wait allowed', engine: conf, method: 'WaitProcess', req: {}, allowed: true },
  { name: 'confidential: plain container allowed', engine: conf, method: 'CreateContainer', req: cc(proc(['/bin/sh'])), allowed: true },
  { name: 'host bind mount denied', engine: conf, method: 'CreateContainer', req: cc({ OCI: { Process: { Args: ['x'] }, Mounts: [{ destination: '/h', source: '/etc', type: 'bind' }] } }), allowed: false, rule: 'rules.CreateContainer.allowHostMounts' },
  { name: 'bind of a CopyFile-d shared file allowed', engine: conf, method: 'CreateContainer', req: cc({ OCI: { Process: { Args: ['x'] }, Mounts: [{ destination: '/etc/hosts', source: '/run/kata-containers/shared/containers/abc-hosts', type: 'bind' }] } }), allowed: true },
  { name: 'traversal out of the shared folder is a host mount', engine: conf, method: 'CreateContainer', req: cc({ OCI: { Process: { Args: ['x'] }, Mounts: [{ destination: '/x', source: '/run/kata-containers/shared/containers/../../../etc', type: 'bind' }] } }), allowed: false },
  { name: 'host storage denied', engine: conf, method: 'CreateContainer', req: cc({ storages: [{ driver: 'local', source: '/dev/sda' }] }), allowed: false },
  { name: 'host-prepared rootfs is host storage for a VM agent', engine: conf, method: 'CreateContainer', req: cc({ storages: [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }, hostRootfs] }), allowed: false, rule: 'rules.CreateContainer.allowHostMounts' },
  { name: 'host-prepared rootfs passes for a process-mode agent', engine: confProcess, method: 'CreateContainer', req: cc({ storages: [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }, hostRootfs] }), allowed: true },
  { name: 'process mode: other host storage still denied', engine: confProcess, method: 'CreateContainer', req: cc({ storages: [hostRootfs, { driver: 'local', source: '/dev/sda' }] }), allowed: false },
  { name: 'extra capability is privileged', engine: open, method: 'CreateContainer', req: cc({ OCI: { Process: { Args: ['x'], Capabilities: { Bounding: ['CAP_SYS_ADMIN'] } } } }), allowed: false, rule: 'rules.CreateContainer.allowPrivileged' },
  { name: 'host devices are privileged', engine: open, method: 'CreateContainer', req: cc({ OCI: { Process: { Args: ['x'] }, Linux: { Devices: [{ Path: '/dev/kvm' }] } } }), allowed: false },
  { name: 'joining a host namespace is privileged', engine: open, method: 'CreateContainer', req: cc({ OCI: { Process: { Args: ['x'] }, Linux: { Namespaces: [{ Type: 'network', Path: '/proc/1/ns/net' }] } } }), allowed: false },
  { name: 'guest hooks denied in CreateSandbox', engine: conf, method: 'CreateSandbox', req: create(CreateSandboxRequestSchema, { guestHookPath: '/hooks' }), allowed: false },
  { name: 'CopyFile to the shared path allowed', engine: conf, method: 'CopyFile', req: create(CopyFileRequestSchema, { path: `/run/kata-containers/shared/containers/${'a'.repeat(64)}-0123456789abcdef-hosts` }), allowed: true },
  { name: 'CopyFile elsewhere denied', engine: conf, method: 'CopyFile', req: create(CopyFileRequestSchema, { path: '/etc/passwd' }), allowed: false, rule: 'rules.CopyFile.paths' },
  { name: 'CopyFile traversal denied', engine: open, method: 'CopyFile', req: create(CopyFileRequestSchema, { path: '/run/kata-containers/shared/containers/../x' }), allowed: false },
  { name: 'pinned: allowed image, argv and env', engine: pinned, method: 'CreateContainer', req: cc(proc(['/app', '--serve'], ['PATH=/bin', 'MODE=prod'])), allowed: true },
  { name: 'pinned: other image denied', engine: pinned, method: 'CreateContainer', req: cc({ ...proc(['/app', '--serve']), storages: [{ driver: 'image_guest_pull', source: 'evil/app:1' }] }), allowed: false, rule: 'rules.CreateContainer.images' },
  { name: 'pinned: other argv denied', engine: pinned, method: 'CreateContainer', req: cc(proc(['/bin/sh'])), allowed: false, rule: 'rules.CreateContainer.commands' },
  { name: 'pinned: env outside the list denied', engine: pinned, method: 'CreateContainer', req: cc(proc(['/app', '--serve'], ['PATH=/bin', 'MODE=debug'])), allowed: false, rule: 'rules.CreateContainer.env' },
  { name: 'pinned: exec matching a pattern allowed', engine: pinned, method: 'ExecProcess', req: create(ExecProcessRequestSchema, { process: { Args: ['/bin/date', '-u'] } }), allowed: true },
  { name: 'pinned: other exec denied', engine: pinned, method: 'ExecProcess', req: create(ExecProcessRequestSchema, { process: { Args: ['/bin/sh'] } }), allowed: false },
];

for (const tc of cases) {
  test(tc.name, () => {
    const d = tc.engine.evaluate(tc.method, tc.req);
    assert.equal(d.allowed, tc.allowed, d.reason);
    if (tc.rule) assert.equal(d.rule, tc.rule);
  });
}

test('digest pins are checked once the manifest digest is known', () => {
  assert.equal(pinned.checkImageDigest('sha256:' + 'a'.repeat(64)).allowed, true);
  assert.equal(pinned.checkImageDigest('sha256:' + 'b'.repeat(64)).allowed, false);
  assert.equal(conf.checkImageDigest('sha256:' + 'b'.repeat(64)).allowed, true);
  assert.equal(pinned.pinsImageDigests(), true);
  assert.equal(conf.pinsImageDigests(), false);
});

const invalid: { name: string; doc: unknown }[] = [
  { name: 'wrong version', doc: { version: 2, default: 'deny', rules: {} } },
  { name: 'bad default', doc: { version: 1, default: 'maybe', rules: {} } },
  { name: 'unknown rule field', doc: { version: 1, default: 'deny', rules: { ExecProcess: { allow: true, sudo: true } } } },
  { name: 'bad regex', doc: { version: 1, default: 'deny', rules: { CreateContainer: { allow: true, images: ['('] } } } },
  { name: 'allow not boolean', doc: { version: 1, default: 'deny', rules: { ExecProcess: { allow: 'yes' } } } },
  { name: 'not JSON', doc: '{' },
];
for (const tc of invalid) {
  test(`invalid policy: ${tc.name}`, () => {
    assert.throws(() => parsePolicy(tc.doc), (e: { code?: string }) => e.code === ErrorCode.PolicyInvalid);
  });
}
