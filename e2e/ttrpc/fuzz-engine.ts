/**
 * ttrpc fuzzing: random and mutated frames (seeded from valid ones) written to a live cocolet
 * ttrpc server in its own process. Checks after every batch that the server still answers a
 * valid call on a fresh connection (no crash, no hang) and samples its memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TtrpcClient, createClient, encodeFrame, Flag, MessageType } from '../../shared/ttrpc/index.js';
import { encodeRequest } from '../../shared/ttrpc/envelope.js';
import { EchoService, ECHO_SERVICE_NAME } from '../../shared/ttrpc/testing/echo-service.js';
import { Rng } from '../../shared/testing/rng.js';

export interface FuzzOptions {
  frames: number;
  seed: number;
  /** Frames per connection (default 400). */
  batch?: number;
  /** Send one real over-4-MiB frame every this many frames (default 200000). */
  oversizeEvery?: number;
  onProgress?: (framesSent: number) => void;
}

export interface FuzzStats {
  frames: number;
  connections: number;
  bytes: number;
  /** Bytes the server sent back on fuzz connections. */
  receivedBytes: number;
  probes: number;
  maxRssBytes: number;
  startRssBytes: number;
  crashes: number;
  hangs: number;
  seconds: number;
  failure?: string;
}

/** xorshift32: small, seeded, reproducible. */

const METHODS = ['Echo', 'Fail', 'Status', 'Sleep', 'Meta', 'Big', 'Count', 'Sum', 'EchoStream', 'Nope', ''];

function varintMsg(v: number): Buffer {
  // field 1 varint: a wrapper message (Int32Value / Int64Value) or garbage for others
  const out = [0x08];
  let x = v >>> 0;
  while (x >= 0x80) {
    out.push((x & 0x7f) | 0x80);
    x >>>= 7;
  }
  out.push(x);
  return Buffer.from(out);
}

function request(id: number, method: string, payload: Buffer | undefined, flags = 0, rng?: Rng): Buffer {
  const md = rng && rng.below(4) === 0 ? [{ key: 'k', value: 'v' }] : undefined;
  const timeout = rng && rng.below(8) === 0 ? 1 + rng.below(50_000_000) : 0;
  const e = encodeRequest(0, rng && rng.below(50) === 0 ? 'no.such.Service' : ECHO_SERVICE_NAME, method, payload, timeout, md);
  return encodeFrame(id, MessageType.Request, flags, e.payload ? Buffer.concat([e.prefix, ...e.payload]) : e.prefix);
}

/** A group of valid frames for one call on stream `id`. */
function validCall(rng: Rng, id: number): Buffer[] {
  switch (rng.below(7)) {
    case 0:
    case 1: {
      const p = rng.bytes(rng.below(48));
      return [request(id, 'Echo', Buffer.concat([Buffer.from([0x0a, p.length]), p]), 0, rng)];
    }
    case 2:
      return [request(id, METHODS[rng.below(METHODS.length)]!, varintMsg(rng.below(300)), 0, rng)];
    case 3: {
      const frames = [request(id, 'EchoStream', undefined, Flag.RemoteOpen, rng)];
      for (let i = rng.below(4); i > 0; i--) frames.push(encodeFrame(id, MessageType.Data, 0, Buffer.from([0x0a, 1, rng.below(256)])));
      frames.push(encodeFrame(id, MessageType.Data, Flag.RemoteClosed | Flag.NoData));
      return frames;
    }
    case 4:
      return [request(id, 'Count', varintMsg(rng.below(8)), Flag.RemoteClosed, rng)];
    case 5: {
      const frames = [request(id, 'Sum', undefined, Flag.RemoteOpen, rng)];
      for (let i = rng.below(4); i > 0; i--) frames.push(encodeFrame(id, MessageType.Data, 0, varintMsg(rng.below(1000))));
      frames.push(encodeFrame(id, MessageType.Data, Flag.RemoteClosed | Flag.NoData));
      return frames;
    }
    default:
      return [encodeFrame(rng.below(2) === 0 ? id : id + 2 * rng.below(10), MessageType.Data, rng.below(8), rng.bytes(rng.below(16)))];
  }
}

