/**
 * ttrpc framing: a 10-byte header (uint32 BE data length, uint32 BE stream id, uint8 type,
 * uint8 flags) followed by `length` bytes of data. Encoding helpers and an incremental decoder
 * that never buffers an oversized frame (its body is discarded as it streams in).
 */

export const HEADER_LENGTH = 10;
/** Largest data length accepted or sent (4 MiB), as in containerd/ttrpc. */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const MessageType = {
  Request: 0x01,
  Response: 0x02,
  Data: 0x03,
} as const;

export const Flag = {
  /** Sender will send nothing more on this stream. */
  RemoteClosed: 0x01,
  /** Request opens a stream on which the sender keeps sending Data frames. */
  RemoteOpen: 0x02,
  /** Data frame carries no payload. */
  NoData: 0x04,
} as const;

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

/** Receives decoded frames. `data` may be a view into a transport buffer: copy it to keep it. */
export interface FrameSink {
  frame(header: FrameHeader, data: Buffer): void;
  /** A frame whose length exceeded the maximum; its body has been discarded. */
  oversize(header: FrameHeader): void;
}

/** Writes a frame header into `target` at `offset`. */
export function writeHeader(target: Buffer, offset: number, length: number, streamId: number, type: number, flags: number): void {
  target.writeUInt32BE(length, offset);
  target.writeUInt32BE(streamId >>> 0, offset + 4);
  target[offset + 8] = type;
  target[offset + 9] = flags;
}

/** A whole frame in one new buffer. */
export function encodeFrame(streamId: number, type: number, flags: number, data: Uint8Array = EMPTY): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH + data.length);
  writeHeader(b, 0, data.length, streamId, type, flags);
  b.set(data, HEADER_LENGTH);
  return b;
}

const EMPTY = new Uint8Array(0);

/**
 * Incremental frame decoder. Frames that arrive whole inside one chunk are passed on as
 * zero-copy views; frames split across chunks are assembled into one exact-size buffer.
 */
export class FrameDecoder {
  private readonly headerBuf = Buffer.allocUnsafe(HEADER_LENGTH);
  private headerFilled = 0;
  private header: FrameHeader | undefined;
  private body: Buffer | undefined;
  private bodyFilled = 0;
  private discardLeft = 0;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxLength: number = MAX_MESSAGE_LENGTH,
  ) {}

  /** True while part of a frame has been received but not all of it. */
  get midFrame(): boolean {
    return this.headerFilled > 0 || this.body !== undefined || this.discardLeft > 0;
  }

  push(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      if (this.discardLeft > 0) {
        const n = Math.min(this.discardLeft, len - off);
        off += n;
        this.discardLeft -= n;
        if (this.discardLeft === 0) this.finishDiscard();
        continue;
      }
      if (this.body !== undefined) {
        const n = Math.min(this.body.length - this.bodyFilled, len - off);
        chunk.copy(this.body, this.bodyFilled, off, off + n);
        this.bodyFilled += n;
        off += n;
        if (this.bodyFilled === this.body.length) {
          const body = this.body;
          const h = this.header!;
          this.body = undefined;
          this.header = undefined;
          this.sink.frame(h, body);
        }
        continue;
      }
      let h: FrameHeader;
      if (this.headerFilled === 0 && len - off >= HEADER_LENGTH) {
        h = readHeader(chunk, off);
        off += HEADER_LENGTH;
      } else {
        const n = Math.min(HEADER_LENGTH - this.headerFilled, len - off);
        chunk.copy(this.headerBuf, this.headerFilled, off, off + n);
        this.headerFilled += n;
        off += n;
        if (this.headerFilled < HEADER_LENGTH) return;
        this.headerFilled = 0;
        h = readHeader(this.headerBuf, 0);
      }
      if (h.length > this.maxLength) {
        this.header = h;
        this.discardLeft = h.length;
        continue;
      }
      if (h.length === 0) {
        this.sink.frame(h, EMPTY_BUFFER);
        continue;
      }
      if (len - off >= h.length) {
        const data = chunk.subarray(off, off + h.length);
        off += h.length;
        this.sink.frame(h, data);
        continue;
      }
      this.header = h;
      this.body = Buffer.allocUnsafe(h.length);
      this.bodyFilled = 0;
    }
  }

  private finishDiscard(): void {
    const h = this.header!;
    this.header = undefined;
    this.sink.oversize(h);
  }
}

const EMPTY_BUFFER = Buffer.alloc(0);

function readHeader(b: Buffer, off: number): FrameHeader {
  return {
    length: b.readUInt32BE(off),
    streamId: b.readUInt32BE(off + 4),
    type: b[off + 8]!,
    flags: b[off + 9]!,
  };
}
