/**
 * Connects to a sandbox's agent and waits until it serves: the VMM's socket exists as soon as
 * QEMU runs, but the guest agent answers only seconds later (bytes sent before that are queued).
 * Health.Check is retried with short per-call deadlines until SERVING, the overall deadline
 * passes, or the VM exits.
 */
import { Health, HealthCheckResponse_ServingStatus } from '../../shared/gen/kata/health_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import { TtrpcClient, createClient } from '../../shared/ttrpc/index.js';
import type { VmHandle } from './hypervisor.js';

export interface ConnectAgentOptions {
  /** Overall deadline (default 120 s: a TCG boot takes 3–5 s, a loaded machine much more). */
  timeoutMs?: number;
  /** Deadline of each health probe (default 250 ms). */
  probeMs?: number;
  signal?: AbortSignal;
}

export async function connectAgent(vm: Pick<VmHandle, 'id' | 'agentSocketPath' | 'exited'>, opts: ConnectAgentOptions = {}): Promise<TtrpcClient> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let exited = false;
  void vm.exited.then(() => (exited = true));
  const fail = (why: string): CocoletError => new CocoletError(ErrorCode.Unavailable, `agent of sandbox ${vm.id} not reachable: ${why}`, { context: { sandbox: vm.id } });
  let conn: TtrpcClient | undefined;
  for (let attempt = 0; ; attempt++) {
    if (exited) throw fail('the VM exited');
    if (opts.signal?.aborted) throw new CocoletError(ErrorCode.Cancelled, 'connect cancelled', { context: { sandbox: vm.id } });
    if (Date.now() > deadline) {
      conn?.close();
      throw new CocoletError(ErrorCode.DeadlineExceeded, `agent of sandbox ${vm.id} did not become ready`, { context: { sandbox: vm.id } });
    }
    if (!conn || conn.isClosed) conn = await TtrpcClient.connect(vm.agentSocketPath).catch(() => undefined);
    if (conn) {
      const ok = await createClient(Health, conn)
        .check({ service: '' }, { timeoutMs: opts.probeMs ?? 250 })
        .then((r) => r.status === HealthCheckResponse_ServingStatus.SERVING, () => false);
      if (ok) return conn;
    }
    await delay(Math.min(10 + attempt * 5, 100));
  }
}
