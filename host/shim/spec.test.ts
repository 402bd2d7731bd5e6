import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertSpec, sysctlsOf, withPodSysctls } from './spec.js';
import type { OciSpec } from './bundle.js';

const criSpec: OciSpec = {
  ociVersion: '1.0.2-dev',
  process: { args: ['/bin/sh', '-c', 'echo hi'], env: ['PATH=/bin'], cwd: '/work', user: { uid: 1000, gid: 1000, additionalGids: [10] }, rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }], oomScoreAdj: 0 },
  root: { path: 'rootfs', readonly: true },
  hostname: 'pod-a',
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['mode=755'] },
    { destination: '/etc/hosts', type: 'bind', source: '/var/lib/containerd/sandboxes/x/hosts', options: ['rbind', 'ro'] },
    { destination: '/etc/resolv.conf', source: '/var/run/x/resolv.conf', options: ['bind', 'ro'] },
  ],
  annotations: { 'io.kubernetes.cri.container-type': 'container' },
  linux: { namespaces: [{ type: 'network', path: '/var/run/netns/cni-1' }, { type: 'pid' }], resources: { memory: { limit: 1048576 }, cpu: { shares: 2, quota: 50000, period: 100000 } }, maskedPaths: ['/proc/kcore'] },
};

test('spec: process fields are carried over', () => {
  const { spec } = convertSpec(criSpec, '/run/guest/c1/rootfs');
  assert.deepEqual(spec.Process?.Args, ['/bin/sh', '-c', 'echo hi']);
  assert.equal(spec.Process?.Cwd, '/work');
  assert.equal(spec.Process?.User?.UID, 1000);
  assert.deepEqual(spec.Process?.User?.AdditionalGids, [10]);
  assert.equal(spec.Process?.Rlimits[0]?.Hard, 1024n);
  assert.equal(spec.Root?.Path, '/run/guest/c1/rootfs');
  assert.equal(spec.Root?.Readonly, true);
  assert.equal(spec.Hostname, 'pod-a');
  assert.equal(spec.Linux?.Resources?.Memory?.Limit, 1048576n);
  assert.equal(spec.Linux?.Resources?.CPU?.Quota, 50000n);
  assert.deepEqual(spec.Linux?.MaskedPaths, ['/proc/kcore']);
});

test('spec: host bind mounts and namespace paths never reach the guest', () => {
  const { spec, droppedMounts } = convertSpec(criSpec, '/r');
  assert.deepEqual(spec.Mounts.map((m) => m.destination), ['/proc', '/dev']);
  assert.deepEqual(droppedMounts, ['/etc/hosts', '/etc/resolv.conf']);
  assert.deepEqual(spec.Linux?.Namespaces.map((n) => [n.Type, n.Path]), [['network', ''], ['pid', '']]);
});

test('spec: a pid namespace named by path (the CRI\'s POD mode) asks the agent for the pod\'s; one without a path does not', () => {
  const pod = convertSpec({ linux: { namespaces: [{ type: 'pid', path: '/proc/42/ns/pid' }, { type: 'mount' }] } }, '/r');
  assert.equal(pod.sandboxPidns, true);
  assert.deepEqual(pod.spec.Linux?.Namespaces.map((n) => [n.Type, n.Path]), [['pid', ''], ['mount', '']]);
  assert.equal(convertSpec({ linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/x' }] } }, '/r').sandboxPidns, false);
  assert.equal(convertSpec({ linux: { namespaces: [{ type: 'mount' }] } }, '/r').sandboxPidns, false, 'no pid namespace at all: not the pod\'s');
});

test('spec: an empty spec still gives a usable process', () => {
  const { spec } = convertSpec({}, '/r');
  assert.equal(spec.Process?.Cwd, '/');
  assert.deepEqual(spec.Process?.Args, []);
});

test('spec: host cpus / mems never reach a VM guest; the process hypervisor\'s host agent keeps them (its runc sets cpuset.cpus / cpuset.mems)', () => {
  const pinned: OciSpec = { ...criSpec, linux: { resources: { cpu: { shares: 2048, cpus: '2-3', mems: '0' } } } };
  const vm = convertSpec(pinned, '/r').spec.Linux?.Resources?.CPU;
  assert.deepEqual([vm?.Cpus, vm?.Mems], ['', '']);
  const host = convertSpec(pinned, '/r', { hostCpuset: true }).spec.Linux?.Resources?.CPU;
  assert.deepEqual([host?.Cpus, host?.Mems, host?.Shares], ['2-3', '0', 2048n]);
});

test('spec: every container gets the pod\'s sysctls (from the sandbox spec) unless it sets the same key itself', () => {
  const pod = sysctlsOf({ linux: { sysctl: { 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100', bad: 3 } } } as unknown as OciSpec);
  assert.deepEqual(pod, { 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100' });
  const own = withPodSysctls(convertSpec({ process: { args: ['x'] }, linux: { sysctl: { 'fs.mqueue.msg_max': '10' } } } as OciSpec, '/r').spec, pod);
  assert.deepEqual({ ...own.Linux?.Sysctl }, { 'fs.mqueue.msg_max': '10', 'kernel.shm_rmid_forced': '1' });
  const none = withPodSysctls(convertSpec({ process: { args: ['x'] } } as OciSpec, '/r').spec, pod);
  assert.deepEqual({ ...none.Linux?.Sysctl }, pod);
  assert.deepEqual({ ...withPodSysctls(convertSpec({ process: { args: ['x'] } } as OciSpec, '/r').spec, {}).Linux?.Sysctl }, {});
});
