import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoletError, ErrorCode, StatusCode } from '../errors/index.js';
import { TtrpcServer, TtrpcClient, createClient, encodeFrame, MessageType, Flag, FrameDecoder, type FrameHeader, type ServerInterceptor, type CallTrace } from './index.js';
import { decodeResponse, encodeRequest } from './envelope.js';
import { EchoService, echoImpl, ECHO_SERVICE_NAME } from './testing/echo-service.js';

const dir = mkdtempSync(join(tmpdir(), 'cocolet-ttrpc-'));
const sock = join(dir, 'echo.sock');
const seen: string[] = [];
const gate: ServerInterceptor = async (call, next) => {
  seen.push(call.ctx.fullMethod);
  if (call.ctx.metadata.first('x-deny') === 'yes') throw new CocoletError(ErrorCode.PolicyDenied, 'denied by policy');
  return next();
};
const server = new TtrpcServer({ interceptors: [gate] });
server.register(EchoService, echoImpl);
let client: TtrpcClient;
let echo: ReturnType<typeof createClient<typeof EchoService>>;

before(async () => {
  await server.listen(sock);
  client = await TtrpcClient.connect(sock);
  echo = createClient(EchoService, client);
});

after(async () => {
  client?.close();
  await server.shutdown({ graceMs: 0 });
  rmSync(dir, { recursive: true, force: true });
});

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

test('unary echo round trip', async () => {
  const r = await echo.echo({ value: Buffer.from('abcde') });
  assert.equal(Buffer.from(r.value).toString(), 'abcde');
});

const errorCases = [
  { name: 'plain error maps to UNKNOWN', call: () => echo.fail({}), code: ErrorCode.Internal, status: StatusCode.UNKNOWN },
  { name: 'requested NOT_FOUND', call: () => echo.status({ value: StatusCode.NOT_FOUND }), code: ErrorCode.NotFound, status: StatusCode.NOT_FOUND },
  { name: 'requested FAILED_PRECONDITION', call: () => echo.status({ value: 9 }), code: ErrorCode.FailedPrecondition, status: 9 },
  { name: 'policy interceptor denies', call: () => echo.echo({}, { metadata: { 'X-Deny': 'yes' } }), code: ErrorCode.PermissionDenied, status: StatusCode.PERMISSION_DENIED },
  { name: 'server deadline', call: () => echo.sleep({ value: 5000n }, { timeoutMs: 50 }), code: ErrorCode.DeadlineExceeded },
  { name: 'response over 4 MiB', call: () => echo.big({ value: 4 << 20 }), code: ErrorCode.ResourceExhausted, status: StatusCode.RESOURCE_EXHAUSTED },
];
for (const tc of errorCases) {
  test(`errors: ${tc.name}`, async () => {
    await rejectsWith(tc.call(), tc.code, tc.status);
  });
}

test('unknown service and method answer UNIMPLEMENTED', async () => {
  const other = createClient(EchoService, client, { name: 'no.such.Service' });
  const e1 = await rejectsWith(other.echo({}), ErrorCode.Unimplemented, StatusCode.UNIMPLEMENTED);
  assert.equal(e1.message, 'service no.such.Service');
  const e2 = await rejectsWith(client.unary(ECHO_SERVICE_NAME, 'Nope', new Uint8Array()), ErrorCode.Unimplemented);
  assert.equal(e2.message, 'method Nope');
});

test('metadata: multimap with lower-cased keys', async () => {
  const r = await echo.meta({}, { metadata: { 'X-One': ['a', 'b'], two: 'c' } });
  assert.equal(r.value, 'two=c;x-one=a,b');
});

test('cancellation with AbortSignal and client-side deadline', async () => {
  const ac = new AbortController();
  const p = echo.sleep({ value: 5000n }, { signal: ac.signal });
  setImmediate(() => ac.abort());
  await rejectsWith(p, ErrorCode.Cancelled);
  await rejectsWith(echo.sleep({ value: 1000n }, { signal: AbortSignal.abort() }), ErrorCode.Cancelled);
  // the connection still works after abandoned calls
  assert.equal((await echo.echo({ value: Buffer.from('x') })).value.length, 1);
});

test('many concurrent calls answered out of order', async () => {
  const calls = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? echo.sleep({ value: BigInt(20 - (i % 20)) }).then(() => -1) : echo.echo({ value: Buffer.from(String(i)) }).then((r) => Number(Buffer.from(r.value).toString()))));
  const results = await Promise.all(calls);
  results.forEach((r, i) => assert.equal(r, i % 5 === 0 ? -1 : i));
});

test('payload of exactly 4 MiB minus envelope succeeds; larger request refused locally', async () => {
  const r = await echo.big({ value: (4 << 20) - 16 });
  assert.equal(r.value.length, (4 << 20) - 16);
  await rejectsWith(echo.echo({ value: Buffer.alloc(4 << 20) }), ErrorCode.ResourceExhausted);
});

