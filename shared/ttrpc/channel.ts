/**
 * One framed ttrpc connection over a transport: decodes inbound frames, and writes outbound frames
 * with write coalescing (frames queued in the same turn of the event loop go out in one write) and
 * without copying payloads (header+envelope prefix and payload are separate chunks).
 */
import { CocoletError, ErrorCode } from '../errors/index.js';
import type { EncodedPrefix } from './envelope.js';
import { FrameDecoder, HEADER_LENGTH, MAX_MESSAGE_LENGTH, writeHeader, type FrameHeader } from './frame.js';
import type { Transport } from './transport.js';

export interface ChannelHandlers {
  frame(header: FrameHeader, data: Buffer): void;
  oversize(header: FrameHeader): void;
  closed(error?: Error): void;
}

export interface ChannelOptions {
  maxMessageSize?: number;
  /**
   * Write coalescing (default true): frames queued during one event-loop turn go out in one write
   * at the end of it (setImmediate). Measured on 16 B unary calls with 16 in flight: p50 latency
   * ~100 us coalesced vs ~220 us writing each frame at once, ~1.4x the calls/s; no change with 1
   * call in flight (p50 ~21 us either way).
   */
  coalesce?: boolean;
}

/** Flush at once when this much is queued. */
const FLUSH_BYTES = 256 * 1024;

export class Channel {
  readonly maxMessageSize: number;
  private readonly coalesce: boolean;
  private readonly decoder: FrameDecoder;
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private scheduled = false;
  private blocked = false;
  private drainWaiters: Array<() => void> = [];
  private pauses = 0;
  private closedFlag = false;

  constructor(
    readonly transport: Transport,
    private readonly handlers: ChannelHandlers,
    opts: ChannelOptions = {},
  ) {
    this.maxMessageSize = opts.maxMessageSize ?? MAX_MESSAGE_LENGTH;
    this.coalesce = opts.coalesce ?? true;
    this.decoder = new FrameDecoder(handlers, this.maxMessageSize);
    transport.start({
      data: (chunk) => {
        try {
          this.decoder.push(chunk);
        } catch (e) {
          // A bug in a frame handler must cost this connection, never the process.
          this.transport.close();
          this.onEnd(e instanceof Error ? e : new Error(String(e)));
        }
      },
      end: (e) => this.onEnd(e),
      drain: () => this.onDrain(),
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Throws RESOURCE_EXHAUSTED when `length` is over the limit. */
  checkSize(length: number): void {
    if (length > this.maxMessageSize) {
      throw new CocoletError(ErrorCode.ResourceExhausted, `message length ${length} exceed maximum message size of ${this.maxMessageSize}`);
    }
  }

  /** Sends an envelope encoded with HEADER_LENGTH bytes of room at the front. */
  sendEncoded(streamId: number, type: number, flags: number, enc: EncodedPrefix): void {
    this.checkSize(enc.length);
    writeHeader(enc.prefix, 0, enc.length, streamId, type, flags);
    this.push(enc.prefix, enc.payload);
  }

  /** Sends a frame whose data is the concatenation of `chunks` (not copied). */
  sendChunks(streamId: number, type: number, flags: number, chunks: readonly Uint8Array[], length: number): void {
    this.checkSize(length);
    const h = Buffer.allocUnsafe(HEADER_LENGTH);
    writeHeader(h, 0, length, streamId, type, flags);
    this.push(h, length > 0 ? chunks : undefined);
  }

  /** Sends a frame whose data is `data` as is. */
  sendRaw(streamId: number, type: number, flags: number, data: Uint8Array | undefined): void {
    const n = data?.length ?? 0;
    this.checkSize(n);
    const h = Buffer.allocUnsafe(HEADER_LENGTH);
    writeHeader(h, 0, n, streamId, type, flags);
    this.push(h, n > 0 && data ? [data] : undefined);
  }

  /** Resolves when queued writes may continue (at once unless the transport is full). */
  ready(): Promise<void> | undefined {
    if (!this.blocked || this.closedFlag) return undefined;
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Reference-counted pause of inbound data. */
  pause(): void {
    if (this.pauses++ === 0) this.transport.pause();
  }

  resume(): void {
    if (this.pauses > 0 && --this.pauses === 0) this.transport.resume();
  }

  /** Writes what is queued and closes the transport. */
  close(): void {
    if (this.closedFlag) return;
    this.flush();
    this.transport.close();
    this.onEnd();
  }

  private push(a: Uint8Array, rest: readonly Uint8Array[] | undefined): void {
    if (this.closedFlag) throw new CocoletError(ErrorCode.Unavailable, 'ttrpc: closed');
    this.chunks.push(a);
    this.bytes += a.length;
    if (rest !== undefined) {
      for (const c of rest) {
        if (c.length === 0) continue;
        this.chunks.push(c);
        this.bytes += c.length;
      }
    }
    if (!this.coalesce || this.bytes >= FLUSH_BYTES) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushCallback);
    }
  }

  private readonly flushCallback = (): void => {
    this.scheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.bytes === 0 || this.closedFlag) return;
    const chunks = this.chunks;
    const bytes = this.bytes;
    this.chunks = [];
    this.bytes = 0;
    if (!this.transport.write(chunks, bytes)) this.blocked = true;
  }

  private onDrain(): void {
    this.blocked = false;
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }

  private onEnd(e?: Error): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.chunks = [];
    this.bytes = 0;
    this.onDrain();
    this.handlers.closed(e);
  }
}
