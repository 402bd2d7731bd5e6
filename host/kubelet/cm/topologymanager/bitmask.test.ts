import { test } from 'node:test';
import assert from 'node:assert/strict';
import { count, forEachMask, formatMask, idsOf, isNarrowerThan, isSubset, maskOf } from './bitmask.js';
import { NumaInfo } from './numa-info.js';
import { EIGHT_NODES } from './testing.js';

test('maskOf/idsOf round-trip, including node 31', () => {
  assert.deepEqual(idsOf(maskOf([3, 0, 31])), [0, 3, 31]);
  assert.equal(maskOf([31]), 2 ** 31);
  assert.equal(maskOf([]), 0);
});

test('maskOf refuses ids outside 0..31, naming the id', () => {
  assert.throws(() => maskOf([32]), /NUMA node id 32 is outside 0\.\.31/);
  assert.throws(() => maskOf([-1]), /-1/);
  assert.throws(() => maskOf([1.5]), /1\.5/);
});

test('count', () => {
  assert.equal(count(0), 0);
  assert.equal(count(maskOf([0, 1, 2, 31])), 4);
  assert.equal(count(0xffffffff), 32);
});

test('isNarrowerThan: fewer nodes, then lower value (the kubelet TestIsNarrowerThan cases)', () => {
  assert.equal(isNarrowerThan(maskOf([0]), maskOf([0, 1])), true);
  assert.equal(isNarrowerThan(maskOf([0, 1]), maskOf([0])), false);
  assert.equal(isNarrowerThan(maskOf([0, 1]), maskOf([1, 2])), true);
  assert.equal(isNarrowerThan(maskOf([1, 2]), maskOf([0, 1])), false);
  assert.equal(isNarrowerThan(maskOf([0]), maskOf([0])), false);
});

test('isSubset and formatMask', () => {
  assert.equal(isSubset(maskOf([1]), maskOf([0, 1])), true);
  assert.equal(isSubset(maskOf([2]), maskOf([0, 1])), false);
  assert.equal(formatMask(maskOf([0, 2])), '{0,2}');
  assert.equal(formatMask(null), 'any');
});

test('forEachMask: by size, each size in lexicographic order (IterateBitMasks)', () => {
  const seen: number[][] = [];
  forEachMask([0, 1, 2], (m) => seen.push(idsOf(m)));
  assert.deepEqual(seen, [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]);
  let k = 0;
  forEachMask([0, 1, 2, 3, 4, 5, 6, 7], () => k++);
  assert.equal(k, 255);
});

test('NumaInfo: average distance and closest (numa_info_test facts)', () => {
  const numa = new NumaInfo(EIGHT_NODES.numaNodes, EIGHT_NODES.distances);
  assert.equal(numa.averageDistance(maskOf([0])), 10);
  assert.equal(numa.averageDistance(maskOf([0, 1])), (10 + 11 + 11 + 10) / 4);
  assert.equal(numa.averageDistance(maskOf([0, 4])), (10 + 30 + 30 + 10) / 4);
  assert.equal(numa.closest(maskOf([0, 4]), maskOf([0, 2])), maskOf([0, 2]));
  assert.equal(numa.closest(maskOf([4]), maskOf([0, 2])), maskOf([4]));
  // equal distance: lower mask value
  assert.equal(numa.closest(maskOf([2, 3]), maskOf([0, 1])), maskOf([0, 1]));
  // 7->6 is 13 but 6->7 is 11: rows are read as given (directed)
  assert.equal(numa.averageDistance(maskOf([6, 7])), (10 + 11 + 13 + 10) / 4);
  assert.equal(numa.hasDistances(), true);
  assert.equal(new NumaInfo([0, 1]).hasDistances(), false);
});

test('NumaInfo: distances index by position in the node list (sparse ids)', () => {
  const numa = new NumaInfo([0, 2], { 0: [10, 20], 2: [20, 10] });
  assert.equal(numa.distance(0, 2), 20);
  assert.equal(numa.averageDistance(maskOf([0, 2])), 15);
  assert.throws(() => new NumaInfo([0, 0]), /listed twice/);
});
