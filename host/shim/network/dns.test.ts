import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolvConfCopy } from './dns.js';

const CID = 'a'.repeat(64);
const spec = { mounts: [{ destination: '/etc/resolv.conf', source: '/var/lib/containerd/sandboxes/x/resolv.conf', type: 'bind', options: ['rbind', 'rprivate', 'rw'] }] };
const read = (): Buffer => Buffer.from('nameserver 10.96.0.10\nsearch default.svc.cluster.local\noptions ndots:5\n');

test('resolv.conf: copied under the shared folder with the admitted name and bound in its place', () => {
  const f = resolvConfCopy(spec, CID, read)!;
  assert.match(f.path, new RegExp(`^/run/kata-containers/shared/containers/${CID}-[a-z0-9]{16}-resolv\\.conf$`));
  assert.equal(f.data.toString(), read().toString());
  assert.deepEqual(f.mount, { destination: '/etc/resolv.conf', source: f.path, type: 'bind', options: ['rbind', 'rprivate', 'rw'] });
});

test('resolv.conf: nothing when the spec binds none, the id is not CRI\'s or the file is unreadable', () => {
  assert.equal(resolvConfCopy({ mounts: [] }, CID, read), undefined);
  assert.equal(resolvConfCopy(spec, 'ctr-task', read), undefined);
  assert.equal(resolvConfCopy(spec, CID, () => {
    throw new Error('ENOENT');
  }), undefined);
});
