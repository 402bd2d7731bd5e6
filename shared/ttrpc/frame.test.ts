import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, encodeFrame, MessageType, Flag, type FrameHeader } from './frame.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './envelope.js';
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { RequestSchema, ResponseSchema } from '../gen/ttrpc/request_pb.js';

function collect(max?: number): { frames: Array<[FrameHeader, Buffer]>; oversize: FrameHeader[]; dec: FrameDecoder } {
  const frames: Array<[FrameHeader, Buffer]> = [];
  const oversize: FrameHeader[] = [];
  const dec = new FrameDecoder({ frame: (h, d) => frames.push([h, Buffer.from(d)]), oversize: (h) => oversize.push(h) }, max);
  return { frames, oversize, dec };
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s).toString('hex');

// Golden bytes captured between a Go ttrpc client and server (reference peers.md §6.4).
const goldenEchoRequest = hex(`00000023 00000001 01 00 0a12 ${ascii('peers.echo.v1.Echo')} 1204 ${ascii('Echo')} 1a07 0a05 ${ascii('abcde')}`);
const goldenEchoResponse = hex(`00000009 00000001 02 00 1207 0a05 ${ascii('abcde')}`);
const goldenFailResponse = hex(`00000018 00000003 02 00 0a16 0802 1212 ${ascii('deliberate failure')}`);

const splitCases = [
  { name: 'one chunk', sizes: [Infinity] },
  { name: 'byte by byte', sizes: [1] },
  { name: 'header split', sizes: [3, 4, 100] },
  { name: 'body split', sizes: [12, 5, 1000] },
];

for (const tc of splitCases) {
  test(`decoder: three frames, ${tc.name}`, () => {
    const all = Buffer.concat([goldenEchoRequest, encodeFrame(3, MessageType.Data, Flag.RemoteClosed | Flag.NoData), goldenEchoResponse]);
    const { frames, dec } = collect();
    let off = 0;
    let i = 0;
    while (off < all.length) {
      const n = Math.min(tc.sizes[Math.min(i++, tc.sizes.length - 1)]!, all.length - off);
      dec.push(all.subarray(off, off + n));
      off += n;
    }
    assert.equal(frames.length, 3);
    assert.deepEqual(frames.map(([h]) => [h.streamId, h.type, h.flags, h.length]), [
      [1, 1, 0, 0x23],
      [3, 3, 5, 0],
      [1, 2, 0, 9],
    ]);
    assert.equal(dec.midFrame, false);
  });
}

test('decoder: oversized frame is discarded and reported, later frames still decode', () => {
  const { frames, oversize, dec } = collect(16);
  const big = encodeFrame(5, MessageType.Request, 0, Buffer.alloc(100, 1));
  dec.push(big.subarray(0, 40));
  assert.equal(oversize.length, 0);
  dec.push(Buffer.concat([big.subarray(40), goldenEchoResponse]));
  assert.deepEqual(oversize.map((h) => [h.streamId, h.length]), [[5, 100]]);
  assert.equal(frames.length, 1);
});

test('envelope: request encoding matches Go ttrpc golden bytes', () => {
  const enc = encodeRequest(10, 'peers.echo.v1.Echo', 'Echo', hex(`0a05 ${ascii('abcde')}`), 0, undefined);
  const frame = Buffer.concat([enc.prefix, ...enc.payload!]);
  frame.writeUInt32BE(enc.length, 0);
  frame.writeUInt32BE(1, 4);
  frame[8] = 1;
  frame[9] = 0;
  assert.deepEqual(frame, goldenEchoRequest);
});

test('envelope: response encodings match Go ttrpc golden bytes', () => {
  const ok = encodeResponse(0, undefined, hex(`0a05 ${ascii('abcde')}`));
  assert.deepEqual(Buffer.concat([ok.prefix, ...ok.payload!]), goldenEchoResponse.subarray(10));
  const fail = encodeResponse(0, { code: 2, message: 'deliberate failure' }, undefined);
  assert.deepEqual(fail.prefix, goldenFailResponse.subarray(10));
});

test('envelope: agrees with the generated schemas both ways', () => {
  const req = create(RequestSchema, {
    service: 'a.b.C',
    method: 'M',
    payload: new Uint8Array([1, 2, 3]),
    timeoutNano: 1_500_000_000n,
    metadata: [
      { key: 'k', value: 'v1' },
      { key: 'k', value: 'v2' },
      { key: 'e', value: '' },
    ],
  });
  const decoded = decodeRequest(Buffer.from(toBinary(RequestSchema, req)));
  assert.equal(decoded.service, 'a.b.C');
  assert.equal(decoded.timeoutNano, 1.5e9);
  assert.deepEqual(decoded.metadata, [
    { key: 'k', value: 'v1' },
    { key: 'k', value: 'v2' },
    { key: 'e', value: '' },
  ]);
  const enc = encodeRequest(0, 'a.b.C', 'M', new Uint8Array([1, 2, 3]), 1.5e9, decoded.metadata);
  const back = fromBinary(RequestSchema, Buffer.concat([enc.prefix, ...enc.payload!]));
  assert.equal(back.timeoutNano, 1_500_000_000n);
  assert.equal(back.metadata.length, 3);
  const resp = encodeResponse(0, { code: -5, message: 'neg' }, undefined);
  const r = fromBinary(ResponseSchema, resp.prefix);
  assert.equal(r.status?.code, -5);
  assert.equal(decodeResponse(resp.prefix).status?.code, -5);
});

const malformedCases = [
  { name: 'truncated varint', bytes: 'ff' },
  { name: 'length past end', bytes: '0a05 6162' },
  { name: 'field 0', bytes: '0000' },
  { name: 'group wire type', bytes: '0b' },
  { name: 'wrong wire type for service', bytes: '0801' },
];
for (const tc of malformedCases) {
  test(`envelope: malformed request rejected: ${tc.name}`, () => {
    assert.throws(() => decodeRequest(hex(tc.bytes)), { code: 'COCOLET_PROTOBUF_INVALID' });
  });
}
