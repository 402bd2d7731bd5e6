/**
 * Byte transports under a ttrpc connection. A transport delivers received chunks in order and
 * writes lists of chunks in order; the connection above does framing. Adapters: any node Duplex
 * (unix socket, TCP socket, in-memory pair) here, and file descriptors (character devices, pipes)
 * in fd-transport.ts.
 */
import type { Duplex } from 'node:stream';

export interface TransportSink {
  data(chunk: Buffer): void;
  /** The transport ended (peer closed, error or local close). Called once. */
  end(error?: Error): void;
  /** Writes may continue after a `write()` that returned false. */
  drain(): void;
}

export interface Transport {
  start(sink: TransportSink): void;
  /** Writes `chunks` (totalling `bytes`) in order; false means wait for `sink.drain()`. */
  write(chunks: readonly Uint8Array[], bytes: number): boolean;
  /** Stop / restart delivering received data (back-pressure toward the peer). */
  pause(): void;
  resume(): void;
  /** Closes the transport at once. */
  close(): void;
  /** A short description for logs (no secrets). */
  readonly description: string;
}

/** Below this total, a batch of chunks is joined into one buffer instead of a vectored write. */
const JOIN_LIMIT = 16 * 1024;

export class DuplexTransport implements Transport {
  private sink: TransportSink | undefined;
  private ended = false;

  constructor(
    private readonly stream: Duplex,
    readonly description = 'stream',
  ) {}

  start(sink: TransportSink): void {
    this.sink = sink;
    const s = this.stream;
    s.on('data', (chunk: Buffer) => sink.data(chunk));
    s.on('drain', () => sink.drain());
    s.once('end', () => {
      this.finish();
      s.destroy();
    });
    s.on('error', (e: Error) => this.finish(e));
    s.once('close', () => this.finish());
    if (s.destroyed) this.finish();
  }

  write(chunks: readonly Uint8Array[], bytes: number): boolean {
    const s = this.stream;
    if (this.ended || s.destroyed) return true;
    if (chunks.length === 1) return s.write(chunks[0]!);
    if (bytes <= JOIN_LIMIT) return s.write(Buffer.concat(chunks as Uint8Array[], bytes));
    s.cork();
    let ok = true;
    for (const c of chunks) ok = s.write(c);
    s.uncork();
    return ok;
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    this.stream.destroy();
    this.finish();
  }

  private finish(e?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.sink?.end(e);
  }
}

export function isTransport(x: unknown): x is Transport {
  return typeof x === 'object' && x !== null && typeof (x as Transport).start === 'function' && typeof (x as Transport).write === 'function' && !('pipe' in x);
}

/**
 * A transport over two one-way streams: e.g. a child process's stdout/stdin, or two pipes
 * (`new net.Socket({ fd, readable: true })` on the read end, `{ fd, writable: true }` on the write end).
 */
export class StreamPairTransport implements Transport {
  private sink: TransportSink | undefined;
  private ended = false;

  constructor(
    private readonly input: NodeJS.ReadableStream & { destroy(): void },
    private readonly output: NodeJS.WritableStream & { destroy(): void; cork?(): void; uncork?(): void },
    readonly description = 'stream pair',
  ) {}

  start(sink: TransportSink): void {
    this.sink = sink;
    this.input.on('data', (chunk: Buffer) => sink.data(chunk));
    this.input.once('end', () => this.close());
    this.input.on('error', (e: Error) => this.finish(e));
    this.output.on('error', (e: Error) => this.finish(e));
    this.output.on('drain', () => sink.drain());
    this.input.once('close', () => this.finish());
  }

  write(chunks: readonly Uint8Array[], bytes: number): boolean {
    if (this.ended) return true;
    if (chunks.length === 1) return this.output.write(chunks[0]!);
    return this.output.write(Buffer.concat(chunks as Uint8Array[], bytes));
  }

  pause(): void {
    this.input.pause();
  }

  resume(): void {
    this.input.resume();
  }

  close(): void {
    this.input.destroy();
    this.output.destroy();
    this.finish();
  }

  private finish(e?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.sink?.end(e);
  }
}
