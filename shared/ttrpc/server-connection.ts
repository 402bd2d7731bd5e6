/**
 * One server-side ttrpc connection: protocol checks (stream ids, frame sizes, envelope decoding)
 * with the statuses containerd/ttrpc answers, dispatch of unary and streaming calls, deadlines,
 * back-pressure and teardown.
 */
import type { DescMessage, DescMethod, Message } from '@bufbuild/protobuf';
import { decodeMessage, encodeMessage, type EncodedMessage } from './codec.js';
import { CocoletError, ErrorCode, StatusCode, statusCodeOf } from '../errors/index.js';
import { Channel } from './channel.js';
import { channels, type CallTrace } from './diagnostics.js';
import { decodeRequest, encodeResponse, type RequestEnvelope } from './envelope.js';
import { Flag, HEADER_LENGTH, MessageType, type FrameHeader } from './frame.js';
import { Metadata } from './metadata.js';
import { AsyncQueue } from './queue.js';
import type { TtrpcServer } from './server.js';
import type { Transport } from './transport.js';
import type { AnyServerMethodImpl, ServerCall, ServerCallContext } from './types.js';

export interface RegisteredMethod {
  desc: DescMethod;
  impl: AnyServerMethodImpl | undefined;
}

interface Status {
  code: number;
  message: string;
}

/** State of one call in flight. */
interface CallState {
  id: number;
  done: boolean;
  /** Created on first use of ctx.signal (most handlers never look at it). */
  ac: AbortController | undefined;
  /** Why the call was aborted before anyone asked for its signal. */
  abortReason: unknown;
  timer: NodeJS.Timeout | undefined;
  /** Inbound messages for streaming calls. */
  queue: AsyncQueue<Buffer> | undefined;
  streaming: boolean;
}

const EMPTY = Buffer.alloc(0);
const STREAM_HIGH_WATER = 64;

export class ServerConnection {
  private readonly channel: Channel;
  private readonly calls = new Map<number, CallState>();
  private lastStreamId = 0;
  private closeCallbacks: Array<() => void> = [];
  private closedFlag = false;
  private readonly peer: string;

  constructor(
    private readonly server: TtrpcServer,
    transport: Transport,
    /**
     * A port that outlives its host clients (serveFd): a request on stream 1 after others starts
     * a new host session. A host that reconnects before this side read EOF (a pipe or port gets
     * a new writer between two reads) would otherwise be refused for re-using stream ids.
     */
    private readonly sessionsRestart = false,
  ) {
    this.peer = transport.description;
    this.channel = new Channel(
      transport,
      {
        frame: (h, data) => this.onFrame(h, data),
        oversize: (h) =>
          this.sendStatus(h.streamId, {
            code: StatusCode.RESOURCE_EXHAUSTED,
            message: `message length ${h.length} exceed maximum message size of ${this.channel.maxMessageSize}`,
          }),
        closed: (e) => this.onClosed(e),
      },
      { maxMessageSize: server.maxMessageSize, coalesce: server.coalesceWrites },
    );
  }

  get activeCalls(): number {
    return this.calls.size;
  }

  onClose(cb: () => void): void {
    if (this.closedFlag) cb();
    else this.closeCallbacks.push(cb);
  }

  close(reason?: Error): void {
    this.abortAll(reason ?? new CocoletError(ErrorCode.Unavailable, 'ttrpc: connection closed'));
    this.channel.close();
  }

  // ---- inbound --------------------------------------------------------------------------------

  private onFrame(h: FrameHeader, data: Buffer): void {
    const id = h.streamId;
    if (id % 2 !== 1) {
      this.sendStatus(id, { code: StatusCode.INVALID_ARGUMENT, message: 'StreamID must be odd for client initiated streams' });
      return;
    }
    if (h.type === MessageType.Data) this.onData(h, data);
    else if (h.type === MessageType.Request) this.onRequest(h, data);
    // Other types are ignored for forward compatibility, as containerd/ttrpc does.
  }

