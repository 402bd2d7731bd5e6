import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupPathOf, hierarchies, joinVmCgroup, releaseVmCgroup } from './vm-cgroup.js';

/** A temp-dir stand-in of /sys/fs/cgroup: v2 (one hierarchy) or v1 (memory, cpuset, cpu + cpuacct link, a plain dir). */
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function fakeCgroupfs(version: 1 | 2): string {
  const root = mkdtempSync(join(tmpdir(), 'vmcg-'));
  roots.push(root);
  if (version === 2) {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu memory pids\n');
    writeFileSync(join(root, 'cgroup.procs'), '');
    return root;
  }
  for (const h of ['memory', 'cpuset', 'cpu']) {
    mkdirSync(join(root, h));
    writeFileSync(join(root, h, 'cgroup.procs'), '');
  }
  writeFileSync(join(root, 'cpuset', 'cpuset.cpus'), '0-3\n');
  writeFileSync(join(root, 'cpuset', 'cpuset.mems'), '0-1\n');
  symlinkSync(join(root, 'cpu'), join(root, 'cpuacct'));
  mkdirSync(join(root, 'not-a-hierarchy'));
  return root;
}

/** What the kernel does on rmdir of a cgroup: its control files go with it (the fake has to remove them). */
function dropControlFiles(dirs: string[]): void {
  for (const d of dirs) for (const f of ['cgroup.procs', 'cpuset.cpus', 'cpuset.mems']) rmSync(join(d, f), { force: true });
}

test('cgroupsPath: cgroupfs paths are relative to each hierarchy; systemd slice:prefix:name expands to the scope; junk is refused', () => {
  assert.deepEqual(cgroupPathOf('/kubepods/pod1/abc'), { path: 'kubepods/pod1/abc', systemd: false });
  assert.deepEqual(cgroupPathOf('kubepods-burstable-pod1.slice:cri-containerd:abc'), {
    path: 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope', systemd: true,
  });
  assert.deepEqual(cgroupPathOf(':cri-containerd:abc'), { path: 'cri-containerd-abc.scope', systemd: true });
  assert.equal(cgroupPathOf(undefined), undefined);
  assert.equal(cgroupPathOf(''), undefined);
  assert.equal(cgroupPathOf(42), undefined);
  assert.equal(cgroupPathOf('/kubepods/../../etc'), undefined);
});

test('v2: the leaf is created, every pid written to its cgroup.procs; release removes only what was created', async () => {
  const root = fakeCgroupfs(2);
  try {
    mkdirSync(join(root, 'kubepods')); // the kubelet's
    const r = joinVmCgroup('/kubepods/podU/sb1', [process.pid, process.ppid], { root });
    assert.deepEqual(r.errors, []);
    assert.equal(r.path, 'kubepods/podU/sb1');
    assert.deepEqual(r.joined, [join(root, 'kubepods/podU/sb1')]);
    assert.deepEqual(r.created, [join(root, 'kubepods/podU'), join(root, 'kubepods/podU/sb1')]);
    // each pid is its own write (the kernel takes one per write); the fake keeps the last
    assert.equal(readFileSync(join(root, 'kubepods/podU/sb1/cgroup.procs'), 'utf8'), `${process.ppid}\n`);
    dropControlFiles(r.created);
    assert.deepEqual(await releaseVmCgroup(r.created), []);
    assert.ok(!existsSync(join(root, 'kubepods/podU')));
    assert.ok(existsSync(join(root, 'kubepods')), 'the kubelet\'s cgroup stays');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('v2: an existing sandbox cgroup is joined, not created, so nothing is removed at release', () => {
  const root = fakeCgroupfs(2);
  try {
    mkdirSync(join(root, 'kubepods/podU/sb1'), { recursive: true });
    const r = joinVmCgroup('/kubepods/podU/sb1', [process.pid], { root });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.created, []);
    assert.equal(readFileSync(join(root, 'kubepods/podU/sb1/cgroup.procs'), 'utf8'), `${process.pid}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('v1: every mounted hierarchy once (symlinks and plain dirs skipped); a new cpuset gets its parent\'s cpus and mems', () => {
  const root = fakeCgroupfs(1);
  try {
    assert.deepEqual(hierarchies(root).map((h) => [h.dir.slice(root.length + 1), h.cpuset]), [['cpu', false], ['cpuset', true], ['memory', false]]);
    const r = joinVmCgroup('/kubepods/podU/sb1', [process.pid], { root });
    assert.deepEqual(r.errors, []);
    assert.equal(r.joined.length, 3);
    for (const h of ['cpu', 'cpuset', 'memory']) assert.equal(readFileSync(join(root, h, 'kubepods/podU/sb1/cgroup.procs'), 'utf8'), `${process.pid}\n`, h);
    for (const d of ['kubepods', 'kubepods/podU', 'kubepods/podU/sb1']) {
      assert.equal(readFileSync(join(root, 'cpuset', d, 'cpuset.cpus'), 'utf8'), '0-3', d);
      assert.equal(readFileSync(join(root, 'cpuset', d, 'cpuset.mems'), 'utf8'), '0-1', d);
    }
    assert.ok(!existsSync(join(root, 'memory', 'kubepods', 'cpuset.cpus')), 'cpuset files only in the cpuset hierarchy');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('failures are reported naming the path, per hierarchy, without throwing', async () => {
  const root = fakeCgroupfs(1);
  try {
    mkdirSync(join(root, 'memory/kubepods/podU/sb1/cgroup.procs'), { recursive: true }); // the write fails (EISDIR)
    const r = joinVmCgroup('/kubepods/podU/sb1', [process.pid], { root });
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!, new RegExp(`^${join(root, 'memory/kubepods/podU/sb1')}: .*EISDIR`));
    assert.equal(r.joined.length, 2, 'the other hierarchies are joined');
    const sd = joinVmCgroup('kubepods.slice:cri-containerd:sb2', [process.pid], { root: fakeCgroupfs(2) });
    assert.match(sd.errors[0]!, /kubepods\.slice\/cri-containerd-sb2\.scope: the systemd scope does not exist/);
    assert.deepEqual(sd.created, []);
    assert.deepEqual(joinVmCgroup(undefined, [process.pid], { root }), { joined: [], created: [], errors: [] });
    assert.match(joinVmCgroup('/a/../../b', [1], { root }).errors[0]!, /linux\.cgroupsPath "\/a\/\.\.\/\.\.\/b" is not a cgroup path/);
    assert.match(joinVmCgroup('/x', [1], { root: join(root, 'absent') }).errors[0]!, /no cgroup hierarchy mounted under/);
    // a created directory someone else still uses is reported, not forced
    const created = joinVmCgroup('/other', [process.pid], { root: fakeCgroupfs(2) }).created;
    const left = await releaseVmCgroup(created, { waitMs: 0 });
    assert.equal(left.length, 1);
    assert.match(left[0]!, /other: ENOTEMPTY/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
