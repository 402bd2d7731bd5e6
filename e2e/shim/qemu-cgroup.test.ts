// A VM pod's QEMU and swtpm run in the sandbox's cgroup (the sandbox spec's linux.cgroupsPath, which
// containerd's CRI makes from the pod's cgroup parent: `<parent>/<sandbox id>` under the cgroupfs driver),
// so the VM's memory and CPU are the pod's; what the shim created there is gone after the pod.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Harness, processesMatching } from '../../shared/testing/harness.js';
import type { ContainerdFixture } from '../support/containerd.js';
import type { CriClient } from '../../host/cri/client.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { initdataToml } from '../guest/agent-client.js';
import { hierarchies } from '../../host/shim/vm-cgroup.js';
import { assertNoLeftovers, qemuSkipReason, startShimContainerd, type ShimFixture } from './support.js';
import { NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';

const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let cri: CriClient;
let shim: ShimFixture;
let skip: string | undefined;

before(async () => {
  skip = qemuSkipReason();
  if (!skip && !existsSync('/sys/fs/cgroup/memory/cgroup.procs') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) skip = 'no cgroup v1 memory or v2 hierarchy at /sys/fs/cgroup';
  if (skip) return;
  const rig = await startShimContainerd(h, { kind: 'qemu' });
  ({ shim, containerd: c, skip } = rig);
  if (rig.cri) cri = rig.cri;
});

/** The cgroup a process is in, per hierarchy (`memory`, `cpuset`, ... ; `` for v2). */
function cgroupsOf(pid: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls, path] = l.split(':') as [string, string, string];
    for (const k of ctrls.split(',')) m.set(k, path);
  }
  return m;
}

test('qemu hypervisor: QEMU and swtpm join the sandbox cgroup containerd names from the pod\'s cgroup parent; the cgroups the shim made are removed with the pod', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  // Under this test's own memory cgroup (the machine may limit it), as the kubelet's `<podsCgroup>/pod<uid>`.
  const own = cgroupsOf(process.pid).get('memory') ?? cgroupsOf(process.pid).get('') ?? '/';
  const top = `${own.replace(/\/+$/, '')}/cocolet-vmcg-${randomBytes(4).toString('hex')}`;
  const parent = `${top}/poduid-cg`;
  const tops = hierarchies('/sys/fs/cgroup').map((x) => join(x.dir, top));
  h.defer('test cgroups', () => {
    for (const d of tops) removeTree(d);
  });
  const sandboxConfig = {
    metadata: { name: 'qemu-cgroup', namespace: 'default', uid: 'uid-cg', attempt: 0 },
    hostname: 'qemu-cgroup',
    logDirectory: h.tempDir('ccl-'),
    annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': gzipSync(initdataToml({ policy: PERMISSIVE_POLICY })).toString('base64') },
    linux: { cgroupParent: parent, securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet').catch((e: unknown) => {
    throw new Error(`RunPodSandbox failed: ${(e as Error).message}\ncontainerd log:\n${c!.containerd.logTail(40)}`);
  });
  const want = `${parent}/${pod}`;
  const rec = JSON.parse(readFileSync(join(c.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', pod, 'cocolet-shim.json'), 'utf8')) as { vmPid: number };
  const swtpm = processesMatching(shim.stateDir).filter((p) => p !== rec.vmPid && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'swtpm');
  assert.equal(swtpm.length, 1, 'one swtpm for the VM');
  for (const [what, pid] of [['qemu', rec.vmPid], ['swtpm', swtpm[0]!]] as const) {
    const cg = cgroupsOf(pid);
    for (const ctrl of ['memory', 'cpu', 'cpuset', 'pids', ''].filter((k) => cg.has(k))) {
      assert.equal(cg.get(ctrl), want, `${what} (pid ${pid}) ${ctrl || 'v2'} cgroup`);
    }
  }
  const memDir = existsSync('/sys/fs/cgroup/memory/cgroup.procs') ? join('/sys/fs/cgroup/memory', want) : join('/sys/fs/cgroup', want);
  const procs = readFileSync(join(memDir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
  assert.ok(procs.includes(rec.vmPid) && procs.includes(swtpm[0]!), `${memDir}/cgroup.procs lists qemu and swtpm: ${procs.join(' ')}`);
  await cri.stopPodSandbox(pod);
  await cri.removePodSandbox(pod);
  await assertNoLeftovers(shim, c.dir);
  // the shim created top, pod and sandbox cgroups (nobody else did here) and removed them once empty
  for (const d of tops) assert.ok(!existsSync(d), `${d} removed`);
});

function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    /* still in use: reported by the test's own assertion */
  }
}
