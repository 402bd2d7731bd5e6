/**
 * ttrpc for cocolet: a client and server of containerd's ttrpc protocol (unary and streaming
 * calls over one byte stream), interoperable with containerd/ttrpc (Go) and ttrpc-rust.
 * See README.md in this folder.
 */
export { TtrpcServer, type TtrpcServerOptions, type RegisterOptions, type ShutdownOptions, type ConnectionInput } from './server.js';
export type { ServerConnection } from './server-connection.js';
export { TtrpcClient, type TtrpcClientOptions, type ConnectOptions, type RawClientStream } from './client.js';
export { createClient, type CreateClientOptions } from './typed.js';
export { Metadata, type MetadataInit } from './metadata.js';
export { DuplexTransport, StreamPairTransport, type Transport, type TransportSink } from './transport.js';
export { fdTransport, type FdTransportOptions } from './fd-transport.js';
export { observeServerCalls, observeClientCalls, type CallObservation } from './interceptors.js';
export { channels as diagnosticsChannels, type CallTrace } from './diagnostics.js';
export { Flag, MessageType, HEADER_LENGTH, MAX_MESSAGE_LENGTH, FrameDecoder, encodeFrame, type FrameHeader } from './frame.js';
export type {
  ServerCallContext,
  ServiceImpl,
  ServerMethodImpl,
  CallOptions,
  TypedClient,
  ClientMethod,
  ServerCall,
  ServerInterceptor,
  ClientCall,
  ClientInterceptor,
  MethodKind,
} from './types.js';
