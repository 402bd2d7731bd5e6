// asciiSource: the bundles are stored as one-byte strings by V8 and still mean the same program.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { asciiSource } from './pack.js';

test('asciiSource escapes every non-ASCII character without changing what the program does', () => {
  const src = [
    '/** Path → last error … */',
    '// usage − inactive_file — a comment',
    'const s = "a→b", t = `x…${1 + 1}`, r = /[→−]/u, e = "😀";',
    'JSON.stringify({ s, t, r: r.test("−"), len: e.length, cp: e.codePointAt(0) })',
  ].join('\n');
  const out = asciiSource(src);
  assert.doesNotMatch(out, /[\u0080-\uffff]/, 'only ASCII left');
  assert.match(out, /Path \\u2192 last/, 'comments keep the character as an escape');
  assert.equal(runInNewContext(out), runInNewContext(src));
  assert.deepEqual(JSON.parse(runInNewContext(out) as string), { s: 'a→b', t: 'x…2', r: true, len: 2, cp: 0x1f600 });
  assert.equal(asciiSource('plain();'), 'plain();');
});

test('asciiSource refuses a raw line separator (escaping it inside a // comment would turn code into comment)', () => {
  assert.throws(() => asciiSource('// a\u2028b();'), /U\+2028/);
});
