// `ctr run --runtime io.containerd.cocolet.v2` through real containerd 1.6: output and exit code
// come back through the shim (fake hypervisor: the agent as a local process), nothing is left.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../shared/testing/harness.js';
import { startContainerd, type ContainerdFixture } from '../support/containerd.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { assertNoLeftovers, prepareShim, run, RUNTIME_TYPE, type ShimFixture } from './support.js';

const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let shim: ShimFixture;
let skip: string | undefined;

before(async () => {
  shim = prepareShim(h);
  process.env.COCOLET_SHIM_CONFIG = shim.configPath;
  c = await startContainerd(h, { skip: (why) => (skip = why) }, { shimDir: shim.shimDir });
});

const ctr = (...args: string[]) => run('ctr', ['-a', c!.address, '-n', 'k8s.io', ...args]);

test('ctr run: output and exit code of a container come back through the shim', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const fifoDir = h.tempDir('ccf-');
  const r = await ctr('run', '--rm', '--fifo-dir', fifoDir, '--runtime', RUNTIME_TYPE, BUSYBOX_IMAGE, 'shim-ctr-1', '/bin/sh', '-c', 'echo hello-from-cocolet; echo to-stderr >&2; exit 3');
  assert.equal(r.stdout, 'hello-from-cocolet\n', `stderr: ${r.stderr}\n${c.containerd.logTail(30)}`);
  assert.match(r.stderr, /to-stderr/);
  assert.equal(r.code, 3);
  const ls = await ctr('tasks', 'ls', '-q');
  assert.equal(ls.stdout.trim(), '');
  await assertNoLeftovers(shim, c.dir);
});

test('ctr run -d then kill: the task is running, SIGKILL ends it with 137, delete cleans up', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const fifoDir = h.tempDir('ccf-');
  const r = await ctr('run', '-d', '--fifo-dir', fifoDir, '--runtime', RUNTIME_TYPE, BUSYBOX_IMAGE, 'shim-ctr-2', '/bin/sleep', '300');
  assert.equal(r.code, 0, r.stderr);
  const ls = await ctr('tasks', 'ls');
  assert.match(ls.stdout, /shim-ctr-2\s+\d+\s+RUNNING/);
  assert.equal((await ctr('tasks', 'kill', '-s', 'SIGKILL', 'shim-ctr-2')).code, 0);
  // `tasks delete` waits for the exit and reports its status.
  let del = await ctr('tasks', 'delete', 'shim-ctr-2');
  for (let i = 0; i < 50 && del.code !== 0; i++) del = await ctr('tasks', 'delete', 'shim-ctr-2');
  assert.equal(del.code, 0, del.stderr);
  assert.equal((await ctr('containers', 'delete', 'shim-ctr-2')).code, 0);
  await assertNoLeftovers(shim, c.dir);
});
