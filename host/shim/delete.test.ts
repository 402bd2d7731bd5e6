import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { DeleteResponseSchema } from '../../shared/gen/containerd/task/v2/shim_pb.js';
import { silentLogger } from '../../shared/log/logger.js';
import { deleteShim } from './delete.js';
import { writeRecord } from './bundle.js';
import { parseShimFlags } from './flags.js';

const dir = mkdtempSync(join(tmpdir(), 'cocolet-shim-delete-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('delete: stops the leftover VM of the sandbox, removes its files and answers exit 137', async () => {
  const bundle = join(dir, 'bundle');
  const work = join(dir, 'work-sb1');
  mkdirSync(bundle);
  mkdirSync(work);
  const sock = join(dir, 'shim.sock');
  writeFileSync(sock, '');
  writeFileSync(join(bundle, 'address'), `unix://${sock}`);
  // A stand-in for a VM whose command line names the sandbox work dir, in its own group.
  const vm = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300_000)', work], { detached: true, stdio: 'ignore' });
  after(() => {
    try {
      vm.kill('SIGKILL');
    } catch {
      /* gone */
    }
  });
  const gone = new Promise((r) => vm.once('exit', r));
  writeRecord(bundle, { version: 1, id: 'sb1', group: 'sb1', socket: sock, daemonPid: 999_999, workDir: work, vmPid: vm.pid!, vmPgid: vm.pid! });
  const flags = parseShimFlags(['-namespace', 'k8s.io', '-address', '/c.sock', '-id', 'sb1', '-bundle', bundle, 'delete']);
  const out = deleteShim(flags, silentLogger());
  const resp = fromBinary(DeleteResponseSchema, out);
  assert.equal(resp.exitStatus, 137);
  assert.ok(resp.exitedAt && resp.exitedAt.seconds > 0n);
  await gone;
  for (const p of [sock, work, join(bundle, 'address'), join(bundle, 'cocolet-shim.json')]) assert.equal(existsSync(p), false, p);
});

test('delete: a bundle without a record (shim never ran, or a container of a pod) still answers', () => {
  const bundle = join(dir, 'empty');
  mkdirSync(bundle);
  const flags = parseShimFlags(['-namespace', 'k8s.io', '-address', '/c.sock', '-id', 'c9', '-bundle', bundle, 'delete']);
  assert.equal(fromBinary(DeleteResponseSchema, deleteShim(flags, silentLogger())).exitStatus, 137);
});

test('delete: a recorded pid that is now some other process is not killed', async () => {
  const bundle = join(dir, 'reused');
  mkdirSync(bundle);
  const other = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  try {
    writeRecord(bundle, { version: 1, id: 'sb2', group: 'sb2', socket: join(dir, 'nope.sock'), daemonPid: other.pid!, workDir: join(dir, 'work-sb2'), vmPid: other.pid! });
    deleteShim(parseShimFlags(['-namespace', 'n', '-id', 'sb2', '-bundle', bundle, 'delete']), silentLogger());
    assert.doesNotThrow(() => process.kill(other.pid!, 0), 'the unrelated process lives');
  } finally {
    other.kill('SIGKILL');
  }
});
