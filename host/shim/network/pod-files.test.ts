import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podFileCopies } from './pod-files.js';

const CID = 'a'.repeat(64);
const files: Record<string, string> = {
  '/var/lib/containerd/sandboxes/x/resolv.conf': 'nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n',
  '/var/lib/containerd/sandboxes/x/hosts': '127.0.0.1 localhost\n10.88.0.5 web-0\n',
  '/var/lib/containerd/sandboxes/x/hostname': 'web-0\n',
};
const read = (p: string): Buffer => {
  const s = files[p];
  if (s === undefined) throw new Error(`ENOENT ${p}`);
  return Buffer.from(s);
};
const bind = (destination: string, source: string, options = ['rbind', 'rprivate', 'rw']) => ({ destination, source, type: 'bind', options });
const spec = {
  mounts: [
    { destination: '/proc', source: 'proc', type: 'proc', options: [] },
    bind('/etc/hostname', '/var/lib/containerd/sandboxes/x/hostname'),
    bind('/etc/hosts', '/var/lib/containerd/sandboxes/x/hosts', ['rbind', 'rprivate', 'ro']),
    bind('/etc/resolv.conf', '/var/lib/containerd/sandboxes/x/resolv.conf'),
    bind('/data', '/var/lib/kubelet/pods/p/volumes/v'),
  ],
};

test('pod files: hosts, hostname and resolv.conf copied under the shared folder with the admitted names and bound in their place', () => {
  const f = podFileCopies(spec, CID, read);
  assert.deepEqual(f.map((x) => x.mount.destination), ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
  for (const x of f) {
    const name = x.mount.destination.slice('/etc/'.length);
    assert.match(x.path, new RegExp(`^/run/kata-containers/shared/containers/${CID}-[a-z0-9]{16}-${name.replace('.', '\\.')}$`));
    assert.equal(x.mount.source, x.path);
    assert.equal(x.mount.type, 'bind');
  }
  assert.equal(f[0]!.data.toString(), 'web-0\n');
  assert.deepEqual(f[1]!.mount.options, ['rbind', 'rprivate', 'ro'], 'read-only stays read-only');
  assert.match(f[2]!.data.toString(), /nameserver 10\.96\.0\.10/);
  const random = (x: { path: string }): string => x.path.slice(x.path.lastIndexOf('/') + 66, x.path.lastIndexOf('/') + 82);
  assert.notEqual(random(f[0]!), random(f[1]!), 'each copy has its own random part');
});

test('pod files: the copies match the guest policy\'s CopyFile rule', async () => {
  const { SHARED_COPY_PATH } = await import('../../../shared/agent-policy/defaults.js');
  for (const x of podFileCopies(spec, CID, read)) assert.match(x.path, new RegExp(SHARED_COPY_PATH));
});

test('pod files: none for a non-CRI id; an unreadable file, a non-bind or another destination is left out; options the guest must not get are dropped', () => {
  assert.deepEqual(podFileCopies(spec, 'ctr-task', read), []);
  assert.deepEqual(podFileCopies({ mounts: [] }, CID, read), []);
  assert.deepEqual(podFileCopies({ mounts: [bind('/etc/hosts', '/nonexistent')] }, CID, read), []);
  assert.deepEqual(podFileCopies({ mounts: [{ destination: '/etc/hosts', source: 'tmpfs', type: 'tmpfs', options: [] }] }, CID, read), []);
  const [h] = podFileCopies({ mounts: [{ destination: '/etc/hosts', source: '/var/lib/containerd/sandboxes/x/hosts', type: 'none', options: ['bind', 'rshared', 'suid', 'ro'] }] }, CID, read);
  assert.deepEqual(h!.mount.options, ['bind', 'ro']);
});

test('pod files: a destination bound twice is copied once, from the last bind (the one runc leaves visible)', () => {
  const f = podFileCopies({ mounts: [bind('/etc/hosts', '/var/lib/containerd/sandboxes/x/hosts'), bind('/etc/hosts', '/var/lib/containerd/sandboxes/x/hostname')] }, CID, read);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.data.toString(), 'web-0\n');
});
