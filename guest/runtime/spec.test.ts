import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { SpecSchema } from '../../shared/gen/kata/oci_pb.js';
import { buildRuncConfig, DEFAULT_MOUNTS, runcConfigText } from './spec.js';
import { DEFAULT_CAPABILITIES } from '../policy/inspect.js';

const spec = (init: object) => create(SpecSchema, init as never);
const image = { config: { Entrypoint: ['/entry'], Cmd: ['arg'], Env: ['PATH=/bin', 'A=image'], WorkingDir: '/w' } };

const cases: { name: string; run: () => void }[] = [
  {
    name: 'the host\'s seccomp filter reaches runc, its 64-bit argument values exact in config.json; none: no filter',
    run: () => {
      const filter = { DefaultAction: 'SCMP_ACT_ERRNO', Architectures: ['SCMP_ARCH_X86_64'], Syscalls: [
        { Names: ['read', 'write'], Action: 'SCMP_ACT_ALLOW' },
        { Names: ['personality'], Action: 'SCMP_ACT_ALLOW', Args: [{ Index: 0n, Value: 0xffff_ffff_ffff_ffffn, ValueTwo: 0n, Op: 'SCMP_CMP_EQ' }] },
        { Names: ['clone3'], Action: 'SCMP_ACT_ERRNO', ErrnoRet: { case: 'errnoret', value: 38 } },
      ] };
      const c = buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Linux: { Seccomp: filter } }), rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false });
      const text = runcConfigText(c);
      assert.match(text, /"value":18446744073709551615,"valueTwo":0,"op":"SCMP_CMP_EQ"/);
      const json = JSON.parse(text) as { linux: { seccomp: { defaultAction: string; syscalls: { names: string[]; errnoRet?: number }[] }; namespaces: unknown[] }; process: { args: string[] } };
      assert.equal(json.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
      assert.deepEqual(json.linux.seccomp.syscalls.map((x) => [x.names[0], x.errnoRet]), [['read', undefined], ['personality', undefined], ['clone3', 38]]);
      assert.equal(json.linux.namespaces.length, 4, 'the rest of the config is intact');
      assert.deepEqual(json.process.args, ['x']);
      const none = buildRuncConfig({ spec: spec({ Process: { Args: ['x'] } }), rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false });
      assert.equal('seccomp' in none.linux, false);
      assert.equal(runcConfigText(none), JSON.stringify(none));
      assert.throws(() => buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Linux: { Seccomp: { DefaultAction: 'SCMP_ACT_NOTIFY' } } }), rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false }), /SCMP_ACT_NOTIFY/);
    },
  },
  {
    name: 'the pod PID namespace is joined by the agent\'s path only; otherwise a namespace of the container\'s own',
    run: () => {
      const pod = buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Linux: { Namespaces: [{ Type: 'pid', Path: '/proc/1/ns/pid' }] } }), rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false, podPidNamespace: '/proc/77/ns/pid' });
      assert.deepEqual(pod.linux.namespaces[0], { type: 'pid', path: '/proc/77/ns/pid' });
      const own = buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Linux: { Namespaces: [{ Type: 'pid', Path: '/proc/1/ns/pid' }] } }), rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false });
      assert.deepEqual(own.linux.namespaces[0], { type: 'pid' });
    },
  },
  {
    name: 'image entrypoint, env and cwd fill what the spec leaves empty; spec env wins',
    run: () => {
      const c = buildRuncConfig({ spec: spec({ Process: { Env: ['A=spec'] } }), image, rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false });
      assert.deepEqual(c.process.args, ['/entry', 'arg']);
      assert.deepEqual(c.process.env, ['PATH=/bin', 'A=spec']);
      assert.equal(c.process.cwd, '/w');
    },
  },
  {
    name: 'host devices, hooks and namespace paths never reach runc; without capability sets the defaults',
    run: () => {
      const c = buildRuncConfig({
        spec: spec({ Process: { Args: ['x'] }, Linux: { Devices: [{ Path: '/dev/kvm' }], Namespaces: [{ Type: 'network', Path: '/proc/1/ns/net' }] }, Hooks: { Prestart: [{ Path: '/evil' }] } }),
        rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false,
      });
      assert.deepEqual(c.process.capabilities.bounding, DEFAULT_CAPABILITIES);
      assert.equal('sysctl' in c.linux, false);
      assert.deepEqual(c.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount']);
      assert.equal('devices' in c.linux, false);
      assert.equal('hooks' in c, false);
      assert.equal(c.process.noNewPrivileges, true);
    },
  },
  {
    name: 'the request\'s capability sets and sysctls (the policy gate admitted them) reach runc',
    run: () => {
      const c = buildRuncConfig({
        spec: spec({ Process: { Args: ['x'], Capabilities: { Bounding: ['CAP_NET_ADMIN'], Effective: ['CAP_NET_ADMIN'], Permitted: ['CAP_NET_ADMIN'], Ambient: ['CAP_NET_ADMIN'] } }, Linux: { Sysctl: { 'kernel.shm_rmid_forced': '1' } } }),
        rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false,
      });
      assert.deepEqual(c.process.capabilities, { bounding: ['CAP_NET_ADMIN'], effective: ['CAP_NET_ADMIN'], permitted: ['CAP_NET_ADMIN'], ambient: ['CAP_NET_ADMIN'] });
      assert.deepEqual(c.linux.sysctl, { 'kernel.shm_rmid_forced': '1' });
    },
  },
  {
    name: 'masked and read-only paths: the host may add to the template\'s, never remove one',
    run: () => {
      const c = buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Linux: { MaskedPaths: ['/bin/ls', 'relative', '/a/../b'], ReadonlyPaths: [] } }), rootfs: '/r', cgroupsPath: '/g', allowHostMounts: false });
      assert.ok(c.linux.maskedPaths.includes('/proc/kcore') && c.linux.maskedPaths.includes('/bin/ls'));
      assert.ok(!c.linux.maskedPaths.includes('relative') && !c.linux.maskedPaths.includes('/a/../b'));
      assert.ok(c.linux.readonlyPaths.includes('/proc/sys'));
    },
  },
  {
    name: 'host bind mounts are refused unless the policy allows them; default mounts kept',
    run: () => {
      const s = spec({ Process: { Args: ['x'] }, Mounts: [{ destination: '/h', source: '/etc', type: 'bind' }, { destination: '/proc', source: '/', type: 'bind' }] });
      assert.throws(() => buildRuncConfig({ spec: s, rootfs: '/r', cgroupsPath: '/g', allowHostMounts: false }));
      const c = buildRuncConfig({ spec: s, rootfs: '/r', cgroupsPath: '/g', allowHostMounts: true });
      assert.equal(c.mounts.find((m) => m.destination === '/proc')?.type, 'proc');
      assert.equal(c.mounts.length, DEFAULT_MOUNTS.length + 1);
    },
  },
  {
    name: 'mount destinations with traversal are refused',
    run: () => assert.throws(() => buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Mounts: [{ destination: '/a/../../b', type: 'tmpfs', source: 'tmpfs' }] }), rootfs: '/r', cgroupsPath: '/g', allowHostMounts: true })),
  },
  {
    name: 'resource limits are translated',
    run: () => {
      const c = buildRuncConfig({ spec: spec({ Process: { Args: ['x'] }, Linux: { Resources: { Memory: { Limit: 1048576n }, CPU: { Quota: 50000n, Period: 100000n }, Pids: { Limit: 10n } } } }), rootfs: '/r', cgroupsPath: '/g', allowHostMounts: false });
      assert.deepEqual(c.linux.resources, { memory: { limit: 1048576 }, cpu: { quota: 50000, period: 100000 }, pids: { limit: 10 } });
    },
  },
  {
    name: 'no command anywhere is an error',
    run: () => assert.throws(() => buildRuncConfig({ spec: spec({}), rootfs: '/r', cgroupsPath: '/g', allowHostMounts: false })),
  },
];
for (const tc of cases) test(tc.name, tc.run);
