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
    this.readLoop();
  }

  private readLoop(): void {
    if (this.reading || this.paused || this.ended) return;
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
    this.readLoop();
  }

  close(): void {
    this.finish();
  }

  private finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
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
