import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BytesValueSchema } from '@bufbuild/protobuf/wkt';
import { RequestSchema } from '../gen/ttrpc/request_pb.js';
import { encodeMessage, joinChunks, LARGE_BYTES } from './codec.js';

const big = Buffer.alloc(LARGE_BYTES * 3, 7);

const cases = [
  { name: 'small message: one chunk, same bytes as toBinary', schema: BytesValueSchema, init: { value: Buffer.from('abc') }, chunks: 1 },
  { name: 'large bytes only: no copy of the payload', schema: BytesValueSchema, init: { value: big }, chunks: 2 },
  {
    name: 'large bytes among other fields',
    schema: RequestSchema,
    init: { service: 's', method: 'm', payload: big, timeoutNano: 5n, metadata: [{ key: 'k', value: 'v' }] },
    chunks: 3,
  },
];

for (const tc of cases) {
  test(`codec: ${tc.name}`, () => {
    const msg = create(tc.schema as typeof RequestSchema, tc.init as never);
    const enc = encodeMessage(tc.schema, msg);
    assert.equal(enc.chunks.length, tc.chunks);
    const joined = joinChunks(enc);
    assert.equal(joined.length, enc.length);
    assert.ok(equals(tc.schema as typeof RequestSchema, fromBinary(tc.schema as typeof RequestSchema, joined), msg as never));
    if (tc.chunks === 1) assert.deepEqual(Buffer.from(joined), Buffer.from(toBinary(tc.schema as typeof RequestSchema, msg as never)));
    else assert.equal(enc.chunks[enc.chunks.length - 1], (msg as unknown as Record<string, unknown>)[tc.schema === BytesValueSchema ? 'value' : 'payload']);
  });
}
