import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runsAs, siblingShimAddress } from './start.js';
import { writeRecord } from './bundle.js';
import { shimBundlePath } from './pack.js';

/** A process whose command line carries `-id <group>` (as a shim daemon's does), until killed. */
function fakeDaemon(group: string): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', '--', '-namespace', 'k8s.io', '-id', group, 'serve'], { stdio: 'ignore' });
}

const exited = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

/** containerd's layout: `<dir>/k8s.io/<sandbox>` and `<dir>/k8s.io/<container>`, the sandbox's daemon listening. */
async function layout(t: { after(fn: () => unknown): void }): Promise<{ sbBundle: string; ctrBundle: string; sock: string; daemon: ChildProcess; server: Server }> {
  const dir = mkdtempSync(join(tmpdir(), 'ccstart-'));
  const sbBundle = join(dir, 'k8s.io', 'sb1');
  const ctrBundle = join(dir, 'k8s.io', 'ctr1');
  mkdirSync(sbBundle, { recursive: true });
  mkdirSync(ctrBundle, { recursive: true });
  const sock = join(dir, 'shim.sock');
  const server = createServer((c) => c.destroy());
  await new Promise<void>((r) => server.listen(sock, r));
  const daemon = fakeDaemon('sb1');
  t.after(async () => {
    daemon.kill('SIGKILL');
    await exited(daemon);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(sbBundle, 'address'), `unix://${sock}`);
  writeRecord(sbBundle, { version: 1, id: 'sb1', group: 'sb1', socket: sock, daemonPid: daemon.pid! });
  writeFileSync(join(ctrBundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb1' } }));
  return { sbBundle, ctrBundle, sock, daemon, server };
}

test('runsAs: a live process with -id <group> on its command line; not another group, not once it is gone', async () => {
  const d = fakeDaemon('grp-a');
  await new Promise((r) => d.once('spawn', r));
  assert.equal(runsAs(d.pid!, 'grp-a'), true);
  assert.equal(runsAs(d.pid!, 'grp-b'), false);
  assert.equal(runsAs(process.pid, 'grp-a'), false);
  assert.equal(runsAs(1, 'grp-a'), false);
  assert.equal(runsAs(-5, 'grp-a'), false);
  d.kill('SIGKILL');
  await exited(d);
  assert.equal(runsAs(d.pid!, 'grp-a'), false);
});

test("siblingShimAddress: the sandbox's address while its daemon runs, listens there and is recorded; else undefined", async (t) => {
  const l = await layout(t);
  await new Promise((r) => l.daemon.once('spawn', r));
  assert.equal(siblingShimAddress(l.ctrBundle, 'sb1'), `unix://${l.sock}`);
  assert.equal(siblingShimAddress(l.ctrBundle, 'other'), undefined, 'no such sibling');
  assert.equal(siblingShimAddress(l.ctrBundle, '../sb1'), undefined, 'not a group id');
  // the record names another socket
  writeRecord(l.sbBundle, { version: 1, id: 'sb1', group: 'sb1', socket: `${l.sock}.old`, daemonPid: l.daemon.pid! });
  assert.equal(siblingShimAddress(l.ctrBundle, 'sb1'), undefined);
  // the recorded pid is not a daemon of this group
  writeRecord(l.sbBundle, { version: 1, id: 'sb1', group: 'sb1', socket: l.sock, daemonPid: process.pid });
  assert.equal(siblingShimAddress(l.ctrBundle, 'sb1'), undefined);
  writeRecord(l.sbBundle, { version: 1, id: 'sb1', group: 'sb1', socket: l.sock, daemonPid: l.daemon.pid! });
  assert.equal(siblingShimAddress(l.ctrBundle, 'sb1'), `unix://${l.sock}`);
  // an address that is not a unix socket path
  writeFileSync(join(l.sbBundle, 'address'), 'tcp://127.0.0.1:1');
  assert.equal(siblingShimAddress(l.ctrBundle, 'sb1'), undefined);
  writeFileSync(join(l.sbBundle, 'address'), `unix://${l.sock}`);
  // the daemon is gone (killed -9: its socket file stays)
  l.daemon.kill('SIGKILL');
  await exited(l.daemon);
  assert.ok(existsSync(l.sock));
  assert.equal(siblingShimAddress(l.ctrBundle, 'sb1'), undefined);
});

test("the installed binary's start for a container joins its sandbox's shim without loading node:net or the stream stack", async (t) => {
  const bin = shimBundlePath();
  if (!existsSync(bin)) return t.skip('the shim bundle is not built (npm run build)');
  const l = await layout(t);
  await new Promise((r) => l.daemon.once('spawn', r));
  const loaded = join(l.ctrBundle, '..', 'modules.txt');
  const preload = join(l.ctrBundle, '..', 'preload.cjs');
  writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, process.moduleLoadList.join('\\n')));\n`);
  // containerd's stdin is a pipe or a file (Node's own 'pipe' is a socket pair, which start reads as a stream)
  const empty = join(l.ctrBundle, '..', 'stdin');
  writeFileSync(empty, '');
  const stdin = openSync(empty, 'r');
  t.after(() => closeSync(stdin));
  const r = spawnSync(process.execPath, ['--require', preload, bin, '-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/bin/true', '-id', 'ctr1', '-bundle', l.ctrBundle, 'start'], { stdio: [stdin, 'pipe', 'pipe'], encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `unix://${l.sock}`);
  assert.equal(readFileSync(join(l.ctrBundle, 'address'), 'utf8'), `unix://${l.sock}`);
  const modules = readFileSync(loaded, 'utf8').split('\n');
  for (const m of ['NativeModule net', 'NativeModule stream', 'NativeModule v8', 'NativeModule child_process']) assert.ok(!modules.includes(m), `${m} loaded`);
  // nor with /dev/null on stdin (what containerd gives when the runtime has no options)
  const devNull = openSync('/dev/null', 'r');
  t.after(() => closeSync(devNull));
  rmSync(loaded);
  const r2 = spawnSync(process.execPath, ['--require', preload, bin, '-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/bin/true', '-id', 'ctr1', '-bundle', l.ctrBundle, 'start'], { stdio: [devNull, 'pipe', 'pipe'], encoding: 'utf8' });
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(r2.stdout, `unix://${l.sock}`);
  const modules2 = readFileSync(loaded, 'utf8').split('\n');
  for (const m of ['NativeModule net', 'NativeModule stream', 'NativeModule internal/fs/streams', 'NativeModule v8', 'NativeModule child_process']) assert.ok(!modules2.includes(m), `${m} loaded with /dev/null on stdin`);
  // with the sandbox's daemon gone, the container's start fails instead of handing out a dead address
  l.daemon.kill('SIGKILL');
  await exited(l.daemon);
  const gone = spawnSync(process.execPath, [bin, '-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/bin/true', '-id', 'ctr1', '-bundle', l.ctrBundle, 'start'], { input: '', encoding: 'utf8', env: { ...process.env, COCOLET_SHIM_CONFIG: '' } });
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /the shim of sandbox sb1 is not running/);
});
