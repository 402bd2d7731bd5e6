// Signals from cgroup v1 / v2 and /proc trees laid out in a temp dir, and from this machine.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { du, MachineSignals } from './signals.js';

const Mi = 2 ** 20;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-sig-'));
  dirs.push(root);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const proc = {
  'proc/meminfo': 'MemTotal:        4194304 kB\nMemFree:         1048576 kB\nInactive(file):   524288 kB\n',
  'proc/sys/kernel/pid_max': '32768\n',
  'proc/sys/kernel/threads-max': '100000\n',
  'proc/loadavg': '0.10 0.20 0.30 2/768 12345\n',
};

test('cgroup v1: working set = usage − total_inactive_file; allocatable from the pods cgroup limit', () => {
  const root = tree({
    ...proc,
    'cg/memory/memory.usage_in_bytes': String(3000 * Mi),
    'cg/memory/memory.stat': `inactive_file 1\ntotal_inactive_file ${1000 * Mi}\n`,
    'cg/memory/memory.limit_in_bytes': '9223372036854771712',
    'cg/memory/kubepods/memory.usage_in_bytes': String(300 * Mi),
    'cg/memory/kubepods/memory.stat': `total_inactive_file ${100 * Mi}\n`,
    'cg/memory/kubepods/memory.limit_in_bytes': String(512 * Mi),
  });
  const s = new MachineSignals({ rootDir: root, cgroupRoot: join(root, 'cg'), procDir: join(root, 'proc'), podsCgroup: '/kubepods', now: () => 42 });
  assert.equal(s.cgroupV2, false);
  const o = s.observe();
  assert.deepEqual(o['memory.available'], { available: 4096 * Mi - 2000 * Mi, capacity: 4096 * Mi, time: 42 });
  assert.deepEqual(o['allocatableMemory.available'], { available: 512 * Mi - 200 * Mi, capacity: 512 * Mi, time: 42 });
  assert.deepEqual(o['pid.available'], { available: 32768 - 768, capacity: 32768, time: 42 });
  assert.ok(o['nodefs.available']!.capacity > 0 && o['nodefs.available']!.available <= o['nodefs.available']!.capacity);
  assert.deepEqual(o['imagefs.inodesFree'], o['nodefs.inodesFree'], 'no image dir: imagefs is nodefs');
  assert.equal(s.layout(), 'shared');
});

test('cgroup v2: root without memory.current falls back to /proc/meminfo; allocatable defaults to MemTotal without a limit', () => {
  const root = tree({
    ...proc,
    'cg/cgroup.controllers': 'cpu memory pids\n',
    'cg/memory.stat': `inactive_file ${256 * Mi}\n`,
    'cg/kubepods/memory.current': String(200 * Mi),
    'cg/kubepods/memory.stat': `inactive_file ${50 * Mi}\n`,
    'cg/kubepods/memory.max': 'max\n',
    'cg/kubepods/podu1/pids.current': '7\n',
  });
  const s = new MachineSignals({ rootDir: root, cgroupRoot: join(root, 'cg'), procDir: join(root, 'proc'), podsCgroup: '/kubepods', now: () => 1 });
  assert.equal(s.cgroupV2, true);
  const o = s.observe();
  // usage = MemTotal − MemFree = 3Gi; inactive_file from the root memory.stat
  assert.equal(o['memory.available']!.available, 4096 * Mi - (3072 * Mi - 256 * Mi));
  assert.deepEqual(o['allocatableMemory.available'], { available: 4096 * Mi - 150 * Mi, capacity: 4096 * Mi, time: 1 });
  assert.equal(s.podProcesses('u1'), 7);
  assert.equal(s.podProcesses('nope'), undefined);
});

test('no pods cgroup: no allocatableMemory observation (the kubelet skips that signal)', () => {
  const root = tree({ ...proc, 'cg/memory/memory.usage_in_bytes': '1', 'cg/memory/memory.stat': '' });
  const o = new MachineSignals({ rootDir: root, cgroupRoot: join(root, 'cg'), procDir: join(root, 'proc'), podsCgroup: '/absent' }).observe();
  assert.equal(o['allocatableMemory.available'], undefined);
  assert.ok(o['memory.available']);
});

test('this machine: every node signal is observed and within its capacity', () => {
  const s = new MachineSignals({ rootDir: tmpdir() });
  const o = s.observe();
  for (const sig of ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available'] as const) {
    const x = o[sig];
    assert.ok(x, `${sig} observed`);
    assert.ok(x.capacity > 0 && x.available > 0 && x.available <= x.capacity, `${sig}: ${x.available} of ${x.capacity}`);
  }
});

test('du counts bytes and entries, zero for a missing directory', () => {
  const root = tree({ 'd/a': 'x'.repeat(10_000), 'd/sub/b': 'y' });
  const u = du(join(root, 'd'));
  assert.equal(u.inodes, 3);
  assert.ok(u.bytes >= 10_000);
  assert.deepEqual(du(join(root, 'missing')), { bytes: 0, inodes: 0 });
});

test('per-pod usage: CRI stats summed per pod, per-container shares, log and emptyDir bytes from disk', async () => {
  const { podUsage } = await import('./signals.js');
  const root = tree({
    'logs/default_web_u1/main/0.log': 'x'.repeat(8192),
    'root/pods/u1/volumes/kubernetes.io~empty-dir/cache/blob': 'y'.repeat(16384),
  });
  const stat = (uid: string, name: string, ws: bigint, layer: bigint) => ({
    attributes: { id: name, metadata: { name }, labels: { 'io.kubernetes.pod.uid': uid } },
    memory: { workingSetBytes: { value: ws } },
    writableLayer: { usedBytes: { value: layer }, inodesUsed: { value: 3n } },
  });
  const cri = { listContainerStats: () => Promise.resolve([stat('u1', 'main', 100n * 1048576n, 4096n), stat('u1', 'side', 20n * 1048576n, 0n), stat('other', 'x', 1n, 1n)]) };
  const web = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: { containers: [{ name: 'main', image: 'i' }, { name: 'side', image: 'i' }], volumes: [{ name: 'cache', emptyDir: {} }, { name: 'ram', emptyDir: { medium: 'Memory' as const } }] },
  };
  const idle = { ...web, metadata: { name: 'idle', namespace: 'default', uid: 'u2' } };
  const m = await podUsage([web, idle] as never, { cri: cri as never, podLogsDir: join(root, 'logs'), rootDir: join(root, 'root') });
  assert.equal(m.has('u2'), false, 'no running container: no stats');
  const u = m.get('u1')!;
  assert.equal(u.memoryWorkingSet, 120 * Mi);
  assert.equal(u.rootfsUsed, 4096);
  assert.equal(u.rootfsInodesUsed, 6);
  assert.ok(Number(u.logsUsed) >= 8192);
  assert.deepEqual(Object.keys(u.perLocalVolumeUsed as object), ['cache'], 'memory-backed emptyDirs are not disk');
  assert.ok((u.perLocalVolumeUsed as Record<string, number>).cache! >= 16384);
  assert.equal(u.containers?.main?.memoryWorkingSet, 100 * Mi);
  assert.ok(u.containers!.main!.logsUsed! >= 8192);
  assert.equal(u.containers?.side?.logsUsed, 0);
});
