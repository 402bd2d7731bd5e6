/**
 * The agent client the shim uses: the generated `grpc.AgentService` client over cocolet ttrpc,
 * dialled (with retries until the VM's agent answers) on the socket the hypervisor gave.
 */
import { appendFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { DuplexTransport, TtrpcClient, createClient, type Transport, type TypedClient } from '../../shared/ttrpc/index.js';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { delay } from '../../shared/lifecycle/disposables.js';

export type AgentApi = TypedClient<typeof AgentService>;

export interface AgentConnection {
  api: AgentApi;
  conn: TtrpcClient;
}

/** Dials until the agent answers or `timeoutMs` passes (the VM may still be booting), or `until` settles. */
export async function dialAgent(path: string, opts: { timeoutMs: number; until?: Promise<unknown> }): Promise<AgentConnection> {
  const deadline = Date.now() + opts.timeoutMs;
  let gone = false;
  let detail: string | undefined;
  void opts.until?.then((v) => {
    gone = true;
    detail = (v as { detail?: unknown } | undefined)?.detail as string | undefined;
  });
  let last: unknown;
  for (let i = 0; i < 100_000; i++) {
    if (gone) throw new CocoletError(ErrorCode.VmFailed, `the VM exited before its agent answered${detail ? `: ${detail}` : ''}`, { cause: last });
    try {
      const timeoutMs = Math.max(100, Math.min(2000, deadline - Date.now()));
      const tap = process.env.COCOLET_SHIM_AGENT_TAP;
      const conn = tap ? await connectTapped(path, timeoutMs, tap) : await TtrpcClient.connect(path, { timeoutMs });
      return { conn, api: createClient(AgentService, conn) };
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) break;
    await delay(Math.min(200, 10 * (i + 1)));
  }
  throw new CocoletError(ErrorCode.DeadlineExceeded, `agent did not answer within ${opts.timeoutMs} ms`, { cause: last });
}

/**
 * Test/debug only (`COCOLET_SHIM_AGENT_TAP=<dir>`): the agent connection with every byte the shim
 * sends and receives appended to `<dir>/<pid>.sent` and `<dir>/<pid>.received`, exactly as on the
 * wire: what the host sees of the ttrpc stream (the secrets e2e searches it).
 */
async function connectTapped(path: string, timeoutMs: number, dir: string): Promise<TtrpcClient> {
  const sock = netConnect(path);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => (sock.destroy(), reject(new CocoletError(ErrorCode.DeadlineExceeded, 'ttrpc: connect timed out', { context: { socket: path } }))), timeoutMs);
    sock.once('connect', () => (clearTimeout(t), resolve()));
    sock.once('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), reject(new CocoletError(ErrorCode.Unavailable, `ttrpc: connect failed: ${e.code ?? e.message}`, { cause: e, context: { socket: path } }))));
  });
  const inner = new DuplexTransport(sock, `${path} (tapped)`);
  const sent = join(dir, `${process.pid}.sent`);
  const received = join(dir, `${process.pid}.received`);
  const tapped: Transport = {
    description: inner.description,
    start: (sink) => inner.start({ data: (c) => (appendFileSync(received, c), sink.data(c)), end: (e) => sink.end(e), drain: () => sink.drain() }),
    write: (chunks, bytes) => {
      for (const c of chunks) appendFileSync(sent, c);
      return inner.write(chunks, bytes);
    },
    pause: () => inner.pause(),
    resume: () => inner.resume(),
    close: () => inner.close(),
  };
  return new TtrpcClient(tapped);
}
