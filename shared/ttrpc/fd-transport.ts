/**
 * Transport over file descriptors: a character device (a VM's virtio-serial port, opened r+ and
 * used for both directions) or a pair of pipe fds. libuv cannot poll such fds, so reads run as a
 * loop of `fs.read` calls on the threadpool (one outstanding read at a time) and writes as
 * serialised `fs.writev` calls.
 *
 * virtio-serial ports read EOF while no host is connected: with `eofRetryMs` set, EOF before any
 * data is treated as "peer absent" and reading is retried after that many milliseconds; EOF after
 * data ends the transport (the host session is over) without closing the fds when `closeFds` is
 * false, so a new transport can serve the next session (see TtrpcServer.serveFd).
 */
import { close as closeFd, read, writev } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Transport, TransportSink } from './transport.js';

export interface FdTransportOptions {
  readFd: number;
  /** Defaults to `readFd` (a character device opened read-write). */
  writeFd?: number;
  /** Close the fds on close (default true). */
  closeFds?: boolean;
  /** Retry reads this long after an EOF that comes before any data (virtio-serial with no host). */
  eofRetryMs?: number;
  /** Read buffer size (default 64 KiB). */
  readSize?: number;
  /**
   * How reads are done: 'threadpool' (default) issues one fs.read at a time on libuv's
   * threadpool; 'worker' runs a blocking read loop on a worker thread that fills a shared ring
   * buffer and wakes the main thread with Atomics (lower latency; after close, the worker thread
   * may stay blocked in read() until the peer writes or closes, so it is unref'd then).
   */
  reader?: 'threadpool' | 'worker';
  description?: string;
}

export function fdTransport(opts: FdTransportOptions): Transport {
  return new FdTransport(opts);
}

class FdTransport implements Transport {
  readonly description: string;
  private readonly readFd: number;
  private readonly writeFd: number;
  private readonly readSize: number;
  private sink: TransportSink | undefined;
  private paused = false;
  private reading = false;
  private ended = false;
  private writing = false;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly highWater = 1024 * 1024;
  private needDrain = false;
  private gotData = false;

  constructor(private readonly opts: FdTransportOptions) {
    this.readFd = opts.readFd;
    this.writeFd = opts.writeFd ?? opts.readFd;
    this.readSize = opts.readSize ?? 64 * 1024;
    this.description = opts.description ?? `fd:${this.readFd}/${this.writeFd}`;
  }

  start(sink: TransportSink): void {
    this.sink = sink;
    if (this.opts.reader === 'worker') this.startWorker();
    else this.readLoop();
  }

  // ---- worker reader ----------------------------------------------------------------------------

  private ctrl: Int32Array | undefined;
  private ring: Uint8Array | undefined;
  private consumed = 0;
  private resumeWaiter: (() => void) | undefined;
  private worker: Worker | undefined;

  private startWorker(): void {
    const capacity = 1 << 20;
    const sab = new SharedArrayBuffer(16 + capacity);
    this.ctrl = new Int32Array(sab, 0, 4);
    this.ring = new Uint8Array(sab, 16, capacity);
    const worker = new Worker(new URL('./fd-reader-worker.js', import.meta.url), {
      workerData: { fd: this.readFd, sab, capacity, eofRetryMs: this.opts.eofRetryMs, chunk: this.readSize },
    });
    // The worker keeps the process alive while the transport is open (Atomics.waitAsync does not).
    this.worker = worker;
    this.reading = true;
    worker.once('exit', () => {
      this.reading = false;
      if (this.ended) this.closeReadFd();
    });
    worker.once('error', (e) => this.finish(e));
    void this.drainRing(capacity);
  }