  private onData(h: FrameHeader, data: Buffer): void {
    const call = this.calls.get(h.streamId);
    if (!call) {
      this.sendStatus(h.streamId, { code: StatusCode.INVALID_ARGUMENT, message: 'StreamID is no longer active' });
      return;
    }
    if (!call.queue) return; // a unary call: nothing to feed
    if ((h.flags & Flag.NoData) === 0) {
      if (call.queue.done) {
        this.sendStatus(h.streamId, { code: StatusCode.INVALID_ARGUMENT, message: 'data handling error: stream closed' }, true);
        return;
      }
      call.queue.push(data);
    }
    if ((h.flags & Flag.RemoteClosed) !== 0) {
      call.queue.end();
      if (data.length > 0) {
        this.sendStatus(h.streamId, { code: StatusCode.INVALID_ARGUMENT, message: 'data close message cannot include data' }, true);
      }
    }
  }

  private onRequest(h: FrameHeader, data: Buffer): void {
    const id = h.streamId;
    if (id === 1 && this.lastStreamId > 0 && this.sessionsRestart) {
      // The previous host client is gone; its calls' answers have no one to go to.
      this.abortAll(new CocoletError(ErrorCode.Unavailable, 'ttrpc: a new host session started on this port'));
      this.lastStreamId = 0;
    }
    if (id <= this.lastStreamId) {
      this.sendStatus(id, { code: StatusCode.INVALID_ARGUMENT, message: 'StreamID cannot be re-used and must increment' });
      return;
    }
    this.lastStreamId = id;
    let req: RequestEnvelope;
    try {
      req = decodeRequest(data);
    } catch (e) {
      this.sendStatus(id, { code: StatusCode.INVALID_ARGUMENT, message: `unmarshal request error: ${(e as Error).message}` });
      return;
    }
    if (this.server.isShuttingDown) {
      this.sendStatus(id, { code: StatusCode.UNAVAILABLE, message: 'ttrpc: server is shutting down' });
      return;
    }
    const found = this.server.lookup(req.service, req.method);
    if (!found.service) {
      this.sendStatus(id, { code: StatusCode.UNIMPLEMENTED, message: `service ${req.service}` });
      return;
    }
    if (!found.method?.impl) {
      this.sendStatus(id, { code: StatusCode.UNIMPLEMENTED, message: `method ${req.method}` });
      return;
    }
    const { desc, impl } = found.method;
    const streaming = desc.methodKind !== 'unary';
    const call: CallState = { id, done: false, ac: undefined, abortReason: undefined, timer: undefined, queue: undefined, streaming };
    this.calls.set(id, call);
    const ctx = this.makeContext(call, req);
    if (!streaming) {
      void this.runUnary(call, ctx, desc, impl, req.payload ?? EMPTY);
      return;
    }
    const queue = new AsyncQueue<Buffer>(STREAM_HIGH_WATER, (high) => (high ? this.channel.pause() : this.channel.resume()));
    call.queue = queue;
    const clientStreams = desc.methodKind === 'client_streaming' || desc.methodKind === 'bidi_streaming';
    // As containerd/ttrpc: the request payload is the first message unless the client streams and sent none.
    if (req.payload !== undefined || !clientStreams) queue.push(req.payload ?? EMPTY);
    if (!clientStreams || (h.flags & Flag.RemoteClosed) !== 0) queue.end();
    void this.runStreaming(call, ctx, desc, impl, queue);
  }

  private makeContext(call: CallState, req: RequestEnvelope): ServerCallContext {
    const ctx = new CallContext(call, req, this.peer);
    if (req.timeoutNano > 0) {
      const ms = Math.max(0, Math.ceil(req.timeoutNano / 1e6));
      ctx.deadline = Date.now() + ms;
      call.timer = setTimeout(() => {
        call.timer = undefined;
        abortCall(call, new CocoletError(ErrorCode.DeadlineExceeded, 'context deadline exceeded', { context: { rpc: ctx.fullMethod } }));
        this.finish(call, { code: StatusCode.DEADLINE_EXCEEDED, message: 'context deadline exceeded' }, undefined);
      }, ms);
    }
    return ctx;
  }

