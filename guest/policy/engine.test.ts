import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { installStringInterner, uninstallStringInterner } from '../../shared/ttrpc/intern.js';
import { POLICY_INTERNER } from './vocabulary.js';
import { type CreateContainerRequest, CopyFileRequestSchema, CreateContainerRequestSchema, CreateSandboxRequestSchema, ExecProcessRequestSchema } from '../../shared/gen/kata/agent_pb.js';
import { PolicyEngine } from './engine.js';
import { CRI_DEFAULT_MOUNTS } from './testing.js';
import { parsePolicy } from './document.js';
import { ANY_ORDINARY_CONTAINER, CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY, POD_DEFAULT_MOUNTS } from '../../shared/agent-policy/defaults.js';
import { ErrorCode } from '../../shared/errors/index.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);
const conf = new PolicyEngine(CONFIDENTIAL_DEFAULT_POLICY);
const open = new PolicyEngine(PERMISSIVE_POLICY);
const pinned = new PolicyEngine(parsePolicy({
  version: 2, name: 'pinned', default: 'deny',
  rules: { CreateContainer: { allow: true }, ExecProcess: { allow: true, commandPatterns: ['^/bin/date( -u)?$'] } },
  containers: [
    { ...ANY_ORDINARY_CONTAINER, name: 'app', image: `reg.example/app:1@${DIGEST}`, imageDigest: DIGEST, command: ['/app', '--serve'], env: ['PATH=/bin', 'MODE=(prod|dev)'], workingDir: '/srv', user: { uid: 1000, gid: 1000 } },
    { ...ANY_ORDINARY_CONTAINER, name: 'side', image: 'reg.example/side:2', args: ['--quiet'], env: ['PATH=/bin'], imageDefaults: true },
  ],
}));

const confProcess = new PolicyEngine(CONFIDENTIAL_DEFAULT_POLICY, true);
const hostRootfs = { driver: 'cocolet.host_rootfs', source: '/run/bundle/rootfs', fstype: 'bind' };
const SHARED = `/run/kata-containers/shared/containers/${'a'.repeat(64)}-0123456789abcdef`;
type Init = Record<string, unknown>;
const cc = (oci: Init = {}, init: Init = {}) => create(CreateContainerRequestSchema, {
  containerId: 'c', storages: [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }],
  OCI: { Process: { Args: ['/bin/sh'], Env: ['PATH=/bin'], Cwd: '/' }, ...oci }, ...init,
} as never);
const mount = (destination: string, type: string, source: string, options: string[] = []) => ({ Mounts: [{ destination, type, source, options }] });
/** The mounts containerd's CRI puts in an ordinary container's spec (after the shim dropped host binds). */
const criMounts = {
  Mounts: [
    ...CRI_DEFAULT_MOUNTS,
    { destination: '/etc/hosts', type: 'bind', source: `${SHARED}-hosts`, options: ['rbind', 'rprivate', 'rw'] },
    { destination: '/var/run/secrets/kubernetes.io/serviceaccount', type: 'bind', source: `${SHARED}-sa`, options: ['rbind', 'rprivate', 'ro'] },
  ],
};
const seccomp = (DefaultAction: string, Syscalls: Init[], Flags: string[] = []) => ({ Process: { Args: ['/bin/sh'] }, Linux: { Seccomp: { DefaultAction, Syscalls, Flags } } });
const named = (name: string, oci: Init, storages?: unknown[]) => cc({ Annotations: { 'io.kubernetes.cri.container-name': name }, ...oci }, storages ? { storages } : {});
const appProc = { Process: { Args: ['/app', '--serve'], Env: ['PATH=/bin', 'MODE=prod'], Cwd: '/srv', User: { UID: 1000, GID: 1000 } } };
const appImage = [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }];

