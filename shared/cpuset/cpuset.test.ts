import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError } from '../errors/errors.js';
import { CpuSet } from './cpuset.js';

const parses: { text: string; ids: number[]; canonical: string }[] = [
  { text: '', ids: [], canonical: '' },
  { text: '0', ids: [0], canonical: '0' },
  { text: '0-3,8', ids: [0, 1, 2, 3, 8], canonical: '0-3,8' },
  { text: '0-1\n', ids: [0, 1], canonical: '0-1' },
  { text: '8,0-3', ids: [0, 1, 2, 3, 8], canonical: '0-3,8' },
  { text: '1,2,3,5,6,7', ids: [1, 2, 3, 5, 6, 7], canonical: '1-3,5-7' },
  { text: '2-2', ids: [2], canonical: '2' },
  { text: '0-1,1-2', ids: [0, 1, 2], canonical: '0-2' },
];
for (const tc of parses) {
  test(`parse ${JSON.stringify(tc.text)}`, () => {
    const s = CpuSet.parse(tc.text);
    assert.deepEqual(s.toArray(), tc.ids);
    assert.equal(s.toString(), tc.canonical);
    assert.equal(JSON.stringify({ s }), JSON.stringify({ s: tc.canonical }));
  });
}

const malformed: { text: string; error: RegExp }[] = [
  { text: '0-', error: /element "0-" is a range without an end/ },
  { text: '3-1', error: /element "3-1" is a reversed range \(3 > 1\)/ },
  { text: '1,,2', error: /element "" is empty \(stray comma\)/ },
  { text: '-1', error: /element "-1" starts with "-"/ },
  { text: 'a', error: /element "a" is not a CPU id or a range N-M/ },
  { text: '0-7:2', error: /stride syntax/ },
  { text: ' 1', error: /element " 1" is not a CPU id/ },
  { text: '1.5', error: /element "1.5" is not a CPU id/ },
  { text: '9000', error: /exceeds the highest CPU id 8191/ },
];
for (const tc of malformed) {
  test(`malformed ${JSON.stringify(tc.text)} is refused with a clear error`, () => {
    assert.throws(
      () => CpuSet.parse(tc.text),
      (e: unknown) => isCocoletError(e, 'COCOLET_INVALID_ARGUMENT') && tc.error.test(e.message) && e.message.includes(JSON.stringify(tc.text)),
    );
  });
}

test('set operations', () => {
  const a = CpuSet.parse('0-5');
  const b = CpuSet.parse('4-9');
  assert.equal(a.union(b).toString(), '0-9');
  assert.equal(a.intersection(b).toString(), '4-5');
  assert.equal(a.difference(b).toString(), '0-3');
  assert.equal(b.difference(a).toString(), '6-9');
  assert.ok(CpuSet.of(4, 5).isSubsetOf(a));
  assert.ok(!b.isSubsetOf(a));
  assert.ok(CpuSet.of(3, 1, 2).equals(CpuSet.parse('1-3')));
  assert.ok(!CpuSet.of(1).equals(CpuSet.of(2)));
  assert.equal(a.size, 6);
  assert.ok(a.has(0) && !a.has(6));
  assert.deepEqual([...CpuSet.of(2, 1)], [1, 2]);
  assert.ok(CpuSet.EMPTY.isEmpty());
});

test('from refuses ids that are not CPU ids', () => {
  assert.throws(() => CpuSet.of(-1), /cpu id -1 is not an integer/);
  assert.throws(() => CpuSet.of(1.5), /cpu id 1.5 is not an integer/);
});
