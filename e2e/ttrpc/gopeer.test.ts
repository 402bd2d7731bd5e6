/**
 * Interop with the real containerd/ttrpc (Go): the cocolet client against the Go server, and the
 * Go client against the cocolet server, for every call shape, errors, metadata, deadlines and
 * message-size limits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Harness } from '../../shared/testing/harness.js';
import { CocoletError, ErrorCode, StatusCode } from '../../shared/errors/index.js';
import { TtrpcClient, TtrpcServer, createClient, encodeFrame, FrameDecoder, MessageType } from '../../shared/ttrpc/index.js';
import { decodeResponse } from '../../shared/ttrpc/envelope.js';
import { EchoService, echoImpl } from '../../shared/ttrpc/testing/echo-service.js';
import { buildGoPeer } from './gopeer-build.js';

const peer = buildGoPeer();
const h = new Harness();
after(() => h.dispose());

async function rejectsWith(p: Promise<unknown>, code: string, status?: number): Promise<CocoletError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CocoletError, `expected CocoletError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (status !== undefined) assert.equal(e.context.status, status);
    return e;
  }
  assert.fail(`expected rejection with ${code}`);
}

describe('cocolet client -> Go ttrpc server', { skip: peer.skip }, () => {
  let client: TtrpcClient;
  let echo: ReturnType<typeof createClient<typeof EchoService>>;
  let sock: string;

  before(async () => {
    sock = join(h.tempDir('cocolet-gopeer-'), 'go.sock');
    const p = h.start(peer.binary!, ['-mode', 'server', '-sock', sock]);
    await p.waitForOutput(/READY/, { timeoutMs: 20_000 });
    client = await TtrpcClient.connect(sock);
    echo = createClient(EchoService, client);
  });
  after(() => client?.close());

  test('unary echo', async () => {
    assert.equal(Buffer.from((await echo.echo({ value: Buffer.from('abcde') })).value).toString(), 'abcde');
  });

  const errorCases = [
    { name: 'plain Go error is UNKNOWN', call: () => echo.fail({}), code: ErrorCode.Internal, status: StatusCode.UNKNOWN, message: 'deliberate failure' },
    { name: 'status NOT_FOUND', call: () => echo.status({ value: 5 }), code: ErrorCode.NotFound, status: 5, message: 'requested status' },
    { name: 'unknown method', call: () => client.unary('peers.echo.v1.Echo', 'Nope', new Uint8Array()), code: ErrorCode.Unimplemented, status: 12, message: 'method Nope' },
    { name: 'unknown service', call: () => client.unary('no.such.Service', 'Echo', new Uint8Array()), code: ErrorCode.Unimplemented, status: 12, message: 'service no.such.Service' },
    { name: 'request over 4 MiB refused locally', call: () => echo.echo({ value: Buffer.alloc(4 << 20) }), code: ErrorCode.ResourceExhausted },
  ];
  for (const tc of errorCases) {
    test(`errors: ${tc.name}`, async () => {
      const e = await rejectsWith(tc.call(), tc.code, tc.status);
      if (tc.message) assert.equal(e.message, tc.message);
    });
  }

  test('deadline travels as timeout_nano and the Go server enforces it', async () => {
    // A long local timeout would fire too, so use a raw metadata-free call whose server-side deadline is short.
    const t0 = Date.now();
    await rejectsWith(echo.sleep({ value: 10_000n }, { timeoutMs: 100 }), ErrorCode.DeadlineExceeded);
    assert.ok(Date.now() - t0 < 10_000);
  });

  test('metadata multimap reaches Go lower-cased', async () => {
    assert.equal((await echo.meta({}, { metadata: { 'X-One': ['a', 'b'], two: 'c' } })).value, 'two=c;x-one=a,b');
  });

  test('4 MiB message (largest that fits) both ways', async () => {
    const big = await echo.big({ value: (4 << 20) - 16 });
    assert.equal(big.value.length, (4 << 20) - 16);
    const back = await echo.echo({ value: Buffer.alloc((4 << 20) - 64, 7) });
    assert.equal(back.value.length, (4 << 20) - 64);
  });

  test('streams: server, client, bidi', async () => {
    const got: number[] = [];
    for await (const m of echo.count({ value: 5 })) got.push(m.value);
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    assert.equal((await echo.sum((function* () { for (let i = 1; i <= 100; i++) yield { value: i }; })())).value, 5050);
    const back: string[] = [];
    for await (const m of echo.echoStream(['a', 'b', '', 'c'].map((s) => ({ value: Buffer.from(s) })))) back.push(Buffer.from(m.value).toString());
    assert.deepEqual(back, ['a', 'b', '', 'c']);
  });

  test('100 concurrent calls on one connection', async () => {
    const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => echo.echo({ value: Buffer.from(String(i)) })));
    rs.forEach((r, i) => assert.equal(Buffer.from(r.value).toString(), String(i)));
  });

  test('Go server answers a too-large frame with RESOURCE_EXHAUSTED', async () => {
    const s = connect(sock);
    await new Promise((r) => s.once('connect', r));
    const status = await new Promise<{ id: number; code: number; message: string }>((resolve, reject) => {
      const dec = new FrameDecoder({
        frame: (hd, d) => {
          const st = decodeResponse(d).status;
          resolve({ id: hd.streamId, code: st?.code ?? 0, message: st?.message ?? '' });
        },
        oversize: () => reject(new Error('oversize')),
      });
      s.on('data', (c: Buffer) => dec.push(c));
      s.on('close', () => reject(new Error('closed without answer')));
      s.write(encodeFrame(1, MessageType.Request, 0, Buffer.alloc((4 << 20) + 1)));
    });
    s.destroy();
    assert.deepEqual(status, { id: 1, code: StatusCode.RESOURCE_EXHAUSTED, message: 'message length 4194305 exceed maximum message size of 4194304' });
  });
});

describe('Go ttrpc client -> cocolet server', { skip: peer.skip }, () => {
  test('every interop case gives the expected status and value', async () => {
    const sock = join(h.tempDir('cocolet-gopeer-'), 'ts.sock');
    const server = new TtrpcServer();
    server.register(EchoService, echoImpl);
    await server.listen(sock);
    h.defer('ttrpc server', () => server.shutdown({ graceMs: 0 }));
    const p = h.start(peer.binary!, ['-mode', 'client', '-sock', sock]);
    const code = await p.exited;
    assert.equal(code, 0, p.output());
    const results = new Map<string, { code: number; message?: string; value?: string }>();
    for (const line of p.output().split('\n')) if (line.startsWith('{')) {
      const r = JSON.parse(line) as { case: string; code: number; message?: string; value?: string };
      results.set(r.case, r);
    }
    const want: Array<[string, number, string | undefined, string | undefined]> = [
      ['echo', 0, undefined, 'abcde'],
      ['fail', StatusCode.UNKNOWN, 'deliberate failure', undefined],
      ['status_not_found', StatusCode.NOT_FOUND, 'requested status', undefined],
      ['unknown_method', StatusCode.UNIMPLEMENTED, 'method Nope', undefined],
      ['unknown_service', StatusCode.UNIMPLEMENTED, 'service no.such.Service', undefined],
      ['metadata', 0, undefined, 'two=c;x-one=a,b'],
      ['deadline', StatusCode.DEADLINE_EXCEEDED, undefined, undefined],
      ['big_4mib', 0, undefined, String((4 << 20) - 16)],
      ['too_large_response', StatusCode.RESOURCE_EXHAUSTED, undefined, undefined],
      ['too_large_request', StatusCode.RESOURCE_EXHAUSTED, undefined, undefined],
      ['echo_after', 0, undefined, 'again'],
      ['server_stream', 0, undefined, '0,1,2,3,4'],
      ['client_stream', 0, undefined, '5050'],
      ['bidi_stream', 0, undefined, 'a|b||c'],
      ['concurrent', 0, undefined, '64'],
    ];
    for (const [name, st, message, value] of want) {
      const r = results.get(name);
      assert.ok(r, `case ${name} missing from Go client output: ${p.output().slice(-1000)}`);
      assert.equal(r.code, st, `${name}: ${r.message ?? ''}`);
      if (message !== undefined) assert.equal(r.message, message, name);
      if (value !== undefined) assert.equal(r.value, value, name);
    }
  });
});
