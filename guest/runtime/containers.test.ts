import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema } from '../../shared/gen/kata/agent_pb.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/index.js';
import { silentLogger } from '../../shared/log/logger.js';
import { HOST_ROOTFS, IMAGE_GUEST_PULL } from '../policy/inspect.js';
import type { Runc } from './runc.js';
import type { ImageStore } from '../pull/store.js';
import { ContainerManager } from './containers.js';

const PULLED = new Error('pulled');

function manager(stateDir: string, hostRootfsAllowed: (() => boolean) | undefined, pulls: string[]): ContainerManager {
  const images = { pull: async (ref: string) => (pulls.push(ref), Promise.reject(PULLED)) } as unknown as ImageStore;
  return new ContainerManager({
    stateDir, runc: {} as Runc, images, logger: silentLogger(), cgroupParent: '/cocolet-test',
    allowHostMounts: () => false, checkImageDigest: () => undefined,
    ...(hostRootfsAllowed ? { hostRootfsAllowed } : {}),
  });
}

const req = (source: string) => create(CreateContainerRequestSchema, {
  containerId: 'c1',
  OCI: { Process: { Args: ['/bin/true'] } },
  storages: [{ driver: IMAGE_GUEST_PULL, source: 'reg.example/app:1' }, { driver: HOST_ROOTFS, source, fstype: 'bind', mountPoint: source }],
});

const cases: { name: string; allowed: (() => boolean) | undefined; source: string; expect: 'denied' | 'invalid' | 'pulls' | 'host-root' }[] = [
  { name: 'a VM agent (no process mode) refuses the host rootfs before pulling', allowed: undefined, source: '/run/b/rootfs', expect: 'denied' },
  { name: 'process mode with a digest-pinning policy pulls instead', allowed: () => false, source: '/run/b/rootfs', expect: 'pulls' },
  { name: 'process mode refuses a rootfs path with traversal', allowed: () => true, source: '/run/b/../../etc', expect: 'invalid' },
  { name: 'process mode runs on the host rootfs without pulling', allowed: () => true, source: '/run/b/rootfs', expect: 'host-root' },
];

for (const tc of cases) {
  test(tc.name, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ccr-'));
    try {
      const pulls: string[] = [];
      const m = manager(dir, tc.allowed, pulls);
      const run = m.create(req(tc.source));
      if (tc.expect === 'host-root') {
        await run;
        const cfg = JSON.parse(readFileSync(join(dir, 'containers', 'c1', 'bundle', 'config.json'), 'utf8')) as { root: { path: string } };
        assert.equal(cfg.root.path, tc.source);
        assert.deepEqual(pulls, []);
        return;
      }
      const err = await run.then(() => undefined, (e: unknown) => e);
      if (tc.expect === 'pulls') {
        assert.equal(err, PULLED);
        assert.deepEqual(pulls, ['reg.example/app:1']);
        return;
      }
      assert.ok(isCocoletError(err, tc.expect === 'denied' ? ErrorCode.PolicyDenied : ErrorCode.InvalidArgument), String(err));
      assert.deepEqual(pulls, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the policy entry of the container decides whether the pull keeps setuid bits', async () => {
  for (const keep of [false, true]) {
    const dir = mkdtempSync(join(tmpdir(), 'ccr-'));
    try {
      const seen: unknown[] = [];
      const images = { pull: async (_ref: string, _check: unknown, o: unknown) => (seen.push(o), Promise.reject(PULLED)) } as unknown as ImageStore;
      const m = new ContainerManager({
        stateDir: dir, runc: {} as Runc, images, logger: silentLogger(), cgroupParent: '/cocolet-test',
        allowHostMounts: () => false, checkImageDigest: () => undefined, keepSetuid: () => keep,
      });
      const r = create(CreateContainerRequestSchema, { containerId: 'c1', OCI: { Process: { Args: ['/bin/true'] } }, storages: [{ driver: IMAGE_GUEST_PULL, source: 'reg.example/app:1' }] });
      assert.equal(await m.create(r).then(() => undefined, (e: unknown) => e), PULLED);
      assert.deepEqual(seen, [{ keepSetuid: keep }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a terminal request is refused before any pull when the guest has no pty helper, naming why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccr-'));
  try {
    const pulls: string[] = [];
    const images = { pull: async (ref: string) => (pulls.push(ref), Promise.reject(PULLED)) } as unknown as ImageStore;
    const m = new ContainerManager({ stateDir: dir, runc: {} as Runc, images, logger: silentLogger(), cgroupParent: '/cocolet-test', allowHostMounts: () => false, checkImageDigest: () => undefined, ptyHelper: null });
    const r = create(CreateContainerRequestSchema, { containerId: 'c1', OCI: { Process: { Args: ['/bin/sh'], Terminal: true } }, storages: [{ driver: IMAGE_GUEST_PULL, source: 'reg.example/app:1' }] });
    const err = await m.create(r).then(() => undefined, (e: unknown) => e);
    assert.ok(isCocoletError(err, ErrorCode.FailedPrecondition), String(err));
    assert.match((err as Error).message, /no pty helper \(util-linux script/);
    assert.deepEqual(pulls, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a signal runc refuses because the init just died is the exit racing it, not an error; on a live container the error stands', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccr-'));
  const children: ChildProcess[] = [];
  try {
    let killDies = true;
    // `runc run` stands in as a shell that writes its pid file and waits; `runc kill` kills it (or
    // not) and then answers as runc does for a container whose init has exited.
    const runc = {
      run: (_id: string, _bundle: string, pidFile: string) => {
        const c = spawn('/bin/sh', ['-c', `echo $$ > ${pidFile}; exec sleep 1000`], { stdio: ['pipe', 'pipe', 'pipe'] });
        children.push(c);
        return c;
      },
      kill: async () => {
        if (killDies) children.at(-1)!.kill('SIGKILL');
        throw new Error('runc kill failed: container not running');
      },
      delete: async () => '',
    } as unknown as Runc;
    const m = new ContainerManager({ stateDir: dir, runc, images: {} as ImageStore, logger: silentLogger(), cgroupParent: '/cocolet-test', allowHostMounts: () => false, checkImageDigest: () => undefined, hostRootfsAllowed: () => true });
    await m.create(req('/run/b/rootfs'));
    await m.start('c1');
    await m.signal('c1', '', 15);
    assert.equal(await m.wait('c1', ''), 137, 'the exit is reported by wait');

    killDies = false;
    await m.create(create(CreateContainerRequestSchema, { ...req('/run/b/rootfs'), containerId: 'c2' }));
    await m.start('c2');
    const err = await m.signal('c2', '', 15).then(() => undefined, (e: unknown) => e);
    assert.match(String(err), /container not running/, 'a container still running keeps the error');
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