  // ---- dispatch -------------------------------------------------------------------------------

  private intercept(call: ServerCall, handler: () => Promise<unknown>): Promise<unknown> {
    const chain = this.server.interceptors;
    if (chain.length === 0) return handler();
    const step = (i: number): Promise<unknown> => (i === chain.length ? handler() : chain[i]!(call, () => step(i + 1)));
    return step(0);
  }

  private async runUnary(call: CallState, ctx: ServerCallContext, desc: DescMethod, impl: AnyServerMethodImpl, payload: Buffer): Promise<void> {
    const trace = channels.serverStart.hasSubscribers || channels.serverEnd.hasSubscribers ? startTrace(ctx, desc) : undefined;
    let status: Status | undefined;
    let out: EncodedMessage | undefined;
    try {
      const req = decodeMessage(desc.input, payload);
      const result =
        this.server.interceptors.length === 0
          ? await impl(req, ctx)
          : await this.intercept({ ctx, kind: desc.methodKind, desc, request: req }, async () => impl(req, ctx) as unknown);
      out = encodeMessage(desc.output, result);
    } catch (e) {
      status = this.statusOf(e, ctx);
    }
    if (trace) endTrace(trace, status);
    this.finish(call, status, out);
  }

  private async runStreaming(call: CallState, ctx: ServerCallContext, desc: DescMethod, impl: AnyServerMethodImpl, queue: AsyncQueue<Buffer>): Promise<void> {
    const trace = channels.serverStart.hasSubscribers || channels.serverEnd.hasSubscribers ? startTrace(ctx, desc) : undefined;
    let status: Status | undefined;
    let out: EncodedMessage | undefined;
    const kind = desc.methodKind;
    try {
      const messages = decodeAll(desc.input, queue);
      let request: Message | undefined;
      let arg: unknown = messages;
      if (kind === 'server_streaming') {
        const first = await queue.next();
        request = decodeMessage(desc.input, first.done ? EMPTY : first.value);
        arg = request;
      }
      const run = async (): Promise<unknown> => {
        const result: unknown = impl(arg, ctx);
        if (kind === 'client_streaming') return await (result as Promise<unknown>);
        await this.sendStream(call, desc.output, result as AsyncIterable<unknown>);
        return undefined;
      };
      const callInfo: ServerCall = { ctx, kind, desc };
      if (request) callInfo.request = request;
      const result = await this.intercept(callInfo, run);
      if (kind === 'client_streaming') out = encodeMessage(desc.output, result);
    } catch (e) {
      status = this.statusOf(e, ctx);
    }
    queue.clear();
    if (trace) endTrace(trace, status);
    if (status === undefined && (kind === 'server_streaming' || kind === 'bidi_streaming')) {
      // Successful end of a server stream: an empty Data frame with remote-closed.
      if (!call.done && !this.channel.closed) this.channel.sendRaw(call.id, MessageType.Data, Flag.RemoteClosed | Flag.NoData, undefined);
      this.finish(call, undefined, undefined, true);
      return;
    }
    this.finish(call, status, out);
  }

  private async sendStream(call: CallState, schema: DescMessage, items: AsyncIterable<unknown>): Promise<void> {
    for await (const item of items) {
      if (call.done) throw new CocoletError(ErrorCode.Cancelled, 'stream finished');
      const m = encodeMessage(schema, item);
      this.channel.sendChunks(call.id, MessageType.Data, 0, m.chunks, m.length);
      const ready = this.channel.ready();
      if (ready) await ready;
    }
  }

  private statusOf(e: unknown, ctx: ServerCallContext): Status {
    const code = statusCodeOf(e);
    if (code === StatusCode.UNKNOWN || code === StatusCode.INTERNAL) {
      this.server.logger.debug({ rpc: ctx.fullMethod, err: e }, 'ttrpc handler failed');
    }
    return { code, message: e instanceof Error ? e.message : String(e) };
  }

  // ---- outbound -------------------------------------------------------------------------------

