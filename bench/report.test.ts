import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BenchReport, percentile } from './report.js';

test('prints a table and then one JSON line per figure, last', () => {
  const r = new BenchReport('demo');
  r.add({ figure: 'rps', unit: 'ops/s', value: 200, peer: 'peer', peer_value: 100, better: 'higher' });
  const lines: string[] = [];
  r.print((l) => lines.push(l));
  const last = JSON.parse(lines.at(-1)!);
  assert.deepEqual(last, { bench: 'demo', figure: 'rps', unit: 'ops/s', value: 200, peer: 'peer', peer_value: 100, ratio: 2, better: 'higher' });
  assert.match(lines[0]!, /bench demo/);
});

test('percentile picks the nearest rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile([], 50), 0);
});
