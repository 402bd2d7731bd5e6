/**
 * A typed grpc-js client built from a protobuf-es `GenService` descriptor (no proto-loader):
 * one generated type set serves both the messages and the method paths.
 *
 * API: `new ServiceClient(service, client)`; `unary(method, request, { timeoutMs, signal, context })`
 * resolves with the response message or rejects with a CocoletError mapped from the gRPC status
 * (`errorFromStatus`), carrying the rpc name and the caller's context (pod, container …);
 * `serverStream(method, request, { signal })` yields responses as an async iterable.
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { DescMethod } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { CocoletError, ErrorCode, type ErrorContext } from '../../shared/errors/errors.js';
import { errorFromStatus } from '../../shared/errors/status.js';

export interface CallOptions {
  /** Deadline relative to now. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Identifiers (pod, container, sandbox) added to errors. */
  context?: ErrorContext;
}

/** Opens a grpc-js channel to a unix socket path (or any grpc target). */
export function connectChannel(endpoint: string): grpc.Client {
  const target = endpoint.startsWith('unix:') || endpoint.includes('://') ? endpoint : `unix://${endpoint}`;
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
  });
}

function pathOf(m: DescMethod): string {
  return `/${m.parent.typeName}/${m.name}`;
}

function serializer<D extends DescMessage>(schema: D): (v: MessageShape<D>) => Buffer {
  return (v) => Buffer.from(toBinary(schema, v));
}

function deserializer<D extends DescMessage>(schema: D): (b: Buffer) => MessageShape<D> {
  return (b) => fromBinary(schema, b);
}

function toError(err: grpc.ServiceError, rpc: string, ctx: ErrorContext | undefined): CocoletError {
  const e = errorFromStatus(err.code, err.details || err.message);
  return e.withContext({ ...ctx, rpc });
}

export class ServiceClient<M extends GenServiceMethods> {
  constructor(
    readonly service: GenService<M>,
    readonly client: grpc.Client,
  ) {}

  unary<K extends keyof M & string>(
    method: K,
    request: MessageInitShape<M[K]['input']>,
    opts: CallOptions = {},
  ): Promise<MessageShape<M[K]['output']>> {
    const desc = this.service.method[method] as DescMethod;
    const input = desc.input as M[K]['input'];
    const output = desc.output as M[K]['output'];
    const rpc = desc.name;
    const msg = create(input, request);
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new CocoletError(ErrorCode.Cancelled, 'call cancelled before it started', { context: { ...opts.context, rpc } }));
        return;
      }
      const callOpts: grpc.CallOptions = {};
      if (opts.timeoutMs !== undefined) callOpts.deadline = new Date(Date.now() + opts.timeoutMs);
      const call = this.client.makeUnaryRequest(
        pathOf(desc),
        serializer(input),
        deserializer(output),
        msg,
        new grpc.Metadata(),
        callOpts,
        (err, res) => {
          opts.signal?.removeEventListener('abort', onAbort);
          if (err) reject(toError(err, rpc, opts.context));
          else if (res === undefined) reject(new CocoletError(ErrorCode.Internal, 'empty response', { context: { ...opts.context, rpc } }));
          else resolve(res);
        },
      );
      const onAbort = (): void => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  serverStream<K extends keyof M & string>(
    method: K,
    request: MessageInitShape<M[K]['input']>,
    opts: CallOptions = {},
  ): AsyncIterable<MessageShape<M[K]['output']>> & { cancel(): void } {
    const desc = this.service.method[method] as DescMethod;
    const input = desc.input as M[K]['input'];
    const output = desc.output as M[K]['output'];
    const rpc = desc.name;
    const callOpts: grpc.CallOptions = {};
    if (opts.timeoutMs !== undefined) callOpts.deadline = new Date(Date.now() + opts.timeoutMs);
    const call = this.client.makeServerStreamRequest(
      pathOf(desc),
      serializer(input),
      deserializer(output),
      create(input, request),
      new grpc.Metadata(),
      callOpts,
    );
    opts.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    const iterable = {
      cancel: () => call.cancel(),
      async *[Symbol.asyncIterator](): AsyncGenerator<MessageShape<M[K]['output']>> {
        try {
          for await (const item of call as AsyncIterable<MessageShape<M[K]['output']>>) yield item;
        } catch (e) {
          const se = e as grpc.ServiceError;
          if (typeof se.code === 'number') throw toError(se, rpc, opts.context);
          throw e;
        }
      },
    };
    return iterable;
  }

  close(): void {
    this.client.close();
  }
}
