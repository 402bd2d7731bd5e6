import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawMember } from './json-raw.js';
import { EvidenceError } from './errors.js';

const cases: { name: string; doc: string; key: string; want: string | null }[] = [
  { name: 'object member, compact', doc: '{"tcbInfo":{"a":1,"b":[1,2]},"signature":"ab"}', key: 'tcbInfo', want: '{"a":1,"b":[1,2]}' },
  { name: 'whitespace kept inside, trimmed outside', doc: '{ "x" : 1 ,\n "tcbInfo" :  { "a" : "}" } , "signature":"ab"}', key: 'tcbInfo', want: '{ "a" : "}" }' },
  { name: 'escaped quotes and braces in strings', doc: '{"tcbInfo":{"s":"a\\"}{"},"signature":"x"}', key: 'tcbInfo', want: '{"s":"a\\"}{"}' },
  { name: 'nested key of the same name is not top-level', doc: '{"outer":{"tcbInfo":1},"tcbInfo":{"z":2}}', key: 'tcbInfo', want: '{"z":2}' },
  { name: 'string member', doc: '{"signature":"abcd"}', key: 'signature', want: '"abcd"' },
  { name: 'missing member', doc: '{"other":{}}', key: 'tcbInfo', want: null },
  { name: 'not an object', doc: '[1,2]', key: 'tcbInfo', want: null },
  { name: 'unterminated', doc: '{"tcbInfo":{"a":1', key: 'tcbInfo', want: null },
  { name: 'bad escape in a member name', doc: '{"\\x":1}', key: 'tcbInfo', want: null },
];

for (const c of cases) {
  test(`rawMember: ${c.name}`, () => {
    if (c.want === null) assert.throws(() => rawMember(c.doc, c.key, 'doc'), (e) => e instanceof EvidenceError && e.reason === 'evidence.malformed');
    else assert.equal(rawMember(c.doc, c.key, 'doc'), c.want);
  });
}
