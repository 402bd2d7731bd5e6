/**
 * ttrpc client: many concurrent calls over one connection, answered in any order. Unary calls
 * and raw streams work on encoded payloads; `createClient` (typed.ts) adds message types.
 */
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode, StatusCode, errorFromStatus } from '../errors/index.js';
import { silentLogger } from '../log/logger.js';
import { Channel } from './channel.js';
import { decodeResponse, encodeRequest, type Payload, type ResponseEnvelope } from './envelope.js';
import { fdTransport, type FdTransportOptions } from './fd-transport.js';
import { Flag, HEADER_LENGTH, MAX_MESSAGE_LENGTH, MessageType, type FrameHeader } from './frame.js';
import { Metadata } from './metadata.js';
import { AsyncQueue } from './queue.js';
import { DuplexTransport, isTransport, type Transport } from './transport.js';
import type { CallOptions, ClientInterceptor } from './types.js';

export interface TtrpcClientOptions {
  logger?: Logger;
  interceptors?: readonly ClientInterceptor[];
  maxMessageSize?: number;
  /** See ChannelOptions.coalesce (default true). */
  coalesceWrites?: boolean;
}

export interface ConnectOptions extends TtrpcClientOptions {
  /** Give up connecting after this long (default 10000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Retry every this many ms while the socket is missing or refuses (ENOENT, ECONNREFUSED), as
   * when a VM's chardev socket or a shim's socket is not there yet; default: fail at once.
   */
  retryIntervalMs?: number;
}

interface Pending {
  kind: 'unary' | 'stream';
  rpc: string;
  resolve(payload: Buffer): void;
  reject(e: CocoletError): void;
  /** Streams: inbound Data payloads. */
  queue?: AsyncQueue<Buffer>;
  cleanup?: () => void;
}

const EMPTY = Buffer.alloc(0);
const STREAM_HIGH_WATER = 64;

/** A raw client stream (payloads are encoded protobuf). */
export interface RawClientStream {
  readonly streamId: number;
  /** Inbound messages; ends when the server closes the stream, throws its error status. */
  readonly messages: AsyncIterable<Buffer>;
  /** Resolves with the final Response payload (empty for server streams), rejects with the status. */
  readonly result: Promise<Buffer>;
  /** Sends one encoded message (a buffer or chunks); resolves when more may be sent (back-pressure). */
  send(payload: Payload): Promise<void>;
  /** Tells the server no more messages follow. */
  closeSend(): void;
  /** Stops tracking the stream locally (ttrpc has no cancel frame). */
  cancel(reason?: CocoletError): void;
}

export class TtrpcClient {
  readonly logger: Logger;
  readonly interceptors: readonly ClientInterceptor[];
  private readonly channel: Channel;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closeError: CocoletError | undefined;
  private closeCallbacks: Array<(e: CocoletError) => void> = [];
  /** Resolves (never rejects) with the error that ended the connection. */
  readonly closed: Promise<CocoletError>;

  constructor(stream: Duplex | Transport | FdTransportOptions, opts: TtrpcClientOptions = {}) {
    this.logger = opts.logger ?? silentLogger();
    this.interceptors = opts.interceptors ?? [];
    let transport: Transport;
    if (isTransport(stream)) transport = stream;
    else if ('readFd' in stream && typeof stream.readFd === 'number') transport = fdTransport(stream);
    else transport = new DuplexTransport(stream as Duplex);
    this.closed = new Promise((resolve) => this.closeCallbacks.push(resolve));
    this.channel = new Channel(
      transport,
      {
        frame: (h, d) => this.onFrame(h, d),
        oversize: (h) => this.onOversize(h),
        closed: (e) => this.onClosed(e),
      },
      { maxMessageSize: opts.maxMessageSize ?? MAX_MESSAGE_LENGTH, coalesce: opts.coalesceWrites ?? true },
    );
  }

