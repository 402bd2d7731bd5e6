/**
 * The test service `peers.echo.v1.Echo` shared by the unit tests, the Go peer (e2e/ttrpc/gopeer),
 * the fuzzer and the benchmark. Built from a descriptor in code (well-known wrapper types only),
 * so no generated code is needed:
 *
 *   rpc Echo(BytesValue) returns (BytesValue);            echo
 *   rpc Fail(Empty) returns (Empty);                      plain error → UNKNOWN "deliberate failure"
 *   rpc Status(Int32Value) returns (Empty);               fails with that status code
 *   rpc Sleep(Int64Value) returns (Empty);                waits N ms or until cancelled / deadline
 *   rpc Meta(Empty) returns (StringValue);                the request metadata as "k=v1,v2;k2=v"
 *   rpc Big(Int32Value) returns (BytesValue);             N bytes of 'x'
 *   rpc Count(Int32Value) returns (stream Int32Value);    0..N-1
 *   rpc Sum(stream Int32Value) returns (Int32Value);      sum of the stream
 *   rpc EchoStream(stream BytesValue) returns (stream BytesValue);
 */
import { createFileRegistry } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import {
  BytesValueSchema,
  EmptySchema,
  FileDescriptorProtoSchema,
  Int32ValueSchema,
  Int64ValueSchema,
  StringValueSchema,
  file_google_protobuf_empty,
  file_google_protobuf_wrappers,
} from '@bufbuild/protobuf/wkt';
import { create } from '@bufbuild/protobuf';
import { CocoletError, ErrorCode, errorFromStatus } from '../../errors/index.js';
import type { ServerCallContext, ServiceImpl } from '../types.js';

export const ECHO_SERVICE_NAME = 'peers.echo.v1.Echo';

const W = '.google.protobuf.';
const methods: Array<[string, string, string, boolean, boolean]> = [
  ['Echo', 'BytesValue', 'BytesValue', false, false],
  ['Fail', 'Empty', 'Empty', false, false],
  ['Status', 'Int32Value', 'Empty', false, false],
  ['Sleep', 'Int64Value', 'Empty', false, false],
  ['Meta', 'Empty', 'StringValue', false, false],
  ['Big', 'Int32Value', 'BytesValue', false, false],
  ['Count', 'Int32Value', 'Int32Value', false, true],
  ['Sum', 'Int32Value', 'Int32Value', true, false],
  ['EchoStream', 'BytesValue', 'BytesValue', true, true],
];

const fileProto = create(FileDescriptorProtoSchema, {
  name: 'peers/echo/v1/echo.proto',
  package: 'peers.echo.v1',
  syntax: 'proto3',
  dependency: ['google/protobuf/wrappers.proto', 'google/protobuf/empty.proto'],
  service: [
    {
      name: 'Echo',
      method: methods.map(([name, i, o, cs, ss]) => ({ name, inputType: W + i, outputType: W + o, clientStreaming: cs, serverStreaming: ss })),
    },
  ],
});

const registry = createFileRegistry(fileProto, (name) =>
  name === 'google/protobuf/wrappers.proto' ? file_google_protobuf_wrappers : name === 'google/protobuf/empty.proto' ? file_google_protobuf_empty : undefined,
);


export const EchoService = registry.getService(ECHO_SERVICE_NAME) as unknown as GenService<{
  echo: { methodKind: 'unary'; input: typeof BytesValueSchema; output: typeof BytesValueSchema };
  fail: { methodKind: 'unary'; input: typeof EmptySchema; output: typeof EmptySchema };
  status: { methodKind: 'unary'; input: typeof Int32ValueSchema; output: typeof EmptySchema };
  sleep: { methodKind: 'unary'; input: typeof Int64ValueSchema; output: typeof EmptySchema };
  meta: { methodKind: 'unary'; input: typeof EmptySchema; output: typeof StringValueSchema };
  big: { methodKind: 'unary'; input: typeof Int32ValueSchema; output: typeof BytesValueSchema };
  count: { methodKind: 'server_streaming'; input: typeof Int32ValueSchema; output: typeof Int32ValueSchema };
  sum: { methodKind: 'client_streaming'; input: typeof Int32ValueSchema; output: typeof Int32ValueSchema };
  echoStream: { methodKind: 'bidi_streaming'; input: typeof BytesValueSchema; output: typeof BytesValueSchema };
}>;

/** Formats metadata the way the Go peer does: keys sorted, "k=v1,v2;k2=v". */
export function formatMetadata(md: Record<string, readonly string[]>): string {
  return Object.keys(md)
    .sort()
    .map((k) => `${k}=${md[k]!.join(',')}`)
    .join(';');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The reference implementation of the Echo service (same behaviour as the Go peer). */
export const echoImpl: ServiceImpl<typeof EchoService> = {
  echo: (req) => ({ value: req.value }),
  fail: () => {
    throw new Error('deliberate failure');
  },
  status: (req) => {
    throw errorFromStatus(req.value, 'requested status');
  },
  sleep: async (req, ctx: ServerCallContext) => {
    await sleep(Number(req.value), ctx.signal);
    return {};
  },
  meta: (_req, ctx) => ({ value: formatMetadata(ctx.metadata.toRecord()) }),
  big: (req) => {
    if (req.value < 0) throw new CocoletError(ErrorCode.InvalidArgument, 'negative size');
    return { value: Buffer.alloc(req.value, 0x78) };
  },
  count: async function* (req) {
    for (let i = 0; i < req.value; i++) yield { value: i };
  },
  sum: async (reqs) => {
    let total = 0;
    for await (const r of reqs) total += r.value;
    return { value: total };
  },
  echoStream: async function* (reqs) {
    for await (const r of reqs) yield { value: r.value };
  },
};
