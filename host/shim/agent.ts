/**
 * The agent client the shim uses: the generated `grpc.AgentService` client over cocolet ttrpc,
 * dialled (with retries until the VM's agent answers) on the socket the hypervisor gave.
 */
import { TtrpcClient, createClient, type TypedClient } from '../../shared/ttrpc/index.js';
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
      const conn = await TtrpcClient.connect(path, { timeoutMs: Math.max(100, Math.min(2000, deadline - Date.now())) });
      return { conn, api: createClient(AgentService, conn) };
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) break;
    await delay(Math.min(200, 10 * (i + 1)));
  }
  throw new CocoletError(ErrorCode.DeadlineExceeded, `agent did not answer within ${opts.timeoutMs} ms`, { cause: last });
}
