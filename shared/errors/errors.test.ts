import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CocoletError, ErrorCode, toCocoletError, isCocoletError } from './errors.js';
import { StatusCode, statusCodeOf, errorFromStatus } from './status.js';

const cases: { name: string; err: unknown; status: number }[] = [
  { name: 'policy denial is PERMISSION_DENIED', err: new CocoletError(ErrorCode.PolicyDenied, 'x'), status: StatusCode.PERMISSION_DENIED },
  { name: 'too-large frame is RESOURCE_EXHAUSTED', err: new CocoletError(ErrorCode.FrameTooLarge, 'x'), status: StatusCode.RESOURCE_EXHAUSTED },
  { name: 'ENOENT maps to NOT_FOUND like Go convertCode', err: Object.assign(new Error('x'), { code: 'ENOENT' }), status: StatusCode.NOT_FOUND },
  { name: 'AbortError maps to CANCELLED', err: Object.assign(new Error('x'), { name: 'AbortError' }), status: StatusCode.CANCELLED },
  { name: 'a plain error is UNKNOWN', err: new Error('x'), status: StatusCode.UNKNOWN },
  { name: 'a thrown string is UNKNOWN', err: 'x', status: StatusCode.UNKNOWN },
];
for (const tc of cases) test(tc.name, () => assert.equal(statusCodeOf(tc.err), tc.status));

test('every error code maps to a status other than OK', () => {
  for (const code of Object.values(ErrorCode)) assert.notEqual(statusCodeOf(new CocoletError(code, 'x')), StatusCode.OK, code);
});

test('status round trip keeps the code for the standard statuses', () => {
  for (const s of [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16]) {
    assert.equal(statusCodeOf(errorFromStatus(s, 'm')), s, `status ${s}`);
  }
});

test('context is kept and existing keys win', () => {
  const e = new CocoletError(ErrorCode.NotFound, 'no such container', { context: { container: 'c1' } });
  const w = e.withContext({ container: 'other', pod: 'p' });
  assert.deepEqual(w.context, { container: 'c1', pod: 'p' });
  assert.equal(w.code, ErrorCode.NotFound);
  assert.ok(isCocoletError(toCocoletError(w), ErrorCode.NotFound));
  assert.equal(toCocoletError(new Error('boom')).code, ErrorCode.Internal);
});