/** Header-preserving mutations: the frame keeps a consistent length, so framing stays in sync. */
function mutateSafe(rng: Rng, f: Buffer): Buffer {
  let b = Buffer.from(f);
  switch (rng.below(6)) {
    case 0: // corrupt bytes inside the data
      if (b.length > 10) for (let i = rng.below(4) + 1; i > 0; i--) b[10 + rng.below(b.length - 10)] = rng.below(256);
      break;
    case 1: // truncate the data
      b = b.subarray(0, 10 + rng.below(Math.max(1, b.length - 10)));
      break;
    case 2: // append garbage to the data
      b = Buffer.concat([b, rng.bytes(1 + rng.below(32))]);
      break;
    case 3:
      b[8] = rng.below(6);
      break;
    case 4:
      b[9] = rng.below(256);
      break;
    default:
      b.writeUInt32BE([0, 2, rng.next(), 0xffffffff, 1, 4][rng.below(6)]!, 4);
  }
  b.writeUInt32BE(b.length - 10, 0);
  return b;
}

/** Anything goes, including the length field: the rest of the connection may desynchronise. */
function mutateAny(rng: Rng, f: Buffer): Buffer {
  const b = Buffer.from(f);
  switch (rng.below(5)) {
    case 0:
      if (b.length > 0) {
        const i = rng.below(b.length);
        b[i] = b[i]! ^ (1 << rng.below(8));
      }
      return b;
    case 1:
      if (b.length > 0) b[rng.below(Math.min(b.length, 10))] = rng.below(256);
      return b;
    case 2:
      return b.subarray(0, rng.below(b.length + 1));
    case 3:
      if (b.length >= 4) b.writeUInt32BE(rng.below(b.length + 4096), 0);
      return b;
    default:
      return rng.bytes(rng.below(40));
  }
}

/**
 * Builds one batch of frames for a connection: mostly valid calls and header-preserving
 * mutations (so the server parses and answers them), ending with a few destructive ones.
 */
export function makeBatch(rng: Rng, n: number): { data: Buffer; frames: number } {
  const out: Buffer[] = [];
  let id = 1;
  const tail = 1 + rng.below(4);
  while (out.length < n - tail) {
    const kind = rng.below(10);
    const call = validCall(rng, id);
    if (kind < 5) out.push(...call);
    else if (kind < 9) for (const f of call) out.push(rng.below(2) === 0 ? mutateSafe(rng, f) : f);
    else out.push(encodeFrame(rng.next() & 0xffff, rng.below(5), rng.below(8), rng.bytes(rng.below(40))));
    // mostly increasing odd ids, sometimes skipping, sometimes going back
    id += 2 * (1 + (rng.below(20) === 0 ? rng.below(3) : 0));
    if (rng.below(50) === 0) id = Math.max(1, id - 6);
  }
  while (out.length < n) out.push(mutateAny(rng, validCall(rng, id)[0]!));
  return { data: Buffer.concat(out), frames: out.length };
}

let received = 0;

/** Writes a batch, lets the server answer until it is quiet for `quietMs`, then closes. */
function sendBatch(sock: string, data: Buffer, quietMs = 5): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('fuzz connection did not finish within 20 s'));
    }, 20_000);
    let lastData = performance.now();
    let idle: NodeJS.Timeout | undefined;
    const checkQuiet = (): void => {
      if (performance.now() - lastData >= quietMs) s.end();
      else idle = setTimeout(checkQuiet, quietMs);
    };
    s.on('error', () => undefined); // resets are fine: we only care that the server lives
    s.once('connect', () => {
      s.write(data, () => {
        lastData = performance.now();
        idle = setTimeout(checkQuiet, quietMs);
      });
    });
    s.on('data', (d: Buffer) => {
      received += d.length;
      lastData = performance.now();
    });
    s.once('close', () => {
      clearTimeout(timer);
      clearTimeout(idle);
      resolve();
    });
  });
}

