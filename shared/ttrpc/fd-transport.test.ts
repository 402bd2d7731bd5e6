import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, open as openCb, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TtrpcClient, TtrpcServer, createClient } from './index.js';
import { EchoService, echoImpl } from './testing/echo-service.js';

const open = promisify(openCb);

// Pipes stand in for a virtio-serial character device: libuv cannot poll either, so both go
// through the fd transport (threadpool reads).
for (const reader of ['threadpool', 'worker'] as const) test(`client and server over a pair of fifos through the fd transport (${reader} reads)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-ttrpc-fd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const up = join(dir, 'up');
  const down = join(dir, 'down');
  if (spawnSync('mkfifo', [up, down]).status !== 0) return t.skip('mkfifo not available');
  // Opening a fifo end blocks until the other end opens: open all four at once.
  const [upR, upW, downR, downW] = await Promise.all([open(up, 'r'), open(up, 'w'), open(down, 'r'), open(down, 'w')]);
  const server = new TtrpcServer();
  server.register(EchoService, echoImpl);
  const conn = server.serveConnection({ readFd: upR, writeFd: downW, description: 'fifo', reader });
  const client = new TtrpcClient({ readFd: downR, writeFd: upW, reader });
  const echo = createClient(EchoService, client);
  try {
    assert.equal(Buffer.from((await echo.echo({ value: Buffer.from('over a pipe') })).value).toString(), 'over a pipe');
    const big = await echo.big({ value: 1 << 20 });
    assert.equal(big.value.length, 1 << 20);
    const back = await echo.echo({ value: Buffer.alloc(3 << 20, 1) });
    assert.equal(back.value.length, 3 << 20);
    const got: number[] = [];
    for await (const m of echo.count({ value: 3 })) got.push(m.value);
    assert.deepEqual(got, [0, 1, 2]);
    const many = await Promise.all(Array.from({ length: 32 }, (_, i) => echo.echo({ value: Buffer.from(String(i)) })));
    many.forEach((r, i) => assert.equal(Buffer.from(r.value).toString(), String(i)));
  } finally {
    const serverGone = new Promise<void>((r) => conn.onClose(r));
    client.close();
    // The server sees EOF, closes its side, and the client's pending read ends with it.
    await serverGone;
    await client.closed;
  }
});

/** Two fifos standing in for a virtio-serial port, an echo server, and a way to open host sessions. */
async function fifoPort(t: import('node:test').TestContext): Promise<{ up: string; down: string; server: TtrpcServer; session: () => Promise<TtrpcClient> } | undefined> {
  const { Socket } = await import('node:net');
  const { StreamPairTransport } = await import('./transport.js');
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-ttrpc-fd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const up = join(dir, 'up');
  const down = join(dir, 'down');
  if (spawnSync('mkfifo', [up, down]).status !== 0) {
    t.skip('mkfifo not available');
    return undefined;
  }
  const server = new TtrpcServer();
  server.register(EchoService, echoImpl);
  const session = async (): Promise<TtrpcClient> => {
    const [w, r] = await Promise.all([open(up, 'w'), open(down, 'r')]);
    return new TtrpcClient(new StreamPairTransport(new Socket({ fd: r, readable: true, writable: false }), new Socket({ fd: w, readable: false, writable: true }), 'host'));
  };
  return { up, down, server, session };
}

const echoed = async (c: TtrpcClient, text: string): Promise<string> => Buffer.from((await createClient(EchoService, c).echo({ value: Buffer.from(text) })).value).toString();

test('serveFd serves one host session after another on the same fds', async (t) => {
  const port = await fifoPort(t);
  if (!port) return;
  const { up, down, server, session } = port;
  // The "device": the server's ends, kept open across sessions like a virtio-serial port.
  const [upR, downW, c1] = await Promise.all([open(up, 'r'), open(down, 'w'), session()]);
  server.serveFd({ readFd: upR, writeFd: downW, eofRetryMs: 5 });
  try {
    assert.equal(await echoed(c1, 'one'), 'one');
    c1.close(); // the host goes away: EOF on the port
    const c2 = await session();
    try {
      // A new host client starts again at stream id 1: a new session must accept it.
      assert.equal(await echoed(c2, 'two'), 'two');
    } finally {
      c2.close();
    }
  } finally {
    await server.shutdown({ graceMs: 0 });
  }
});

test('serveFd: a host that reconnects before the port reads EOF starts a new session at stream 1', async (t) => {
  const port = await fifoPort(t);
  if (!port) return;
  const { up, down, server, session } = port;
  // A writer that stays: the port never reads EOF between the two hosts.
  const [upR, downW, keep, c1] = await Promise.all([open(up, 'r'), open(down, 'w'), open(up, 'w'), session()]);
  server.serveFd({ readFd: upR, writeFd: downW, eofRetryMs: 5 });
  try {
    assert.equal(await echoed(c1, 'one'), 'one');
    assert.equal(await echoed(c1, 'one again'), 'one again');
    c1.close();
    const c2 = await session();
    try {
      assert.equal(await echoed(c2, 'two'), 'two');
    } finally {
      c2.close();
    }
  } finally {
    closeSync(keep);
    await server.shutdown({ graceMs: 0 });
  }
});
