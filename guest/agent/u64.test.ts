import { test } from 'node:test';
import assert from 'node:assert/strict';
import { u64 } from './service.js';

test('u64: runc counters become uint64; the "no limit" value stays in range', () => {
  assert.equal(u64(undefined), 0n);
  assert.equal(u64(-3), 0n);
  assert.equal(u64(4096.7), 4096n);
  // runc prints 18446744073709551615 for an unlimited cgroup; JSON.parse rounds it to 2^64
  assert.equal(u64(JSON.parse('18446744073709551615') as number), 0xffff_ffff_ffff_ffffn);
});
