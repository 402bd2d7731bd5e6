/**
 * The cocolet ttrpc client drives containerd's real `containerd-shim-runc-v2` through
 * containerd.task.v2.Task: create, start, wait for and delete a runc container whose rootfs is
 * busybox, as containerd would. A cocolet ttrpc server stands in for containerd's events service
 * on TTRPC_ADDRESS and receives the task events the shim publishes. Needs root.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, have, isRoot, waitFor } from '../../shared/testing/harness.js';
import { TtrpcClient, TtrpcServer, createClient } from '../../shared/ttrpc/index.js';
import { Task } from '../../shared/gen/containerd/task/v2/shim_pb.js';
import { Events } from '../../shared/gen/containerd/services/events/v1/events_pb.js';

const SHIM = 'containerd-shim-runc-v2';

function whySkip(): string | undefined {
  if (!isRoot()) return 'needs root (runc containers)';
  if (!have(SHIM)) return `${SHIM} not installed (Debian package containerd)`;
  if (!have('runc')) return 'runc not installed';
  if (!have('busybox')) return 'busybox not installed (Debian package busybox-static)';
  return undefined;
}

const skip = whySkip();
const h = new Harness();
after(() => h.dispose());

function busyboxPath(): string {
  return spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
}

/** A bundle with a busybox rootfs and an OCI spec (from `runc spec`) running `args`. */
function makeBundle(dir: string, args: string[]): string {
  const bundle = join(dir, 'bundle');
  mkdirSync(join(bundle, 'rootfs', 'bin'), { recursive: true });
  copyFileSync(busyboxPath(), join(bundle, 'rootfs', 'bin', 'busybox'));
  for (const applet of ['sh', 'echo', 'sleep']) symlinkSync('busybox', join(bundle, 'rootfs', 'bin', applet));
  const r = spawnSync('runc', ['spec'], { cwd: bundle, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`runc spec failed: ${r.stderr}`);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { terminal: boolean; args: string[] } };
  spec.process.terminal = false;
  spec.process.args = args;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  return bundle;
}

test('create, start, wait and delete a runc container through the real shim', { skip, timeout: 60_000 }, async () => {
  const dir = h.tempDir('cocolet-shim-');
  const ns = `cocolet-ttrpc-${process.pid}`;
  const id = `ttrpc-${process.pid}`;
  const bundle = makeBundle(dir, ['/bin/sh', '-c', 'echo hello-from-runc; exit 3']);
  const address = join(dir, 'containerd.sock');

  // containerd's events service, where the shim publishes task events.
  const topics: string[] = [];
  const events = new TtrpcServer();
  events.register(Events, {
    forward: (req) => {
      if (req.envelope) topics.push(req.envelope.topic);
      return {};
    },
  });
  await events.listen(`${address}.ttrpc`);
  h.defer('events server', () => events.shutdown({ graceMs: 0 }));

  // containerd reads the shim's log from a fifo in the bundle.
  spawnSync('mkfifo', [join(bundle, 'log')]);
  const log = h.start('cat', [join(bundle, 'log')]);

  // Start the shim the way containerd does; it daemonizes and prints its socket address.
  const start = spawn(SHIM, ['-namespace', ns, '-address', address, '-publish-binary', 'containerd', '-id', id, 'start'], {
    cwd: bundle,
    env: { ...process.env, TTRPC_ADDRESS: `${address}.ttrpc` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  start.stdout.on('data', (d: Buffer) => (out += d.toString()));
  start.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => start.once('exit', resolve));
  assert.equal(code, 0, `shim start failed: ${out}`);
  const m = /unix:\/\/(\S+)/.exec(out);
  assert.ok(m, `no address printed: ${out}`);
  const sock = m[1]!;
  h.defer('shim leftovers', () => cleanupShim(ns, id, sock, bundle));

  const client = await TtrpcClient.connect(sock);
  h.defer('client', () => client.close());
  const task = createClient(Task, client);
  const opts = { timeoutMs: 20_000 };

  const conn = await task.connect({ id }, opts);
  assert.ok(conn.shimPid > 0);
  const created = await task.create({ id, bundle, stdout: `file://${join(dir, 'stdout.txt')}`, stderr: `file://${join(dir, 'stderr.txt')}` }, opts);
  assert.ok(created.pid > 0);
  const started = await task.start({ id }, opts);
  assert.equal(started.pid, created.pid);
  const waited = await task.wait({ id }, opts);
  assert.equal(waited.exitStatus, 3);
  const deleted = await task.delete({ id }, opts);
  assert.equal(deleted.exitStatus, 3);
  assert.equal(readFileSync(join(dir, 'stdout.txt'), 'utf8').trim(), 'hello-from-runc');
  await waitFor(() => topics.includes('/tasks/exit') && topics.includes('/tasks/delete'), { what: `task events (got ${topics.join(', ')})`, timeoutMs: 10_000 });
  assert.ok(topics.includes('/tasks/create') && topics.includes('/tasks/start'), topics.join(', '));

  // Shutdown makes the shim exit; the connection then closes.
  await task.shutdown({ id, now: true }, opts).catch((e: { code?: string }) => assert.equal(e.code, 'COCOLET_UNAVAILABLE'));
  await client.closed;
  await waitFor(() => !existsSync(sock), { what: 'shim socket removed', timeoutMs: 10_000 }).catch(() => undefined);
  void log;
});

function cleanupShim(ns: string, id: string, sock: string, bundle: string): void {
  const pidFile = join(bundle, 'shim.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  const root = join('/run/containerd/runc', ns);
  spawnSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
  rmSync(sock, { force: true });
}