test('streaming: server, client and bidi', async () => {
  const got: number[] = [];
  for await (const m of echo.count({ value: 5 })) got.push(m.value);
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  const empty: number[] = [];
  for await (const m of echo.count({ value: 0 })) empty.push(m.value);
  assert.deepEqual(empty, []);
  const sum = await echo.sum((async function* () {
    for (let i = 1; i <= 100; i++) yield { value: i };
  })());
  assert.equal(sum.value, 5050);
  assert.equal((await echo.sum([])).value, 0);
  const back: string[] = [];
  for await (const m of echo.echoStream(['a', 'b', '', 'c'].map((s) => ({ value: Buffer.from(s) })))) back.push(Buffer.from(m.value).toString());
  assert.deepEqual(back, ['a', 'b', '', 'c']);
});

test('streaming: back-pressure with a slow consumer over 2000 messages', async () => {
  let n = 0;
  for await (const m of echo.count({ value: 2000 })) {
    assert.equal(m.value, n++);
    if (n % 100 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(n, 2000);
});

test('interceptors and diagnostics channels see calls', async () => {
  const events: CallTrace[] = [];
  const onEnd = (m: unknown): void => void events.push(m as CallTrace);
  subscribe('cocolet:ttrpc:server:end', onEnd);
  try {
    seen.length = 0;
    await echo.echo({});
    await rejectsWith(echo.fail({}), ErrorCode.Internal);
  } finally {
    unsubscribe('cocolet:ttrpc:server:end', onEnd);
  }
  assert.deepEqual(seen, [`/${ECHO_SERVICE_NAME}/Echo`, `/${ECHO_SERVICE_NAME}/Fail`]);
  assert.deepEqual(events.map((e) => [e.method, e.code]), [['Echo', 0], ['Fail', StatusCode.UNKNOWN]]);
});

test('client interceptors can add metadata', async () => {
  const c = await TtrpcClient.connect(sock, {
    interceptors: [
      async (call, next) => {
        call.metadata.append('x-trace', 't1');
        return next();
      },
    ],
  });
  try {
    const r = await createClient(EchoService, c).meta({});
    assert.equal(r.value, 'x-trace=t1');
  } finally {
    c.close();
  }
});

test('lost connection fails every pending call with UNAVAILABLE at once', async () => {
  const c = await TtrpcClient.connect(sock);
  const e = createClient(EchoService, c);
  const pending = [e.sleep({ value: 10_000n }), e.sleep({ value: 10_000n }), (async () => { for await (const _ of e.echoStream((async function* () { await new Promise(() => undefined); yield {}; })())) void _; })()];
  await new Promise((r) => setTimeout(r, 20));
  c.close();
  for (const p of pending) await rejectsWith(p, ErrorCode.Unavailable);
  await rejectsWith(e.echo({}), ErrorCode.Unavailable);
  assert.equal((await c.closed).code, ErrorCode.Unavailable);
});

/** Talks raw frames to the server. */
async function rawExchange(frames: Buffer[], expect: number): Promise<Array<[FrameHeader, { code: number; message: string } | undefined]>> {
  const s: Socket = connect(sock);
  await new Promise((r) => s.once('connect', r));
  const out: Array<[FrameHeader, { code: number; message: string } | undefined]> = [];
  const done = new Promise<void>((resolve) => {
    const dec = new FrameDecoder({
      frame: (h, d) => {
        const st = h.type === MessageType.Response ? decodeResponse(d).status : undefined;
        out.push([h, st ? { code: st.code, message: st.message } : undefined]);
        if (out.length >= expect) resolve();
      },
      oversize: () => undefined,
    });
    s.on('data', (c: Buffer) => dec.push(c));
    s.on('close', () => resolve());
    setTimeout(resolve, 5000).unref();
  });
  for (const f of frames) s.write(f);
  await done;
  s.destroy();
  return out;
}

function req(id: number, method = 'Echo', flags = 0): Buffer {
  const e = encodeRequest(0, ECHO_SERVICE_NAME, method, undefined, 0, undefined);
  return encodeFrame(id, MessageType.Request, flags, e.prefix);
}

const protocolCases = [
  { name: 'even stream id', frames: () => [req(2)], want: [[2, StatusCode.INVALID_ARGUMENT, 'StreamID must be odd for client initiated streams']] },
  { name: 'reused stream id', frames: () => [req(3), req(3)], want: [[3, 0, ''], [3, StatusCode.INVALID_ARGUMENT, 'StreamID cannot be re-used and must increment']] },
  { name: 'decreasing stream id', frames: () => [req(5), req(1)], want: [[5, 0, ''], [1, StatusCode.INVALID_ARGUMENT, 'StreamID cannot be re-used and must increment']] },
  { name: 'data on unknown stream', frames: () => [encodeFrame(7, MessageType.Data, 0, Buffer.from([8, 1]))], want: [[7, StatusCode.INVALID_ARGUMENT, 'StreamID is no longer active']] },
  { name: 'malformed request envelope', frames: () => [encodeFrame(1, MessageType.Request, 0, Buffer.from([0x0a, 0x7f]))], want: [[1, StatusCode.INVALID_ARGUMENT, null]] },
  { name: 'malformed payload', frames: () => [encodeFrame(1, MessageType.Request, 0, Buffer.concat([encodeRequest(0, ECHO_SERVICE_NAME, 'Echo', Buffer.from([0x0a, 0x7f]), 0, undefined).prefix, Buffer.from([0x0a, 0x7f])]))], want: [[1, StatusCode.INTERNAL, null]] },
  { name: 'oversize frame, then a good request', frames: () => [Buffer.concat([encodeFrame(1, MessageType.Request, 0, Buffer.alloc((4 << 20) + 1)), req(3)])], want: [[1, StatusCode.RESOURCE_EXHAUSTED, 'message length 4194305 exceed maximum message size of 4194304'], [3, 0, '']] },
  { name: 'unknown message type is ignored', frames: () => [encodeFrame(1, 9, 0), req(3)], want: [[3, 0, '']] },
  { name: 'data close with payload', frames: () => [req(1, 'EchoStream', Flag.RemoteOpen), encodeFrame(1, MessageType.Data, Flag.RemoteClosed, Buffer.from([0x0a, 0x01, 0x41]))], want: [[1, StatusCode.INVALID_ARGUMENT, 'data close message cannot include data']] },
];

for (const tc of protocolCases) {
  test(`protocol: ${tc.name}`, async () => {
    const got = await rawExchange(tc.frames(), tc.want.length);
    assert.equal(got.length, tc.want.length);
    // Responses on different calls may come in any order.
    got.sort((a, b) => a[0].streamId - b[0].streamId || (a[1]?.code ?? 0) - (b[1]?.code ?? 0));
    const want = [...tc.want].sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
    want.forEach(([id, code, msg], i) => {
      const [h, st] = got[i]!;
      assert.equal(h.streamId, id);
      assert.equal(h.type, MessageType.Response);
      assert.equal(st?.code ?? 0, code);
      if (typeof msg === 'string') assert.equal(st?.message ?? '', msg);
    });
  });
}

test('garbage bytes never crash the server', async () => {
  const s = connect(sock);
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  s.end();
  await new Promise((r) => s.once('close', r));
  assert.equal(Buffer.from((await echo.echo({ value: Buffer.from('ok') })).value).toString(), 'ok');
});

test('graceful shutdown lets in-flight calls finish and refuses new ones', async () => {
  const dir2 = mkdtempSync(join(tmpdir(), 'cocolet-ttrpc-'));
  const srv = new TtrpcServer();
  srv.register(EchoService, echoImpl);
  const path = join(dir2, 's.sock');
  await srv.listen(path);
  const c = await TtrpcClient.connect(path);
  try {
    const e = createClient(EchoService, c);
    const slow = e.sleep({ value: 100n });
    await new Promise((r) => setTimeout(r, 20));
    const down = srv.shutdown({ graceMs: 5000 });
    await rejectsWith(e.echo({}), ErrorCode.Unavailable, StatusCode.UNAVAILABLE);
    await slow;
    await down;
    await c.closed;
  } finally {
    c.close();
    rmSync(dir2, { recursive: true, force: true });
  }
});

test('shutdown past the grace period aborts handlers', async () => {
  const dir2 = mkdtempSync(join(tmpdir(), 'cocolet-ttrpc-'));
  const srv = new TtrpcServer();
  srv.register(EchoService, echoImpl);
  const path = join(dir2, 's.sock');
  await srv.listen(path);
  const c = await TtrpcClient.connect(path);
  try {
    const p = createClient(EchoService, c).sleep({ value: 60_000n });
    await new Promise((r) => setTimeout(r, 20));
    await srv.shutdown({ graceMs: 10 });
    await rejectsWith(p, ErrorCode.Unavailable);
    assert.equal(srv.activeCalls, 0);
  } finally {
    c.close();
    rmSync(dir2, { recursive: true, force: true });
  }
});

test('works over TCP too', async () => {
  const srv = new TtrpcServer();
  srv.register(EchoService, echoImpl);
  const addr = await srv.listen({ host: '127.0.0.1', port: 0 });
  const port = Number(addr.split(':').pop());
  const c = await TtrpcClient.connect({ port });
  try {
    const e = createClient(EchoService, c);
    assert.equal(Buffer.from((await e.echo({ value: Buffer.from('tcp') })).value).toString(), 'tcp');
    let n = 0;
    for await (const m of e.count({ value: 10 })) assert.equal(m.value, n++);
    assert.equal(n, 10);
  } finally {
    c.close();
    await srv.shutdown({ graceMs: 0 });
  }
});

test('client: a response frame over 4 MiB fails only that call', async () => {
  const { createServer } = await import('node:net');
  const path = join(dir, 'big.sock');
  const srv = createServer((s) => {
    const dec = new FrameDecoder({
      frame: (hd) => {
        if (hd.streamId === 1) s.write(encodeFrame(1, MessageType.Response, 0, Buffer.alloc((4 << 20) + 10)));
        else s.write(encodeFrame(hd.streamId, MessageType.Response, 0, Buffer.from([0x12, 0x02, 0x0a, 0x00])));
      },
      oversize: () => undefined,
    });
    s.on('data', (c: Buffer) => dec.push(c));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(path, r));
  const c = await TtrpcClient.connect(path);
  try {
    const e = createClient(EchoService, c);
    await rejectsWith(e.echo({}), ErrorCode.ResourceExhausted);
    const ok = await e.echo({});
    assert.equal(ok.value.length, 0);
  } finally {
    c.close();
    await new Promise((r) => srv.close(r));
  }
});

test('observe interceptors report method, status code and duration on both sides', async () => {
  const { observeServerCalls, observeClientCalls } = await import('./index.js');
  const serverSeen: Array<[string, number]> = [];
  const clientSeen: Array<[string, number]> = [];
  const srv = new TtrpcServer({ interceptors: [observeServerCalls((o) => serverSeen.push([o.fullMethod, o.code]))] });
  srv.register(EchoService, echoImpl);
  const path = join(dir, 'observe.sock');
  await srv.listen(path);
  const c = await TtrpcClient.connect(path, { interceptors: [observeClientCalls((o) => clientSeen.push([o.fullMethod, o.code]))] });
  try {
    const e = createClient(EchoService, c);
    await e.echo({});
    await rejectsWith(e.status({ value: StatusCode.NOT_FOUND }), ErrorCode.NotFound);
  } finally {
    c.close();
    await srv.shutdown({ graceMs: 0 });
  }
  const want = [[`/${ECHO_SERVICE_NAME}/Echo`, 0], [`/${ECHO_SERVICE_NAME}/Status`, StatusCode.NOT_FOUND]];
  assert.deepEqual(serverSeen, want);
  assert.deepEqual(clientSeen, want);
});

test('client stream stops pulling requests once the server has answered', async () => {
  const srv = new TtrpcServer();
  srv.register(EchoService, {
    // answers after the first message without reading the rest
    sum: async (reqs) => {
      for await (const r of reqs) return { value: r.value };
      return { value: -1 };
    },
  });
  const path = join(dir, 'early.sock');
  await srv.listen(path);
  const c = await TtrpcClient.connect(path);
  let pulled = 0;
  try {
    const r = await createClient(EchoService, c).sum((async function* () {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++;
        yield { value: 7 };
        await new Promise((res) => setImmediate(res));
      }
    })());
    assert.equal(r.value, 7);
    await waitUntil(() => c.inFlight === 0);
    const before = pulled;
    await new Promise((res) => setTimeout(res, 20));
    assert.ok(pulled - before <= 1, `request generator kept being pulled (${before} -> ${pulled})`);
  } finally {
    c.close();
    await srv.shutdown({ graceMs: 0 });
  }
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
}

test('deadlines apply to streams too', async () => {
  const never = (async function* () {
    yield { value: Buffer.from('a') };
    await new Promise(() => undefined);
  })();
  const t0 = Date.now();
  await rejectsWith(
    (async () => {
      for await (const m of echo.echoStream(never, { timeoutMs: 50 })) void m;
    })(),
    ErrorCode.DeadlineExceeded,
  );
  assert.ok(Date.now() - t0 < 5000);
});

test('connect retries until the socket appears, and fails at once without retryIntervalMs', async () => {
  const path = join(dir, 'late.sock');
  await rejectsWith(TtrpcClient.connect(path), ErrorCode.Unavailable);
  const srv = new TtrpcServer();
  srv.register(EchoService, echoImpl);
  const connecting = TtrpcClient.connect(path, { retryIntervalMs: 5, timeoutMs: 10_000 });
  setTimeout(() => void srv.listen(path), 30);
  const c = await connecting;
  try {
    assert.equal(Buffer.from((await createClient(EchoService, c).echo({ value: Buffer.from('late') })).value).toString(), 'late');
  } finally {
    c.close();
    await srv.shutdown({ graceMs: 0 });
  }
  await rejectsWith(TtrpcClient.connect(join(dir, 'never.sock'), { retryIntervalMs: 5, timeoutMs: 50 }), ErrorCode.Unavailable);
});