  /** Ends a call: sends its Response (unless `silent`) and releases its state. */
  private finish(call: CallState, status: Status | undefined, payload: EncodedMessage | undefined, silent = false): void {
    if (call.done) return;
    call.done = true;
    if (call.timer) clearTimeout(call.timer);
    call.queue?.clear();
    if (this.calls.get(call.id) === call) this.calls.delete(call.id);
    if (!silent && !this.channel.closed) {
      try {
        this.channel.sendEncoded(call.id, MessageType.Response, 0, encodeResponse(HEADER_LENGTH, status, payload?.chunks));
      } catch (e) {
        // Response too large: answer with the error instead.
        const st = { code: statusCodeOf(e), message: (e as Error).message };
        this.channel.sendEncoded(call.id, MessageType.Response, 0, encodeResponse(HEADER_LENGTH, st, undefined));
      }
    }
    if (status !== undefined) abortCall(call, new CocoletError(ErrorCode.Cancelled, 'call finished'));
    if (this.calls.size === 0) this.server.checkIdle();
  }

  /** Answers a protocol error on a stream id; with `endCall`, also ends the call that has it. */
  private sendStatus(id: number, status: Status, endCall = false): void {
    const call = endCall ? this.calls.get(id) : undefined;
    if (call) {
      abortCall(call, new CocoletError(ErrorCode.Cancelled, status.message));
      this.finish(call, status, undefined);
      return;
    }
    if (this.channel.closed) return;
    this.channel.sendEncoded(id, MessageType.Response, 0, encodeResponse(HEADER_LENGTH, status, undefined));
  }

  private abortAll(reason: Error): void {
    for (const call of [...this.calls.values()]) {
      call.done = true;
      if (call.timer) clearTimeout(call.timer);
      call.queue?.fail(reason);
      abortCall(call, reason);
    }
    this.calls.clear();
  }

  private onClosed(e?: Error): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.abortAll(new CocoletError(ErrorCode.Unavailable, 'ttrpc: connection lost', e ? { cause: e } : {}));
    const cbs = this.closeCallbacks;
    this.closeCallbacks = [];
    for (const cb of cbs) cb();
  }
}

/** Aborts a call's signal, or records why for when the signal is first asked for. */
function abortCall(call: CallState, reason: unknown): void {
  if (call.ac) {
    if (!call.ac.signal.aborted) call.ac.abort(reason);
  } else if (call.abortReason === undefined) call.abortReason = reason;
}

class CallContext implements ServerCallContext {
  readonly service: string;
  readonly method: string;
  readonly fullMethod: string;
  readonly streamId: number;
  deadline?: number;
  private md: Metadata | undefined;

  constructor(
    private readonly call: CallState,
    private readonly req: RequestEnvelope,
    readonly peer: string,
  ) {
    this.service = req.service;
    this.method = req.method;
    this.fullMethod = `/${req.service}/${req.method}`;
    this.streamId = call.id;
  }

  get metadata(): Metadata {
    return (this.md ??= Metadata.fromPairs(this.req.metadata));
  }

  get signal(): AbortSignal {
    const call = this.call;
    if (!call.ac) {
      call.ac = new AbortController();
      if (call.abortReason !== undefined) call.ac.abort(call.abortReason);
    }
    return call.ac.signal;
  }
}

async function* decodeAll(schema: DescMessage, queue: AsyncQueue<Buffer>): AsyncGenerator<Message> {
  for (;;) {
    const r = await queue.next();
    if (r.done) return;
    yield decodeMessage(schema, r.value);
  }
}

function startTrace(ctx: ServerCallContext, desc: DescMethod): CallTrace {
  const t: CallTrace = { service: ctx.service, method: ctx.method, streamId: ctx.streamId, kind: desc.methodKind };
  if (channels.serverStart.hasSubscribers) channels.serverStart.publish(t);
  return t;
}

function endTrace(t: CallTrace, status: Status | undefined): void {
  t.code = status?.code ?? 0;
  if (status) t.error = status.message;
  if (channels.serverEnd.hasSubscribers) channels.serverEnd.publish(t);
}
