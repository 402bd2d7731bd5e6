import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, human, parseQuantity, quantityValue } from './quantity.js';

const cases: [string, number | undefined][] = [
  ['100Mi', 100 * 2 ** 20],
  ['1Gi', 2 ** 30],
  ['1G', 1e9],
  ['1e3', 1000],
  ['-150Mi', -150 * 2 ** 20],
  ['0', 0],
  ['1.5Ki', 1536],
  ['250m', 0.25],
  ['lots', undefined],
  ['10%', undefined],
  ['', undefined],
];
for (const [text, want] of cases) test(`quantity ${JSON.stringify(text)}`, () => assert.equal(parseQuantity(text), want));

test('Value() rounds up; formatting picks the largest exact binary suffix', () => {
  assert.equal(quantityValue('250m'), 1);
  assert.equal(formatBytes(300 * 2 ** 20), '300Mi');
  assert.equal(formatBytes(1536 * 2 ** 20), '1536Mi');
  assert.equal(formatBytes(2 ** 30), '1Gi');
  assert.equal(formatBytes(-200 * 2 ** 20), '-200Mi');
  assert.equal(formatBytes(1000), '1000');
  assert.equal(human(300 * 2 ** 20 + 1), '300.0Mi');
  assert.equal(human(300 * 2 ** 20), '300Mi');
});
