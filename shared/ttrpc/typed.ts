/**
 * Typed clients from generated service descriptors: `createClient(Service, ttrpcClient)` gives one
 * async method per RPC (by local name) that encodes requests, decodes responses and runs the
 * client's interceptors.
 */
import { create, isMessage, type DescMessage, type DescMethod, type DescService, type Message } from '@bufbuild/protobuf';
import { decodeMessage, encodeMessage } from './codec.js';
import type { Payload } from './envelope.js';
import { CocoletError, ErrorCode } from '../errors/index.js';
import type { TtrpcClient, RawClientStream } from './client.js';
import { channels, type CallTrace } from './diagnostics.js';
import { Metadata } from './metadata.js';
import type { CallOptions, ClientCall, TypedClient } from './types.js';
import { statusCodeOf } from '../errors/index.js';

export interface CreateClientOptions {
  /** Wire service name to use instead of the descriptor's (e.g. containerd.task.v3.Task). */
  name?: string;
}

export function createClient<S extends DescService>(service: S, client: TtrpcClient, opts: CreateClientOptions = {}): TypedClient<S> {
  const name = opts.name ?? service.typeName;
  const out: Record<string, unknown> = {};
  for (const m of service.methods) {
    switch (m.methodKind) {
      case 'unary':
        out[m.localName] = (req: unknown, o?: CallOptions) => unaryCall(client, name, m, req, o ?? {});
        break;
      case 'server_streaming':
        out[m.localName] = (req: unknown, o?: CallOptions) => serverStream(client, name, m, req, o ?? {});
        break;
      case 'client_streaming':
        out[m.localName] = (reqs: AsyncIterable<unknown> | Iterable<unknown>, o?: CallOptions) => clientStream(client, name, m, reqs, o ?? {});
        break;
      case 'bidi_streaming':
        out[m.localName] = (reqs: AsyncIterable<unknown> | Iterable<unknown>, o?: CallOptions) => bidiStream(client, name, m, reqs, o ?? {});
        break;
    }
  }
  return out as TypedClient<S>;
}

function toMessage(schema: DescMessage, value: unknown): Message {
  return isMessage(value, schema) ? value : create(schema, value as never);
}

function encode(schema: DescMessage, value: unknown): Payload {
  return encodeMessage(schema, value ?? {}).chunks;
}

function decode(schema: DescMessage, bytes: Uint8Array, rpc: string): Message {
  return decodeMessage(schema, bytes, { rpc });
}

/** Runs the interceptor chain around `run`; call.metadata/timeoutMs may be changed by them. */
function intercept(client: TtrpcClient, call: ClientCall, run: () => Promise<unknown>): Promise<unknown> {
  const chain = client.interceptors;
  const step = (i: number): Promise<unknown> => (i === chain.length ? run() : chain[i]!(call, () => step(i + 1)));
  return step(0);
}

function makeCall(service: string, m: DescMethod, o: CallOptions, request?: Message): ClientCall {
  const call: ClientCall = { service, method: m.name, kind: m.methodKind, desc: m, metadata: new Metadata(o.metadata) };
  if (request) call.request = request;
  if (o.timeoutMs !== undefined) call.timeoutMs = o.timeoutMs;
  return call;
}

function callOptions(o: CallOptions, call: ClientCall): CallOptions {
  const r: CallOptions = { metadata: call.metadata };
  if (o.signal) r.signal = o.signal;
  if (call.timeoutMs !== undefined) r.timeoutMs = call.timeoutMs;
  return r;
}

function traced<T>(service: string, m: DescMethod, p: Promise<T>): Promise<T> {
  if (!channels.clientStart.hasSubscribers && !channels.clientEnd.hasSubscribers) return p;
  const t: CallTrace = { service, method: m.name, streamId: 0, kind: m.methodKind };
  channels.clientStart.publish(t);
  return p.then(
    (v) => {
      t.code = 0;
      channels.clientEnd.publish(t);
      return v;
    },
    (e: unknown) => {
      t.code = statusCodeOf(e);
      t.error = e instanceof Error ? e.message : String(e);
      channels.clientEnd.publish(t);
      throw e;
    },
  );
}

async function unaryCall(client: TtrpcClient, service: string, m: DescMethod, req: unknown, o: CallOptions): Promise<Message> {
  const rpc = `/${service}/${m.name}`;
  if (client.interceptors.length === 0) {
    const bytes = await traced(service, m, client.unary(service, m.name, encode(m.input, req), o));
    return decode(m.output, bytes, rpc);
  }
  const request = toMessage(m.input, req);
  const call = makeCall(service, m, o, request);
  return (await traced(
    service,
    m,
    intercept(client, call, async () => decode(m.output, await client.unary(service, m.name, encode(m.input, request), callOptions(o, call)), rpc)),
  )) as Message;
}

async function open(client: TtrpcClient, service: string, m: DescMethod, o: CallOptions, payload: Payload | undefined, clientStreams: boolean, request?: Message): Promise<RawClientStream> {
  if (client.interceptors.length === 0) return client.stream(service, m.name, payload, clientStreams, o);
  const call = makeCall(service, m, o, request);
  let s: RawClientStream | undefined;
  await intercept(client, call, () => {
    s = client.stream(service, m.name, payload, clientStreams, callOptions(o, call));
    return Promise.resolve(s);
  });
  if (!s) throw new CocoletError(ErrorCode.Internal, 'ttrpc: interceptor did not open the stream');
  return s;
}

async function* serverStream(client: TtrpcClient, service: string, m: DescMethod, req: unknown, o: CallOptions): AsyncGenerator<Message> {
  const rpc = `/${service}/${m.name}`;
  const request = toMessage(m.input, req);
  const s = await open(client, service, m, o, encode(m.input, request), false, request);
  let finished = false;
  try {
    for await (const b of s.messages) yield decode(m.output, b, rpc);
    await s.result;
    finished = true;
  } finally {
    if (!finished) s.cancel();
  }
}

async function pump(s: RawClientStream, schema: DescMessage, reqs: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> {
  try {
    for await (const r of reqs) await s.send(encode(schema, r));
    s.closeSend();
  } catch (e) {
    s.cancel(e instanceof CocoletError ? e : new CocoletError(ErrorCode.Cancelled, `ttrpc: request stream failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
  }
}

async function clientStream(client: TtrpcClient, service: string, m: DescMethod, reqs: AsyncIterable<unknown> | Iterable<unknown>, o: CallOptions): Promise<Message> {
  const rpc = `/${service}/${m.name}`;
  const s = await open(client, service, m, o, undefined, true);
  void pump(s, m.input, reqs);
  const bytes = await traced(service, m, s.result);
  return decode(m.output, bytes, rpc);
}

async function* bidiStream(client: TtrpcClient, service: string, m: DescMethod, reqs: AsyncIterable<unknown> | Iterable<unknown>, o: CallOptions): AsyncGenerator<Message> {
  const rpc = `/${service}/${m.name}`;
  const s = await open(client, service, m, o, undefined, true);
  void pump(s, m.input, reqs);
  let finished = false;
  try {
    for await (const b of s.messages) yield decode(m.output, b, rpc);
    await s.result;
    finished = true;
  } finally {
    if (!finished) s.cancel();
  }
}