  private async drainRing(capacity: number): Promise<void> {
    const ctrl = this.ctrl!;
    const ring = this.ring!;
    while (!this.ended) {
      if (this.paused) {
        await new Promise<void>((r) => (this.resumeWaiter = r));
        continue;
      }
      const w = Atomics.load(ctrl, 0);
      const avail = (w - this.consumed) | 0;
      if (avail > 0) {
        const out = Buffer.allocUnsafe(avail);
        const at = this.consumed & (capacity - 1);
        const first = Math.min(avail, capacity - at);
        out.set(ring.subarray(at, at + first), 0);
        if (first < avail) out.set(ring.subarray(0, avail - first), first);
        this.consumed = w;
        Atomics.store(ctrl, 1, w);
        Atomics.notify(ctrl, 1);
        this.sink!.data(out);
        continue;
      }
      const state = Atomics.load(ctrl, 2);
      if (state === 1) return this.finish();
      if (state === 2) return this.finish(new Error('fd read failed'));
      const res = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t?: number): { async: boolean; value: Promise<string> | string } }).waitAsync(ctrl, 0, w, 1000);
      if (res.async) await res.value;
    }
  }

  // ---- threadpool reader ------------------------------------------------------------------------

  private readLoop(): void {
    if (this.opts.reader === 'worker' || this.reading || this.paused || this.ended) return;
    this.reading = true;
    const buf = Buffer.allocUnsafe(this.readSize);
    read(this.readFd, buf, 0, buf.length, null, (err, n) => {
      this.reading = false;
      if (this.ended) {
        this.closeReadFd();
        return;
      }
      if (err) {
        if (err.code === 'EAGAIN') {
          this.retryTimer = setTimeout(() => this.readLoop(), 1);
          return;
        }
        this.finish(err);
        return;
      }
      if (n === 0) {
        if (this.opts.eofRetryMs !== undefined && !this.gotData) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.readLoop();
          }, this.opts.eofRetryMs);
          return;
        }
        this.finish();
        return;
      }
      this.gotData = true;
      this.sink!.data(buf.subarray(0, n));
      this.readLoop();
    });
  }

  write(chunks: readonly Uint8Array[], bytes: number): boolean {
    if (this.ended) return true;
    for (const c of chunks) this.queue.push(c);
    this.queuedBytes += bytes;
    this.pump();
    if (this.queuedBytes > this.highWater) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  private pump(): void {
    if (this.writing || this.ended || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.writing = true;
    this.writeAll(batch as Buffer[], () => {
      this.writing = false;
      if (this.ended) return;
      if (this.queue.length > 0) this.pump();
      else if (this.needDrain) {
        this.needDrain = false;
        this.sink?.drain();
      }
    });
  }

  private writeAll(chunks: Buffer[], done: () => void): void {
    writev(this.writeFd, chunks, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeAll(chunks, done), 1);
          return;
        }
        this.finish(err);
        return;
      }
      this.queuedBytes -= written;
      // Partial write: keep what is left.
      let left = written;
      let i = 0;
      while (i < chunks.length && left >= chunks[i]!.length) left -= chunks[i++]!.length;
      if (i === chunks.length) return done();
      const rest = chunks.slice(i);
      rest[0] = rest[0]!.subarray(left);
      this.writeAll(rest, done);
    });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const w = this.resumeWaiter;
    this.resumeWaiter = undefined;
    w?.();
    this.readLoop();
  }

  close(): void {
    this.finish();
  }

  private finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // A worker blocked in read() cannot be interrupted: let the process exit without it.
    this.worker?.unref();
    if (this.ctrl) {
      Atomics.store(this.ctrl, 2, 3);
      Atomics.notify(this.ctrl, 1);
      Atomics.notify(this.ctrl, 3);
    }
    const w = this.resumeWaiter;
    this.resumeWaiter = undefined;
    w?.();
    if (this.opts.closeFds ?? true) {
      // The write side closes now (the peer sees EOF); the read side once no read is pending on
      // it, so the fd number is never reused under a read in flight.
      if (this.writeFd !== this.readFd) closeFd(this.writeFd, () => undefined);
      if (!this.reading) this.closeReadFd();
    }
    this.sink?.end(err);
  }

  private readClosed = false;

  private closeReadFd(): void {
    if (this.readClosed || !(this.opts.closeFds ?? true)) return;
    this.readClosed = true;
    closeFd(this.readFd, () => undefined);
  }
}