const cases: { name: string; engine: PolicyEngine; method: string; req: unknown; allowed: boolean; rule?: string; reason?: RegExp }[] = [
  { name: 'confidential: exec denied by its rule', engine: conf, method: 'ExecProcess', req: create(ExecProcessRequestSchema, {}), allowed: false, rule: 'rules.ExecProcess.allow' },
  { name: 'confidential: stdout read denied', engine: conf, method: 'ReadStdout', req: {}, allowed: false, rule: 'rules.ReadStdout.allow' },
  { name: 'confidential: SetPolicy denied', engine: conf, method: 'SetPolicy', req: {}, allowed: false },
  { name: 'confidential: unknown method falls to default deny', engine: conf, method: 'AddSwap', req: {}, allowed: false, rule: 'default' },
  { name: 'a method named like an Object property is no rule', engine: conf, method: 'constructor', req: {}, allowed: false, rule: 'default' },
  { name: 'confidential: SIGTERM allowed', engine: conf, method: 'SignalProcess', req: { containerId: 'c', execId: '', signal: 15 }, allowed: true },
  { name: 'confidential: SIGSTOP denied (a pause by another name)', engine: conf, method: 'SignalProcess', req: { containerId: 'c', execId: '', signal: 19 }, allowed: false, rule: 'rules.SignalProcess.signals' },
  { name: 'confidential: wait allowed', engine: conf, method: 'WaitProcess', req: {}, allowed: true },
  { name: 'confidential: plain container allowed', engine: conf, method: 'CreateContainer', req: cc(), allowed: true },
  { name: 'confidential: the CRI default mounts and kubelet binds allowed', engine: conf, method: 'CreateContainer', req: cc(criMounts), allowed: true },
  { name: 'extra proc mount denied', engine: conf, method: 'CreateContainer', req: cc(mount('/hostproc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev'])), allowed: false, rule: 'CreateContainer.mounts', reason: /^\/hostproc \(proc\) is not an allowed mount$/ },
  { name: 'read-write sysfs denied', engine: conf, method: 'CreateContainer', req: cc(mount('/sys', 'sysfs', 'sysfs', ['nosuid', 'noexec', 'nodev', 'rw'])), allowed: false, rule: 'CreateContainer.mounts', reason: /must be read-only/ },
  { name: 'proc without nodev denied', engine: conf, method: 'CreateContainer', req: cc(mount('/proc', 'proc', 'proc', ['nosuid', 'noexec'])), allowed: false, reason: /lacks option nodev/ },
  { name: 'read-write cgroup denied', engine: conf, method: 'CreateContainer', req: cc(mount('/sys/fs/cgroup', 'cgroup', 'cgroup', ['nosuid', 'noexec', 'nodev', 'rw'])), allowed: false, reason: /must be read-only/ },
  { name: 'host-copied file bound over /bin/sh denied', engine: conf, method: 'CreateContainer', req: cc(mount('/bin/sh', 'bind', `${SHARED}-sh`, ['rbind'])), allowed: false, reason: /^\/bin\/sh \(bind of a host-copied file\) is not an allowed mount$/ },
  { name: 'proc typed mount with a bind option is a bind', engine: conf, method: 'CreateContainer', req: cc(mount('/proc', 'proc', '/etc', ['rbind'])), allowed: false, reason: /bind of a host path/ },
  { name: 'shared bind with suid option denied', engine: conf, method: 'CreateContainer', req: cc(mount('/etc/hosts', 'bind', `${SHARED}-hosts`, ['rbind', 'suid'])), allowed: false, reason: /option "suid" is not allowed/ },
  { name: 'service account bind must be read-only', engine: conf, method: 'CreateContainer', req: cc(mount('/var/run/secrets/kubernetes.io/serviceaccount', 'bind', `${SHARED}-sa`, ['rbind'])), allowed: false, reason: /must be read-only/ },
  { name: 'host bind mount denied', engine: conf, method: 'CreateContainer', req: cc(mount('/h', 'bind', '/etc')), allowed: false, rule: 'CreateContainer.mounts' },
  { name: 'traversal out of the shared folder is a host path', engine: conf, method: 'CreateContainer', req: cc(mount('/etc/hosts', 'bind', '/run/kata-containers/shared/containers/../../../etc')), allowed: false, reason: /host path/ },
  { name: 'unclean destination denied', engine: conf, method: 'CreateContainer', req: cc(mount('/etc/../proc', 'proc', 'proc')), allowed: false, reason: /not a clean absolute path/ },
  { name: 'overlay mount denied', engine: conf, method: 'CreateContainer', req: cc(mount('/data', 'overlay', 'overlay', ['lowerdir=/'])), allowed: false, reason: /\/data \(overlay\) is not an allowed mount/ },
  { name: 'host storage denied', engine: conf, method: 'CreateContainer', req: cc({}, { storages: [{ driver: 'local', source: '/dev/sda' }] }), allowed: false, rule: 'rules.CreateContainer.allowHostMounts' },
  { name: 'host-prepared rootfs is host storage for a VM agent', engine: conf, method: 'CreateContainer', req: cc({}, { storages: [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }, hostRootfs] }), allowed: false, rule: 'rules.CreateContainer.allowHostMounts' },
  { name: 'host-prepared rootfs passes for a process-mode agent', engine: confProcess, method: 'CreateContainer', req: cc({}, { storages: [{ driver: 'image_guest_pull', source: 'reg.example/app:1' }, hostRootfs] }), allowed: true },
  { name: 'process mode: other host storage still denied', engine: confProcess, method: 'CreateContainer', req: cc({}, { storages: [hostRootfs, { driver: 'local', source: '/dev/sda' }] }), allowed: false },
  { name: 'extra capability denied', engine: open, method: 'CreateContainer', req: cc({ Process: { Args: ['x'], Capabilities: { Bounding: ['CAP_SYS_ADMIN'] } } }), allowed: false, rule: 'CreateContainer.capabilities', reason: /CAP_SYS_ADMIN/ },
  { name: 'default capabilities allowed', engine: conf, method: 'CreateContainer', req: cc({ Process: { Args: ['x'], Capabilities: { Bounding: ['CAP_CHOWN', 'CAP_KILL'], Effective: ['CAP_KILL'] } } }), allowed: true },
  { name: 'devices denied', engine: open, method: 'CreateContainer', req: cc({ Linux: { Devices: [{ Path: '/dev/kvm' }] } }), allowed: false, rule: 'CreateContainer.devices' },
  { name: 'host-attached agent devices denied', engine: conf, method: 'CreateContainer', req: cc({}, { devices: [{ id: 'x', type: 'blk', vmPath: '/dev/vda' }] }), allowed: false, rule: 'CreateContainer.devices' },
  { name: 'joining a namespace by path denied', engine: open, method: 'CreateContainer', req: cc({ Linux: { Namespaces: [{ Type: 'network', Path: '/proc/1/ns/net' }] } }), allowed: false, rule: 'CreateContainer.hostNamespaces' },
  { name: 'the pod pid namespace denied by the confidential default', engine: conf, method: 'CreateContainer', req: cc({}, { sandboxPidns: true }), allowed: false, rule: 'CreateContainer.podPidNamespace' },
  { name: 'the pod pid namespace denied although every host namespace is allowed', engine: new PolicyEngine({ ...PERMISSIVE_POLICY, containers: [{ ...ANY_ORDINARY_CONTAINER, hostNamespaces: ['pid', 'ipc', 'uts', 'network'] }] }), method: 'CreateContainer', req: cc({}, { sandboxPidns: true }), allowed: false, rule: 'CreateContainer.podPidNamespace' },
  { name: 'the pod pid namespace allowed by an entry with podPidNamespace', engine: new PolicyEngine(parsePolicy({ ...PERMISSIVE_POLICY, containers: [{ ...ANY_ORDINARY_CONTAINER, podPidNamespace: true }] })), method: 'CreateContainer', req: cc({}, { sandboxPidns: true }), allowed: true },
  { name: 'seccomp: a filter that only restricts (containerd\'s RuntimeDefault shape) allowed', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ERRNO', [{ Names: ['read', 'write'], Action: 'SCMP_ACT_ALLOW' }, { Names: ['clone3'], Action: 'SCMP_ACT_ERRNO', ErrnoRet: { case: 'errnoret', value: 38 } }, { Names: ['personality'], Action: 'SCMP_ACT_ALLOW', Args: [{ Index: 0n, Value: 8n, Op: 'SCMP_CMP_EQ' }] }])), allowed: true },
  { name: 'seccomp: a Localhost profile blocking sethostname allowed', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ALLOW', [{ Names: ['sethostname'], Action: 'SCMP_ACT_ERRNO' }])), allowed: true },
  { name: 'seccomp: SCMP_ACT_NOTIFY hands syscalls to a listener', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ALLOW', [{ Names: ['openat'], Action: 'SCMP_ACT_NOTIFY' }])), allowed: false, rule: 'CreateContainer.seccomp', reason: /SCMP_ACT_NOTIFY.*another process/ },
  { name: 'seccomp: SCMP_ACT_NOTIFY as the default action', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_NOTIFY', [])), allowed: false, rule: 'CreateContainer.seccomp' },
  { name: 'seccomp: SCMP_ACT_TRACE hands syscalls to a tracer', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ALLOW', [{ Names: ['execve'], Action: 'SCMP_ACT_TRACE' }])), allowed: false, rule: 'CreateContainer.seccomp', reason: /SCMP_ACT_TRACE/ },
  { name: 'seccomp: SCMP_ACT_ERRNO with errno 0 fakes success', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ALLOW', [{ Names: ['setuid'], Action: 'SCMP_ACT_ERRNO', ErrnoRet: { case: 'errnoret', value: 0 } }])), allowed: false, rule: 'CreateContainer.seccomp', reason: /errno 0 .*setuid/ },
  { name: 'seccomp: the SPEC_ALLOW flag weakens the process', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ERRNO', [], ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'])), allowed: false, rule: 'CreateContainer.seccomp', reason: /SPEC_ALLOW/ },
  { name: 'seccomp: an unknown action', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_WHATEVER', [])), allowed: false, rule: 'CreateContainer.seccomp' },
  { name: 'seccomp: an argument rule beyond the six syscall arguments', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ALLOW', [{ Names: ['ioctl'], Action: 'SCMP_ACT_ERRNO', Args: [{ Index: 9n, Op: 'SCMP_CMP_EQ' }] }])), allowed: false, rule: 'CreateContainer.seccomp' },
  { name: 'seccomp: a name the kernel table lacks but shaped like a syscall allowed', engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ERRNO', [{ Names: ['read', 'future_syscall2'], Action: 'SCMP_ACT_ALLOW' }])), allowed: true },
  ...[['Read'], [''], ['read', 'a'.repeat(65)], ['read\0'], [], ['read', 'open at']].map((Names) => (
    { name: `seccomp: names ${JSON.stringify(Names)} are not syscalls`, engine: conf, method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ERRNO', [{ Names, Action: 'SCMP_ACT_ALLOW' }])), allowed: false, rule: 'CreateContainer.seccomp', reason: /names no syscall/ })),
  { name: 'seccomp: an entry admitting SCMP_ACT_NOTIFY (a development policy) lets it through', engine: new PolicyEngine(parsePolicy({ ...PERMISSIVE_POLICY, containers: [{ ...ANY_ORDINARY_CONTAINER, seccomp: { actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_NOTIFY'] } }] })), method: 'CreateContainer', req: cc(seccomp('SCMP_ACT_ALLOW', [{ Names: ['openat'], Action: 'SCMP_ACT_NOTIFY' }])), allowed: true },
  { name: 'namespace types without paths allowed', engine: conf, method: 'CreateContainer', req: cc({ Linux: { Namespaces: [{ Type: 'pid' }, { Type: 'network' }] } }), allowed: true },
  { name: 'sysctl denied', engine: conf, method: 'CreateContainer', req: cc({ Linux: { Sysctl: { 'kernel.core_pattern': '|/x' } } }), allowed: false, rule: 'CreateContainer.sysctls', reason: /kernel\.core_pattern/ },
  { name: 'OCI hooks are privileged', engine: conf, method: 'CreateContainer', req: cc({ Hooks: { Prestart: [{ Path: '/bin/x' }] } }), allowed: false, rule: 'CreateContainer.privileged' },
  { name: 'apparmor unconfined is privileged', engine: conf, method: 'CreateContainer', req: cc({ Process: { Args: ['x'], ApparmorProfile: 'unconfined' } }), allowed: false, rule: 'CreateContainer.privileged' },
  { name: 'uid mappings denied', engine: conf, method: 'CreateContainer', req: cc({ Linux: { UIDMappings: [{ HostID: 0, ContainerID: 0, Size: 1 }] } }), allowed: false, rule: 'CreateContainer.user' },
  { name: 'guest hooks denied in CreateSandbox', engine: conf, method: 'CreateSandbox', req: create(CreateSandboxRequestSchema, { guestHookPath: '/hooks' }), allowed: false },
  { name: 'CopyFile to the shared path allowed', engine: conf, method: 'CopyFile', req: create(CopyFileRequestSchema, { path: `${SHARED}-hosts` }), allowed: true },
  { name: 'CopyFile elsewhere denied', engine: conf, method: 'CopyFile', req: create(CopyFileRequestSchema, { path: '/etc/passwd' }), allowed: false, rule: 'rules.CopyFile.paths' },
  { name: 'CopyFile traversal denied', engine: open, method: 'CopyFile', req: create(CopyFileRequestSchema, { path: '/run/kata-containers/shared/containers/../x' }), allowed: false },
  { name: 'pinned: the pod\'s container allowed', engine: pinned, method: 'CreateContainer', req: named('app', { ...appProc, ...criMounts }, appImage), allowed: true },
  { name: 'pinned: same image by its pinned digest allowed', engine: pinned, method: 'CreateContainer', req: named('app', appProc, [{ driver: 'image_guest_pull', source: `reg.example/app@${DIGEST}` }]), allowed: true },
  { name: 'pinned: other digest denied', engine: pinned, method: 'CreateContainer', req: named('app', appProc, [{ driver: 'image_guest_pull', source: `reg.example/app@sha256:${'b'.repeat(64)}` }]), allowed: false, rule: 'CreateContainer.image' },
  { name: 'pinned: other image denied', engine: pinned, method: 'CreateContainer', req: named('app', appProc, [{ driver: 'image_guest_pull', source: 'evil/app:1' }]), allowed: false, rule: 'CreateContainer.image' },
  { name: 'pinned: unknown container name denied', engine: pinned, method: 'CreateContainer', req: named('evil', appProc, appImage), allowed: false, rule: 'CreateContainer.containers' },
  { name: 'pinned: no container name denied (no * entry)', engine: pinned, method: 'CreateContainer', req: cc(appProc, { storages: appImage }), allowed: false, rule: 'CreateContainer.containers' },
  { name: 'pinned: other argv denied', engine: pinned, method: 'CreateContainer', req: named('app', { Process: { ...appProc.Process, Args: ['/bin/sh'] } }, appImage), allowed: false, rule: 'CreateContainer.command' },
  { name: 'pinned: env outside the list denied', engine: pinned, method: 'CreateContainer', req: named('app', { Process: { ...appProc.Process, Env: ['MODE=debug'] } }, appImage), allowed: false, rule: 'CreateContainer.env' },
  { name: 'pinned: env regexes match whole entries', engine: pinned, method: 'CreateContainer', req: named('app', { Process: { ...appProc.Process, Env: ['PATH=/bin:/tmp/evil'] } }, appImage), allowed: false, rule: 'CreateContainer.env' },
  { name: 'pinned: other working dir denied', engine: pinned, method: 'CreateContainer', req: named('app', { Process: { ...appProc.Process, Cwd: '/' } }, appImage), allowed: false, rule: 'CreateContainer.workingDir' },
  { name: 'pinned: root user denied', engine: pinned, method: 'CreateContainer', req: named('app', { Process: { ...appProc.Process, User: { UID: 0, GID: 0 } } }, appImage), allowed: false, rule: 'CreateContainer.user' },
  { name: 'pinned: env left to the image passes the first check', engine: pinned, method: 'CreateContainer', req: named('side', { Process: { Args: ['/side', '--quiet'], Env: ['PATH=/bin', 'LANG=C'] } }, [{ driver: 'image_guest_pull', source: 'reg.example/side:2' }]), allowed: true },
  { name: 'pinned: exec matching a pattern allowed', engine: pinned, method: 'ExecProcess', req: create(ExecProcessRequestSchema, { process: { Args: ['/bin/date', '-u'] } }), allowed: true },
  { name: 'pinned: other exec denied', engine: pinned, method: 'ExecProcess', req: create(ExecProcessRequestSchema, { process: { Args: ['/bin/sh'] } }), allowed: false },
];

for (const tc of cases) {
  test(tc.name, () => {
    const d = tc.engine.evaluate(tc.method, tc.req);
    assert.equal(d.allowed, tc.allowed, `${d.rule}: ${d.reason}`);
    if (tc.rule) assert.equal(d.rule, tc.rule);
    if (tc.reason) assert.match(d.reason, tc.reason);
  });
}

test('every CreateContainer case decides the same when its request is decoded through the agent\'s interner', (t) => {
  installStringInterner(POLICY_INTERNER);
  t.after(() => uninstallStringInterner());
  let n = 0;
  for (const tc of cases) {
    if (tc.method !== 'CreateContainer') continue;
    const decoded = fromBinary(CreateContainerRequestSchema, toBinary(CreateContainerRequestSchema, tc.req as CreateContainerRequest));
    const want = tc.engine.evaluate(tc.method, tc.req);
    const got = tc.engine.evaluate(tc.method, decoded);
    assert.deepEqual([got.allowed, got.rule, got.reason], [want.allowed, want.rule, want.reason], tc.name);
    n++;
  }
  assert.ok(n > 40, `${n} cases`);
});

test('digest pins are checked per container once the manifest digest is known', () => {
  const app = named('app', appProc, appImage);
  assert.equal(pinned.checkImageDigest(app, DIGEST).allowed, true);
  const other = pinned.checkImageDigest(app, 'sha256:' + 'b'.repeat(64));
  assert.deepEqual([other.allowed, other.rule], [false, 'CreateContainer.imageDigest']);
  assert.equal(conf.checkImageDigest(cc(), 'sha256:' + 'b'.repeat(64)).allowed, true);
  assert.equal(pinned.pinsImageDigests(), true);
  assert.equal(conf.pinsImageDigests(), false);
});

test('what a policy leaves to the image is checked against the pulled image config', () => {
  const side = (args: string[], env: string[], cwd = '/') => named('side', { Process: { Args: args, Env: env, Cwd: cwd } });
  const image = { Entrypoint: ['/side'], Cmd: ['--loud'], Env: ['PATH=/bin', 'LANG=C'], WorkingDir: '/w' };
  const check = (r: ReturnType<typeof side>) => pinned.checkImageConfig(r, image);
  assert.equal(check(side(['/side', '--quiet'], ['LANG=C'])).allowed, true);
  assert.equal(check(side(['/side', '--quiet'], ['LANG=C'], '/w')).allowed, true);
  assert.equal(check(side(['/side', '--loud'], [])).rule, 'CreateContainer.command');
  assert.equal(check(side(['/side', '--quiet'], ['LANG=de'])).rule, 'CreateContainer.env');
  assert.equal(check(side(['/side', '--quiet'], [], '/etc')).rule, 'CreateContainer.workingDir');
});

test('keepSetuid is per container, default off', () => {
  const doc = parsePolicy({ version: 2, default: 'deny', containers: [{ ...ANY_ORDINARY_CONTAINER, name: 'a', keepSetuid: true }, { ...ANY_ORDINARY_CONTAINER }] });
  const e = new PolicyEngine(doc);
  assert.equal(e.keepsSetuid(named('a', {})), true);
  assert.equal(e.keepsSetuid(named('b', {})), false);
});

test('entries sharing compiled pieces still decide by their own rules (mount options, read-only, capabilities, env)', () => {
  // a and b differ only where noted; the engine compiles what they have in common once (CompileCache)
  const base = { ...ANY_ORDINARY_CONTAINER, mounts: [...POD_DEFAULT_MOUNTS, { destination: '/data', type: 'tmpfs', source: 'guest', options: ['nosuid'] }], env: ['PATH=/bin', 'X=[a-z]+'] };
  const doc = parsePolicy({
    version: 2, default: 'deny', rules: { CreateContainer: { allow: true } },
    containers: [
      { ...base, name: 'a' },
      { ...base, name: 'b', mounts: [...POD_DEFAULT_MOUNTS, { destination: '/data', type: 'tmpfs', source: 'guest', options: ['nosuid', 'noexec'], readOnly: true }], capabilities: ['CAP_CHOWN'], env: ['PATH=/bin', 'X=[0-9]+'] },
      { ...base, name: 'c', mounts: [...POD_DEFAULT_MOUNTS, { destination: '/data', type: 'tmpfs', source: 'guest', options: ['nosuid'] }] },
    ],
  });
  const e = new PolicyEngine(doc);
  const req = (name: string, options: string[], caps: string[] = [], env = ['PATH=/bin']) => named(name, { Process: { Args: ['/bin/sh'], Env: env, Cwd: '/', Capabilities: { Bounding: caps } }, ...mount('/data', 'tmpfs', 'tmpfs', options) });
  const decide = (r: ReturnType<typeof req>) => { const d = e.evaluate('CreateContainer', r); return d.allowed ? 'allowed' : `${d.rule}: ${d.reason}`; };
  assert.equal(decide(req('a', ['nosuid', 'rw'])), 'allowed');
  assert.equal(decide(req('c', ['nosuid', 'rw'])), 'allowed');
  assert.equal(decide(req('b', ['nosuid', 'rw'])), 'CreateContainer.mounts: /data (tmpfs) lacks option noexec');
  assert.equal(decide(req('b', ['nosuid', 'noexec', 'rw'])), 'CreateContainer.mounts: /data (tmpfs) must be read-only');
  assert.equal(decide(req('b', ['nosuid', 'noexec', 'ro'])), 'allowed');
  assert.equal(decide(req('a', ['nosuid', 'noexec', 'ro'])), 'allowed');
  assert.equal(decide(req('a', [], ['CAP_KILL'])), 'CreateContainer.mounts: /data (tmpfs) lacks option nosuid');
  assert.equal(decide(req('a', ['nosuid'], ['CAP_KILL'])), 'allowed');
  assert.equal(decide(req('b', ['nosuid', 'noexec', 'ro'], ['CAP_KILL'])), 'CreateContainer.capabilities: capability "CAP_KILL" is not allowed');
  assert.equal(decide(req('a', ['nosuid'], [], ['X=abc'])), 'allowed');
  assert.match(decide(req('a', ['nosuid'], [], ['X=123'])), /^CreateContainer\.env: /);
  assert.equal(decide(req('b', ['nosuid', 'noexec', 'ro'], [], ['X=123'])), 'allowed');
  assert.match(decide(req('b', ['nosuid', 'noexec', 'ro'], [], ['X=abc'])), /^CreateContainer\.env: /);
});

const ok = { version: 2, default: 'deny', containers: [{ name: '*', mounts: POD_DEFAULT_MOUNTS, capabilities: [] }] };
const invalid: { name: string; doc: unknown; field: string }[] = [
  { name: 'version 1 is refused with a reason', doc: { version: 1, default: 'deny', rules: {} }, field: 'version' },
  { name: 'unknown version', doc: { ...ok, version: 3 }, field: 'version' },
  { name: 'bad default', doc: { ...ok, default: 'maybe' }, field: 'default' },
  { name: 'unknown top-level field', doc: { ...ok, extra: 1 }, field: 'extra' },
  { name: 'unknown rule field', doc: { ...ok, rules: { ExecProcess: { allow: true, sudo: true } } }, field: 'rules.ExecProcess.sudo' },
  { name: 'bad regex', doc: { ...ok, rules: { CopyFile: { allow: true, paths: ['('] } } }, field: 'rules.CopyFile.paths[0]' },
  { name: 'allow not boolean', doc: { ...ok, rules: { ExecProcess: { allow: 'yes' } } }, field: 'rules.ExecProcess.allow' },
  { name: 'rule name not a method', doc: { ...ok, rules: { __proto__x: { allow: true } } }, field: 'rules.__proto__x' },
  { name: 'container without mounts', doc: { ...ok, containers: [{ name: 'a', capabilities: [] }] }, field: 'containers[0].mounts' },
  { name: 'mount with an unclean destination', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [{ destination: '/a/../b', type: 'proc', source: 'guest' }] }] }, field: 'containers[0].mounts[0].destination' },
  { name: 'guest mount of a disk type', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [{ destination: '/d', type: 'ext4', source: 'guest' }] }] }, field: 'containers[0].mounts[0].type' },
  { name: 'unknown mount source class', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [{ destination: '/d', type: 'bind', source: 'host' }] }] }, field: 'containers[0].mounts[0].source' },
  { name: 'signal out of range', doc: { ...ok, rules: { SignalProcess: { allow: true, signals: [0] } } }, field: 'rules.SignalProcess.signals[0]' },
  { name: 'bad capability name', doc: { ...ok, containers: [{ name: 'a', capabilities: ['SYS_ADMIN'], mounts: [] }] }, field: 'containers[0].capabilities[0]' },
  { name: 'bad digest', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [], imageDigest: 'sha256:abc' }] }, field: 'containers[0].imageDigest' },
  { name: 'duplicate container names', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [] }, { name: 'a', capabilities: [], mounts: [] }] }, field: 'containers[1].name' },
  { name: 'negative uid', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [], user: { uid: -1, gid: 0 } }] }, field: 'containers[0].user.uid' },
  { name: 'unknown host namespace', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [], hostNamespaces: ['host'] }] }, field: 'containers[0].hostNamespaces[0]' },
  { name: 'unknown seccomp action', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [], seccomp: { actions: ['SCMP_ACT_MAYBE'] } }] }, field: 'containers[0].seccomp.actions[0]' },
  { name: 'seccomp rule without actions', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [], seccomp: { flags: [] } }] }, field: 'containers[0].seccomp.actions' },
  { name: 'podPidNamespace not boolean', doc: { ...ok, containers: [{ name: 'a', capabilities: [], mounts: [], podPidNamespace: 'yes' }] }, field: 'containers[0].podPidNamespace' },
  { name: 'not JSON', doc: '{', field: '' },
];
for (const tc of invalid) {
  test(`invalid policy: ${tc.name}`, () => {
    assert.throws(() => parsePolicy(tc.doc), (e: { code?: string; context?: { field?: string }; message: string }) => {
      assert.equal(e.code, ErrorCode.PolicyInvalid);
      assert.equal(e.context?.field, tc.field, e.message);
      return true;
    });
  });
}

test('version 1 is refused with a message saying how to get version 2', () => {
  assert.throws(() => parsePolicy({ version: 1, default: 'deny', rules: {} }), /version 1 is no longer accepted .*cocolet policy generate/);
});

test('the built-in policies parse as they are', () => {
  for (const d of [CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY]) assert.deepEqual(parsePolicy(JSON.parse(JSON.stringify(d))), JSON.parse(JSON.stringify(d)));
});
