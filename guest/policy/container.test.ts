import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FullMatchPatterns, literalPattern } from './container.js';

test('literalPattern: plain text and escaped syntax are literals; classes, escapes like \\d, anchors and groups are not', () => {
  assert.equal(literalPattern('MODE=prod'), 'MODE=prod');
  assert.equal(literalPattern('PATH=\\/usr\\/bin:\\/bin'), 'PATH=/usr/bin:/bin');
  assert.equal(literalPattern('A\\.B\\*\\(x\\)\\\\'), 'A.B*(x)\\');
  assert.equal(literalPattern(''), '');
  for (const p of ['A.B', 'X=\\d+', 'MODE=(prod|dev)', '^A$', 'A|B', '[AB]', 'A{2}', 'A?', '\\n', '\\1', 'trailing\\']) assert.equal(literalPattern(p), undefined, p);
});

test('FullMatchPatterns matches exactly what the single full-match alternation matches', () => {
  const lists = [
    ['MODE=prod', 'INDEX=3', 'POD_IP=.*', 'HOSTNAME=[a-z]{1,5}'],
    ['A\\.B', 'A.C', '(x)\\1', 'Q\\/R'],
    ['(a)', 'lit', '\\1b'], // a back-reference into another pattern's group keeps its number
    ['', 'only'],
    [],
  ];
  const inputs = ['MODE=prod', 'MODE=prodx', 'MODE=pro', 'INDEX=3', 'INDEX=31', 'POD_IP=', 'POD_IP=1.2', 'HOSTNAME=abc', 'HOSTNAME=abcdef', 'A.B', 'AxB', 'A.C', 'AxC', 'xx', 'x', 'Q/R', 'Q\\/R', 'a', 'lit', 'b', 'ab', '', 'only', 'only\n', 'line\nbreak'];
  for (const l of lists) {
    const single = new RegExp(`^(?:${l.map((p) => `(?:${p})`).join('|') || '(?!)'})$`, 's');
    const m = new FullMatchPatterns(l);
    for (const s of inputs) assert.equal(m.test(s), single.test(s), `${JSON.stringify(l)} on ${JSON.stringify(s)}`);
  }
});
