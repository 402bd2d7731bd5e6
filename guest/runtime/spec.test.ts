import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { SpecSchema } from '../../shared/gen/kata/oci_pb.js';
import { buildRuncConfig, DEFAULT_MOUNTS } from './spec.js';
import { DEFAULT_CAPABILITIES } from '../policy/inspect.js';

const spec = (init: object) => create(SpecSchema, init as never);
const image = { config: { Entrypoint: ['/entry'], Cmd: ['arg'], Env: ['PATH=/bin', 'A=image'], WorkingDir: '/w' } };

const cases: { name: string; run: () => void }[] = [
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
    name: 'host capabilities, devices, hooks and namespace paths never reach runc',
    run: () => {
      const c = buildRuncConfig({
        spec: spec({ Process: { Args: ['x'], Capabilities: { Bounding: ['CAP_SYS_ADMIN'] } }, Linux: { Devices: [{ Path: '/dev/kvm' }], Namespaces: [{ Type: 'network', Path: '/proc/1/ns/net' }] }, Hooks: { Prestart: [{ Path: '/evil' }] } }),
        rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false,
      });
      assert.deepEqual(c.process.capabilities.bounding, DEFAULT_CAPABILITIES);
      assert.deepEqual(c.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount']);
      assert.equal('devices' in c.linux, false);
      assert.equal('hooks' in c, false);
      assert.equal(c.process.noNewPrivileges, true);
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
