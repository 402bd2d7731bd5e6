/**
 * ttrpc server: serves registered services over any number of connections (unix sockets it
 * listens on, or byte streams handed to `serveConnection`).
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { close as closeFd, unlinkSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode, StatusCode } from '../errors/index.js';
import { silentLogger } from '../log/logger.js';
import { ServerConnection, type RegisteredMethod } from './server-connection.js';
import { DuplexTransport, isTransport, type Transport } from './transport.js';
import { fdTransport, type FdTransportOptions } from './fd-transport.js';
import type { AnyServerMethodImpl, ServerInterceptor, ServiceImpl } from './types.js';
import { MAX_MESSAGE_LENGTH } from './frame.js';

export interface TtrpcServerOptions {
  logger?: Logger;
  interceptors?: readonly ServerInterceptor[];
  /** Largest inbound/outbound frame data length (default 4 MiB). */
  maxMessageSize?: number;
  /** Coalesce frames written in one event-loop turn (default true). */
  /** See ChannelOptions.coalesce (default true). */
  coalesceWrites?: boolean;
}

export interface RegisterOptions {
  /** Wire service name to use instead of the descriptor's (e.g. containerd.task.v3.Task). */
  name?: string;
}

export interface ShutdownOptions {
  /** How long in-flight calls may take to finish before connections are closed (default 5000). */
  graceMs?: number;
}

export type ConnectionInput = Duplex | Transport | FdTransportOptions;

export class TtrpcServer {
  readonly logger: Logger;
  readonly interceptors: readonly ServerInterceptor[];
  readonly maxMessageSize: number;
  readonly coalesceWrites: boolean;
  private readonly services = new Map<string, Map<string, RegisteredMethod>>();
  private readonly connections = new Set<ServerConnection>();
  private readonly listeners: Array<{ server: NetServer; path: string | undefined }> = [];
  private shuttingDown = false;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: TtrpcServerOptions = {}) {
    this.logger = opts.logger ?? silentLogger();
    this.interceptors = opts.interceptors ?? [];
    this.maxMessageSize = opts.maxMessageSize ?? MAX_MESSAGE_LENGTH;
    this.coalesceWrites = opts.coalesceWrites ?? true;
  }

  /** Registers an implementation of a generated service. Methods left out answer UNIMPLEMENTED. */
  register<S extends DescService>(service: S, impl: ServiceImpl<S>, opts: RegisterOptions = {}): this {
    const name = opts.name ?? service.typeName;
    const methods = this.services.get(name) ?? new Map<string, RegisteredMethod>();
    const table = impl as Record<string, AnyServerMethodImpl | undefined>;
    for (const m of service.methods) {
      const fn = table[m.localName] ?? table[m.name];
      if (typeof fn === 'function') methods.set(m.name, { desc: m, impl: fn.bind(impl) as AnyServerMethodImpl });
      else methods.set(m.name, { desc: m, impl: undefined });
    }
    this.services.set(name, methods);
    return this;
  }

  /** Looks up a method (used by connections). */
  lookup(service: string, method: string): { service?: Map<string, RegisteredMethod>; method?: RegisteredMethod } {
    const s = this.services.get(service);
    return s ? { service: s, method: s.get(method) } : {};
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Number of calls being handled across all connections. */
  get activeCalls(): number {
    let n = 0;
    for (const c of this.connections) n += c.activeCalls;
    return n;
  }

  /** Serves one byte stream: a socket or other Duplex, a Transport, or a pair of fds. */
  serveConnection(input: ConnectionInput, description?: string, sessionsRestart = false): ServerConnection {
    if (this.shuttingDown) throw new CocoletError(ErrorCode.Unavailable, 'ttrpc: server is shutting down');
    let transport: Transport;
    if (isTransport(input)) transport = input;
    else if ('readFd' in input && typeof input.readFd === 'number') transport = fdTransport(input);
    else transport = new DuplexTransport(input as Duplex, description ?? 'stream');
    const conn = new ServerConnection(this, transport, sessionsRestart);
    this.connections.add(conn);
    conn.onClose(() => {
      this.connections.delete(conn);
      this.checkIdle();
    });
    return conn;
  }

  /**
   * Serves a character device (e.g. the guest's virtio-serial port) session after session: each
   * host session is one connection (stream ids restart with a new host client; a request on
   * stream 1 starts a new session even when no EOF was seen in between); EOF while no host
   * is connected is polled every `eofRetryMs` (default 20). Runs until shutdown; the fds are
   * closed then.
   */
  serveFd(opts: Omit<FdTransportOptions, 'closeFds'>): void {
    const retry = opts.eofRetryMs ?? 20;
    const next = (): void => {
      if (this.shuttingDown) {
        closeFd(opts.readFd, () => undefined);
        if (opts.writeFd !== undefined && opts.writeFd !== opts.readFd) closeFd(opts.writeFd, () => undefined);
        return;
      }
      const conn = this.serveConnection(fdTransport({ ...opts, eofRetryMs: retry, closeFds: false }), undefined, true);
      conn.onClose(() => setImmediate(next));
    };
    next();
  }

  /**
   * Listens on a unix socket path (a stale socket file is replaced) or a TCP address; resolves
   * with the bound address (the path, or `host:port` with the actual port for port 0).
   */
  async listen(target: string | { host?: string; port: number }): Promise<string> {
    if (this.shuttingDown) throw new CocoletError(ErrorCode.Unavailable, 'ttrpc: server is shutting down');
    const path = typeof target === 'string' ? target : undefined;
    if (path !== undefined) {
      try {
        unlinkSync(path);
      } catch {
        // not there
      }
    }
    let where = path ?? '';
    const server = createServer((socket: Socket) => {
      if (this.shuttingDown) {
        socket.destroy();
        return;
      }
      if (path === undefined) socket.setNoDelay(true);
      this.serveConnection(socket, where);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (path !== undefined) server.listen(path, done);
      else server.listen((target as { port: number }).port, (target as { host?: string }).host ?? '127.0.0.1', done);
    });
    if (path === undefined) {
      const a = server.address();
      where = a && typeof a === 'object' ? `${a.address}:${a.port}` : String(a);
    }
    server.on('error', (e) => this.logger.warn({ err: e }, 'ttrpc listener error'));
    this.listeners.push({ server, path });
    return where;
  }

  /** Called by connections when their active call count changes. */
  checkIdle(): void {
    if (this.activeCalls > 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  /**
   * Stops accepting connections and calls (new calls get UNAVAILABLE), lets in-flight calls
   * finish for up to `graceMs`, then closes every connection (aborting what is left).
   */
  async shutdown(opts: ShutdownOptions = {}): Promise<void> {
    const graceMs = opts.graceMs ?? 5000;
    this.shuttingDown = true;
    // net.Server#close only calls back once every connection is gone: do not wait for it here.
    for (const { server, path } of this.listeners.splice(0)) {
      server.close();
      if (path === undefined) continue;
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    }
    if (this.activeCalls > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    for (const c of [...this.connections]) c.close(new CocoletError(ErrorCode.Unavailable, 'ttrpc: server shut down'));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown({ graceMs: 0 });
  }

  /** Status for a request the server refuses because it is shutting down. */
  static readonly shuttingDownStatus = { code: StatusCode.UNAVAILABLE, message: 'ttrpc: server is shutting down' };
}

export type { DescMethod };
