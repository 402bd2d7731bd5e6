import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCocoletError } from '../../shared/errors/index.js';
import { checkHostNodes, hostMemoryNodes, parseNodeList, qemuHostNodes } from './numa.js';

function fakeSysfs(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-numa-'));
  mkdirSync(join(root, 'devices/system/node'), { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(root, 'devices/system/node', f), text);
  return root;
}

test('node lists: ranges and singles, sorted and deduplicated; a bad element is named', () => {
  assert.deepEqual(parseNodeList('2,0-1,1\n'), [0, 1, 2]);
  assert.deepEqual(parseNodeList(''), []);
  assert.throws(() => parseNodeList('0,x'), /element "x" is not a number or a range/);
  assert.throws(() => parseNodeList('3-1'), /range "3-1" ends before it starts/);
  assert.throws(() => parseNodeList('200'), /NUMA node 200 is beyond 127/);
});

test('QEMU host-nodes words: one key per range', () => {
  assert.equal(qemuHostNodes([0]), 'host-nodes=0');
  assert.equal(qemuHostNodes([3, 0, 1, 2, 7]), 'host-nodes=0-3,host-nodes=7');
});

test('host nodes: has_memory first (a memoryless node cannot take guest RAM), else online, else node 0', () => {
  const both = fakeSysfs({ online: '0-3\n', has_memory: '0,2\n' });
  const online = fakeSysfs({ online: '0-1\n' });
  const none = fakeSysfs({});
  try {
    assert.deepEqual(hostMemoryNodes(both), [0, 2]);
    assert.deepEqual(hostMemoryNodes(online), [0, 1]);
    assert.deepEqual(hostMemoryNodes(none), [0]);
  } finally {
    for (const d of [both, online, none]) rmSync(d, { recursive: true, force: true });
  }
});

test('a node the host does not have is refused, naming the node and the host\'s nodes', () => {
  const root = fakeSysfs({ online: '0-3\n', has_memory: '0,2\n' });
  try {
    assert.deepEqual(checkHostNodes([2, 0, 2], { sysfsRoot: root }), [0, 2]);
    let err: unknown;
    try {
      checkHostNodes([0, 1, 5], { sysfsRoot: root, sandbox: 'sb1' });
    } catch (e) {
      err = e;
    }
    assert.ok(isCocoletError(err));
    assert.equal(err.code, 'COCOLET_INVALID_ARGUMENT');
    assert.match(err.message, /cannot be bound to NUMA nodes 1,5: this host has no such node with memory \(its NUMA nodes: 0,2\)/);
    assert.equal(err.context.sandbox, 'sb1');
    assert.throws(() => checkHostNodes([], { sysfsRoot: root }), /no NUMA node given/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('this machine: node 0 is accepted', () => {
  assert.deepEqual(checkHostNodes([0]), [0]);
});
