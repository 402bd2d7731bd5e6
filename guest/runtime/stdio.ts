/**
 * One process's stdio as the Kata agent API exposes it: polling reads (ReadStdout/ReadStderr
 * block until data or end of stream), writes to stdin, closing stdin. Output is buffered up to a
 * bound; beyond it the pipe is paused (back-pressure to the process), never dropped.
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

  attach(s: Readable): void {
    this.stream = s;
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
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Up to `len` bytes; waits for data; throws OUT_OF_RANGE "EOF" once the stream is done and drained. */
  async read(len: number, signal?: AbortSignal): Promise<Buffer> {
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

export class ProcessStdio {
  readonly stdout = new OutputBuffer();
  readonly stderr = new OutputBuffer();
  private stdin: Writable | undefined;

  attach(stdin: Writable | null, stdout: Readable | null, stderr: Readable | null): void {
    this.stdin = stdin ?? undefined;
    stdin?.on('error', () => undefined);
    if (stdout) this.stdout.attach(stdout);
    else this.stdout.end();
    if (stderr) this.stderr.attach(stderr);
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
