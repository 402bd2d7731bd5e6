import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseShimFlags, serveArgv } from './flags.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/errors.js';

const ok = [
  {
    name: 'containerd 1.6 start argv',
    argv: ['-namespace', 'k8s.io', '-address', '/run/c.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'abc', '-debug', 'start'],
    want: { namespace: 'k8s.io', address: '/run/c.sock', publishBinary: '/usr/bin/containerd', id: 'abc', debug: true, action: 'start', bundle: '' },
  },
  {
    name: 'containerd 1.6 delete argv with bundle',
    argv: ['-namespace', 'default', '-address', '/a', '-publish-binary', '/b', '-id', 'x1', '-bundle', '/s/b', 'delete'],
    want: { namespace: 'default', id: 'x1', bundle: '/s/b', debug: false, action: 'delete' },
  },
  { name: 'equals form and double dash', argv: ['--namespace=n', '-id=i', '-debug=false', 'start'], want: { namespace: 'n', id: 'i', debug: false, action: 'start' } },
  { name: 'version flag', argv: ['-v'], want: { action: 'version' } },
  { name: 'no action prints help', argv: [], want: { action: 'help' } },
];

for (const tc of ok) {
  test(`flags: ${tc.name}`, () => {
    const f = parseShimFlags(tc.argv);
    for (const [k, v] of Object.entries(tc.want)) assert.equal((f as unknown as Record<string, unknown>)[k], v, k);
  });
}

const bad = [
  { name: 'unknown flag', argv: ['-nope', 'x', 'start'] },
  { name: 'missing value', argv: ['-namespace'] },
  { name: 'unknown action', argv: ['-namespace', 'n', '-id', 'i', 'explode'] },
  { name: 'start without id', argv: ['-namespace', 'n', 'start'] },
  { name: 'id with path traversal', argv: ['-namespace', 'n', '-id', '../etc', 'start'] },
  { name: 'two actions', argv: ['-namespace', 'n', '-id', 'i', 'start', 'delete'] },
];
for (const tc of bad) {
  test(`flags rejects: ${tc.name}`, () => {
    assert.throws(() => parseShimFlags(tc.argv), (e) => isCocoletError(e, ErrorCode.InvalidArgument));
  });
}

test('flags: serve argv round-trips through the parser', () => {
  const f = parseShimFlags(['-namespace', 'k8s.io', '-address', '/c', '-publish-binary', '/p', '-id', 'sb', '-debug', 'start']);
  const g = parseShimFlags(serveArgv(f, '/bundle', '/run/s/x'));
  assert.equal(g.action, 'serve');
  assert.equal(g.bundle, '/bundle');
  assert.equal(g.socket, '/run/s/x');
  assert.equal(g.id, 'sb');
  assert.equal(g.debug, true);
});
