/**
 * Public types of the ttrpc API: call contexts, handler shapes derived from generated service
 * descriptors, call options and interceptors.
 */
import type { DescMethod, DescService, Message, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { Metadata, MetadataInit } from './metadata.js';

export type MethodKind = DescMethod['methodKind'];

/** What a server handler knows about its call. */
export interface ServerCallContext {
  /** Wire service name (e.g. containerd.task.v2.Task). */
  service: string;
  /** Bare method name (e.g. Create). */
  method: string;
  /** `/service/method`. */
  fullMethod: string;
  metadata: Metadata;
  /** Aborted when the deadline passes, the connection is lost or the server shuts down. */
  signal: AbortSignal;
  /** Absolute deadline (ms since epoch) when the client sent `timeout_nano`. */
  deadline?: number;
  streamId: number;
  /** Description of the connection (e.g. the socket path). */
  peer: string;
}

type Method = GenServiceMethods[string];
type In<M extends Method> = MessageShape<M['input']>;
type OutInit<M extends Method> = MessageInitShape<M['output']>;
type Out<M extends Method> = MessageShape<M['output']>;
type InInit<M extends Method> = MessageInitShape<M['input']>;

type Awaitable<T> = T | Promise<T>;

export type ServerMethodImpl<M extends Method> = M['methodKind'] extends 'unary'
  ? (req: In<M>, ctx: ServerCallContext) => Awaitable<OutInit<M>>
  : M['methodKind'] extends 'server_streaming'
    ? (req: In<M>, ctx: ServerCallContext) => AsyncIterable<OutInit<M>>
    : M['methodKind'] extends 'client_streaming'
      ? (reqs: AsyncIterable<In<M>>, ctx: ServerCallContext) => Awaitable<OutInit<M>>
      : (reqs: AsyncIterable<In<M>>, ctx: ServerCallContext) => AsyncIterable<OutInit<M>>;

/** An implementation of a generated service: one optional method per RPC (by local name). */
export type ServiceImpl<S extends DescService> =
  S extends GenService<infer R> ? { [K in keyof R]?: ServerMethodImpl<R[K]> } : Record<string, AnyServerMethodImpl>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyServerMethodImpl = (req: any, ctx: ServerCallContext) => any;

export interface CallOptions {
  signal?: AbortSignal;
  /** Sent as `timeout_nano` and enforced locally. */
  timeoutMs?: number;
  metadata?: MetadataInit;
}

export type ClientMethod<M extends Method> = M['methodKind'] extends 'unary'
  ? (req: InInit<M>, opts?: CallOptions) => Promise<Out<M>>
  : M['methodKind'] extends 'server_streaming'
    ? (req: InInit<M>, opts?: CallOptions) => AsyncIterable<Out<M>>
    : M['methodKind'] extends 'client_streaming'
      ? (reqs: AsyncIterable<InInit<M>> | Iterable<InInit<M>>, opts?: CallOptions) => Promise<Out<M>>
      : (reqs: AsyncIterable<InInit<M>> | Iterable<InInit<M>>, opts?: CallOptions) => AsyncIterable<Out<M>>;

/** Typed client for a generated service: one method per RPC (by local name). */
export type TypedClient<S extends DescService> =
  S extends GenService<infer R> ? { [K in keyof R]: ClientMethod<R[K]> } : Record<string, (...args: unknown[]) => unknown>;

/** What an interceptor sees of a server call. */
export interface ServerCall {
  ctx: ServerCallContext;
  kind: MethodKind;
  desc: DescMethod;
  /** The decoded request for unary and server-streaming calls. */
  request?: Message;
}

/**
 * Wraps the handling of every server call (tracing, policy gates, metrics). `next()` runs the
 * rest of the chain and the handler; for unary and client-streaming calls it resolves with the
 * response message, for server-streaming and bidi calls when the stream has been fully sent.
 * Throwing rejects the call with the status of the thrown error.
 */
export type ServerInterceptor = (call: ServerCall, next: () => Promise<unknown>) => Promise<unknown>;

/** What an interceptor sees of a client call (metadata may be changed). */
export interface ClientCall {
  service: string;
  method: string;
  kind: MethodKind;
  desc?: DescMethod;
  /** The request message for unary and server-streaming calls. */
  request?: Message;
  metadata: Metadata;
  timeoutMs?: number;
}

/**
 * Wraps every client call made through `createClient`. For unary calls `next()` resolves with
 * the response; for streaming calls it resolves once the stream is open.
 */
export type ClientInterceptor = (call: ClientCall, next: () => Promise<unknown>) => Promise<unknown>;
