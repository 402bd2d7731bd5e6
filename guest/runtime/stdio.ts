/**
 * One process's stdio as the Kata agent API exposes it: polling reads (ReadStdout/ReadStderr
 * block until data or end of stream), writes to stdin, closing stdin. Output the host may read is
 * buffered up to a bound; beyond it the pipe is paused (back-pressure to the process until the
 * host reads), never dropped. Output the policy forbids the host to read (decided when the
 * process starts) is drained and discarded as it comes, counting bytes only: nobody would ever
 * read it, so back-pressure would block the container forever.
 */
import type { Readable, Writable } from 'node:stream';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

const MAX_BUFFERED = 1024 * 1024;

export class OutputBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private waiters: (() => void)[] = [];
  private stream: Readable | undefined;
  private discarding = false;
  /** Bytes drained and dropped (discard mode). */
  discarded = 0;
  private settleDrained!: () => void;
  /** Resolves once the attached stream has ended (every byte counted), or at once when there is none. */
  readonly drained = new Promise<void>((r) => (this.settleDrained = r));

  /** `discard`: drain and drop (count only); `onDiscard` sees each dropped chunk's length. */
  attach(s: Readable, opts: { discard?: boolean; onDiscard?: (bytes: number) => void } = {}): void {
    this.stream = s;
    for (const ev of ['end', 'error', 'close']) s.once(ev, () => this.settleDrained());
    if (opts.discard) {
      this.discarding = true;
      s.on('data', (d: Buffer) => {
        this.discarded += d.length;
        opts.onDiscard?.(d.length);
      });
      s.once('end', () => this.end());
      s.once('error', () => this.end());
      s.once('close', () => this.end());
      return;
    }
    s.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.size += d.length;
      if (this.size > MAX_BUFFERED) s.pause();
      this.wake();
    });
    s.once('end', () => this.end());
    s.once('error', () => this.end());
    s.once('close', () => this.end());
  }

  end(): void {
    this.ended = true;
    if (!this.stream) this.settleDrained();
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Up to `len` bytes; waits for data; throws OUT_OF_RANGE "EOF" once the stream is done and drained. */
  async read(len: number, signal?: AbortSignal): Promise<Buffer> {
    if (this.discarding) throw new CocoletError(ErrorCode.FailedPrecondition, 'this output is discarded: the policy did not let the host read it when the process started');
    const max = Math.max(1, Math.min(len || 65536, 1024 * 1024));
    while (this.size === 0) {
      if (this.ended) throw new CocoletError(ErrorCode.OutOfRange, 'EOF');
      await new Promise<void>((resolve, reject) => {
        this.waiters.push(resolve);
        signal?.addEventListener('abort', () => reject(new CocoletError(ErrorCode.Cancelled, 'read cancelled')), { once: true });
      });
    }
    const all = Buffer.concat(this.chunks);
    const out = all.subarray(0, max);
    const rest = all.subarray(max);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    if (this.size <= MAX_BUFFERED) this.stream?.resume();
    return Buffer.from(out);
  }
}

export interface DiscardOptions {
  stdout?: boolean;
  stderr?: boolean;
  onDiscard?: (stream: 'stdout' | 'stderr', bytes: number) => void;
}

export class ProcessStdio {
  readonly stdout = new OutputBuffer();
  readonly stderr = new OutputBuffer();
  private stdin: Writable | undefined;

  /** `discard.stdout/stderr`: the policy forbids the host to read that stream (drain it, count bytes). */
  attach(stdin: Writable | null, stdout: Readable | null, stderr: Readable | null, discard: DiscardOptions = {}): void {
    this.stdin = stdin ?? undefined;
    stdin?.on('error', () => undefined);
    if (stdout) this.stdout.attach(stdout, { discard: discard.stdout, onDiscard: (n) => discard.onDiscard?.('stdout', n) });
    else this.stdout.end();
    if (stderr) this.stderr.attach(stderr, { discard: discard.stderr, onDiscard: (n) => discard.onDiscard?.('stderr', n) });
    else this.stderr.end();
  }

  async write(data: Uint8Array): Promise<number> {
    const s = this.stdin;
    if (!s || s.writableEnded || s.destroyed) throw new CocoletError(ErrorCode.FailedPrecondition, 'stdin is closed');
    await new Promise<void>((resolve, reject) => s.write(data, (e) => (e ? reject(new CocoletError(ErrorCode.FailedPrecondition, 'stdin write failed')) : resolve())));
    return data.length;
  }

  closeStdin(): void {
    this.stdin?.end();
  }
}