/** Streams one real oversized frame (body discarded by the server), then a valid call. */
async function sendOversize(sock: string): Promise<void> {
  const body = Buffer.alloc((4 << 20) + 1024);
  const frame = encodeFrame(1, MessageType.Request, 0, body);
  await sendBatch(sock, Buffer.concat([frame, request(3, 'Echo', undefined)]));
}

async function probe(sock: string): Promise<void> {
  const c = await TtrpcClient.connect(sock, { timeoutMs: 5000 });
  try {
    const r = await createClient(EchoService, c).echo({ value: Buffer.from('probe') }, { timeoutMs: 5000 });
    if (Buffer.from(r.value).toString() !== 'probe') throw new Error('probe answered wrongly');
  } finally {
    c.close();
  }
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzStats> {
  const batch = opts.batch ?? 400;
  const oversizeEvery = opts.oversizeEvery ?? 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-fuzz-ttrpc-'));
  const sock = join(dir, 'fuzz.sock');
  const serverJs = fileURLToPath(new URL('./fuzz-server.js', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=512', serverJs, sock], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let exited: number | string | undefined;
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.once('exit', (code, sig) => (exited = code ?? sig ?? -1));
  const stats: FuzzStats = { frames: 0, connections: 0, bytes: 0, receivedBytes: 0, probes: 0, maxRssBytes: 0, startRssBytes: 0, crashes: 0, hangs: 0, seconds: 0 };
  const t0 = performance.now();
  const rss = async (): Promise<number> => {
    const before = out.length;
    child.stdin!.write('rss\n');
    for (let i = 0; i < 500 && exited === undefined; i++) {
      const m = /RSS (\d+)/.exec(out.slice(before));
      if (m) return Number(m[1]);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('server did not report memory');
  };
  try {
    for (let i = 0; i < 500 && !out.includes('READY'); i++) {
      if (exited !== undefined) throw new Error(`fuzz server exited at start: ${exited}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!out.includes('READY')) throw new Error('fuzz server did not start');
    stats.startRssBytes = await rss();
    const rng = new Rng(opts.seed);
    let nextOversize = oversizeEvery;
    let nextSample = 0;
    while (stats.frames < opts.frames) {
      const n = Math.min(batch, opts.frames - stats.frames);
      // a few connections in parallel
      const group = Array.from({ length: 4 }, () => makeBatch(rng, n));
      await Promise.all(group.map((b) => sendBatch(sock, b.data)));
      for (const b of group) {
        stats.frames += b.frames;
        stats.bytes += b.data.length;
        stats.connections++;
      }
      if (stats.frames >= nextOversize) {
        nextOversize += oversizeEvery;
        await sendOversize(sock);
        stats.connections++;
      }
      if (exited !== undefined) {
        stats.crashes++;
        throw new Error(`server process exited (${exited}) after ${stats.frames} frames`);
      }
      if (stats.frames >= nextSample) {
        nextSample += Math.max(batch * 4, Math.floor(opts.frames / 50));
        try {
          await probe(sock);
          stats.probes++;
        } catch (e) {
          stats.hangs++;
          throw new Error(`server stopped answering after ${stats.frames} frames: ${(e as Error).message}`);
        }
        stats.maxRssBytes = Math.max(stats.maxRssBytes, await rss());
        opts.onProgress?.(stats.frames);
      }
    }
    await probe(sock);
    stats.probes++;
    stats.maxRssBytes = Math.max(stats.maxRssBytes, await rss());
  } catch (e) {
    stats.failure = (e as Error).message;
  } finally {
    stats.seconds = (performance.now() - t0) / 1000;
    stats.receivedBytes = received;
    child.stdin!.end();
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    if (exited === undefined) await new Promise((r) => child.once('exit', r));
    clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  }
  return stats;
}