  /** Connects to a unix socket path, or a TCP address. */
  static async connect(target: string | { host?: string; port: number }, opts: ConnectOptions = {}): Promise<TtrpcClient> {
    const path = typeof target === 'string' ? target : `${target.host ?? '127.0.0.1'}:${target.port}`;
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      try {
        return await TtrpcClient.connectOnce(target, path, deadline - Date.now(), opts);
      } catch (e) {
        const errno = ((e as CocoletError).cause as NodeJS.ErrnoException | undefined)?.code;
        const retriable = opts.retryIntervalMs !== undefined && (errno === 'ENOENT' || errno === 'ECONNREFUSED');
        if (!retriable || Date.now() + opts.retryIntervalMs! >= deadline) throw e;
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => {
            opts.signal?.removeEventListener('abort', onAbort);
            resolve();
          }, opts.retryIntervalMs);
          const onAbort = (): void => {
            clearTimeout(t);
            reject(new CocoletError(ErrorCode.Cancelled, 'ttrpc: connect cancelled'));
          };
          if (opts.signal?.aborted) onAbort();
          else opts.signal?.addEventListener('abort', onAbort, { once: true });
        });
      }
    }
  }

  private static connectOnce(target: string | { host?: string; port: number }, path: string, timeoutMs: number, opts: ConnectOptions): Promise<TtrpcClient> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new CocoletError(ErrorCode.Cancelled, 'ttrpc: connect cancelled'));
      const sock = typeof target === 'string' ? netConnect(target) : netConnect({ host: target.host ?? '127.0.0.1', port: target.port, noDelay: true });
      const timer = setTimeout(() => fail(new CocoletError(ErrorCode.DeadlineExceeded, 'ttrpc: connect timed out', { context: { socket: path } })), Math.max(0, timeoutMs));
      const onAbort = (): void => fail(new CocoletError(ErrorCode.Cancelled, 'ttrpc: connect cancelled'));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        sock.off('error', onError);
      };
      const fail = (e: CocoletError): void => {
        done();
        sock.destroy();
        reject(e);
      };
      const onError = (e: NodeJS.ErrnoException): void =>
        fail(new CocoletError(ErrorCode.Unavailable, `ttrpc: connect failed: ${e.code ?? e.message}`, { cause: e, context: { socket: path } }));
      sock.once('error', onError);
      sock.once('connect', () => {
        done();
        resolve(new TtrpcClient(sock, opts));
      });
    });
  }

  get isClosed(): boolean {
    return this.closeError !== undefined;
  }

  /** Number of calls and streams in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Registers a callback for connection loss (called at once when already closed). */
  onClose(cb: (e: CocoletError) => void): void {
    if (this.closeError) cb(this.closeError);
    else this.closeCallbacks.push(cb);
  }

  /** Closes the connection; pending calls fail with UNAVAILABLE. */
  close(): void {
    this.channel.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** A unary call with an encoded request (a buffer or chunks); resolves with the encoded response. */
  unary(service: string, method: string, payload: Payload, opts: CallOptions = {}): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const rpc = `/${service}/${method}`;
      if (this.closeError) return reject(this.closeError.withContext({ rpc }));
      const id = this.allocId();
      const p: Pending = { kind: 'unary', rpc, resolve, reject };
      try {
        this.arm(id, p, opts);
        this.sendRequest(id, service, method, payload, opts, 0);
      } catch (e) {
        this.settle(id)?.reject(asError(e, rpc));
      }
    });
  }

  /**
   * Opens a stream. `clientStreams` selects Request flags: remote-open (the client will send Data
   * frames) or remote-closed (server streaming, `payload` is the only request message).
   */
  stream(service: string, method: string, payload: Payload | undefined, clientStreams: boolean, opts: CallOptions = {}): RawClientStream {
    const rpc = `/${service}/${method}`;
    if (this.closeError) throw this.closeError.withContext({ rpc });
    const id = this.allocId();
    const queue = new AsyncQueue<Buffer>(STREAM_HIGH_WATER, (high) => (high ? this.channel.pause() : this.channel.resume()));
    let resolveResult!: (b: Buffer) => void;
    let rejectResult!: (e: CocoletError) => void;
    const result = new Promise<Buffer>((res, rej) => {
      resolveResult = res;
      rejectResult = rej;
    });
    result.catch(() => undefined); // observed through messages or result by the caller
    const p: Pending = {
      kind: 'stream',
      rpc,
      queue,
      resolve: (b) => {
        queue.end();
        resolveResult(b);
      },
      reject: (e) => {
        queue.fail(e);
        rejectResult(e);
      },
    };
    this.arm(id, p, opts);
    try {
      this.sendRequest(id, service, method, payload, opts, clientStreams ? Flag.RemoteOpen : Flag.RemoteClosed);
    } catch (e) {
      this.settle(id)?.reject(asError(e, rpc));
    }
    let sendClosed = !clientStreams;
    return {
      streamId: id,
      messages: queue,
      result,
      send: async (bytes) => {
        if (sendClosed) throw new CocoletError(ErrorCode.FailedPrecondition, 'ttrpc: stream send side closed', { context: { rpc } });
        if (this.closeError) throw this.closeError.withContext({ rpc });
        // Finished already (the result tells why): stop the sender.
        if (!this.pending.has(id)) throw new CocoletError(ErrorCode.Cancelled, 'ttrpc: stream already finished', { context: { rpc } });
        if (bytes instanceof Uint8Array) this.channel.sendRaw(id, MessageType.Data, 0, bytes);
        else {
          let n = 0;
          for (const c of bytes) n += c.length;
          this.channel.sendChunks(id, MessageType.Data, 0, bytes, n);
        }
        const ready = this.channel.ready();
        if (ready) await ready;
      },
      closeSend: () => {
        if (sendClosed) return;
        sendClosed = true;
        if (!this.closeError && this.pending.has(id)) this.channel.sendRaw(id, MessageType.Data, Flag.RemoteClosed | Flag.NoData, undefined);
      },
      cancel: (reason) => {
        sendClosed = true;
        this.settle(id)?.reject(reason ?? new CocoletError(ErrorCode.Cancelled, 'ttrpc: stream cancelled', { context: { rpc } }));
      },
    };
  }

  // ---- internals ------------------------------------------------------------------------------

  private allocId(): number {
    const id = this.nextId;
    if (id > 0xffffffff) throw new CocoletError(ErrorCode.ResourceExhausted, 'ttrpc: stream ids exhausted; reconnect');
    this.nextId += 2;
    return id;
  }

  private arm(id: number, p: Pending, opts: CallOptions): void {
    this.pending.set(id, p);
    const { signal, timeoutMs } = opts;
    if (timeoutMs === undefined && signal === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        this.settle(id)?.reject(new CocoletError(ErrorCode.DeadlineExceeded, 'context deadline exceeded', { context: { rpc: p.rpc, status: StatusCode.DEADLINE_EXCEEDED } }));
      }, Math.max(0, timeoutMs));
    }
    if (signal) {
      onAbort = (): void => {
        this.settle(id)?.reject(new CocoletError(ErrorCode.Cancelled, 'context canceled', { cause: signal.reason, context: { rpc: p.rpc, status: StatusCode.CANCELLED } }));
      };
      if (signal.aborted) {
        queueMicrotask(onAbort);
      } else signal.addEventListener('abort', onAbort, { once: true });
    }
    p.cleanup = () => {
      if (timer) clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    };
  }

  /** Removes a pending call and returns it (undefined when already settled). */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    p.cleanup?.();
    return p;
  }

  private sendRequest(id: number, service: string, method: string, payload: Payload | undefined, opts: CallOptions, flags: number): void {
    const md = opts.metadata === undefined ? undefined : opts.metadata instanceof Metadata ? opts.metadata.toPairs() : new Metadata(opts.metadata).toPairs();
    const timeoutNano = opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? Math.round(opts.timeoutMs * 1e6) : 0;
    const enc = encodeRequest(HEADER_LENGTH, service, method, payload, timeoutNano, md);
    this.channel.sendEncoded(id, MessageType.Request, flags, enc);
  }

  private onFrame(h: FrameHeader, data: Buffer): void {
    const p = this.pending.get(h.streamId);
    if (!p) return; // a call that was cancelled or timed out; drop
    if (h.type === MessageType.Response) {
      this.settle(h.streamId);
      let resp: ResponseEnvelope;
      try {
        resp = decodeResponse(data);
      } catch (e) {
        p.reject(new CocoletError(ErrorCode.ProtobufInvalid, `ttrpc: bad response: ${(e as Error).message}`, { context: { rpc: p.rpc } }));
        return;
      }
      const st = resp.status;
      if (st && st.code !== 0) p.reject(errorFromStatus(st.code, st.message, { rpc: p.rpc }));
      else p.resolve(resp.payload ?? EMPTY);
      return;
    }
    if (h.type === MessageType.Data && p.queue) {
      if ((h.flags & Flag.NoData) === 0) p.queue.push(data);
      if ((h.flags & Flag.RemoteClosed) !== 0) this.settle(h.streamId)?.resolve(EMPTY);
    }
  }

  private onOversize(h: FrameHeader): void {
    const p = this.settle(h.streamId);
    p?.reject(
      new CocoletError(ErrorCode.ResourceExhausted, `message length ${h.length} exceed maximum message size of ${this.channel.maxMessageSize}`, {
        context: { rpc: p.rpc },
      }),
    );
  }

  private onClosed(e?: Error): void {
    const err = errorFromStatus(StatusCode.UNAVAILABLE, 'ttrpc: connection closed');
    if (e) (err as { cause?: unknown }).cause = e;
    this.closeError = err;
    const all = [...this.pending.entries()];
    this.pending.clear();
    for (const [, p] of all) {
      p.cleanup?.();
      p.reject(err.withContext({ rpc: p.rpc }));
    }
    const cbs = this.closeCallbacks;
    this.closeCallbacks = [];
    for (const cb of cbs) cb(err);
  }
}

function asError(e: unknown, rpc: string): CocoletError {
  if (e instanceof CocoletError) return e.withContext({ rpc });
  return new CocoletError(ErrorCode.Internal, e instanceof Error ? e.message : String(e), { cause: e, context: { rpc } });
}
