/**
 * Test helper: a real swtpm in socket mode (data channel on a unix socket, TPM2_Startup done by
 * swtpm itself) owned by a Harness, and the SocketTransport to it. Used by the attester's unit
 * tests and the data hub's end-to-end tests; not part of the agent.
 */
import { join } from 'node:path';
import { have, socketAnswers, waitFor, type Harness } from '../../../shared/testing/harness.js';
import { SocketTransport } from './transport.js';

export interface TestSwtpm {
  /** The TPM state folder (keeps the seeds: same folder, same AK). */
  stateDir: string;
  dataSocket: string;
  connect(): Promise<SocketTransport>;
  stop(): Promise<void>;
}

export function haveSwtpm(): boolean {
  return have('swtpm');
}

/** Starts swtpm on `stateDir` (created by the caller, or a fresh one from the harness). */
export async function startTestSwtpm(h: Harness, stateDir = h.tempDir('cocolet-swtpm-')): Promise<TestSwtpm> {
  const dataSocket = join(stateDir, 'data.sock');
  const p = h.start('swtpm', [
    'socket', '--tpm2', '--tpmstate', `dir=${stateDir}`,
    '--server', `type=unixio,path=${dataSocket}`,
    '--ctrl', `type=unixio,path=${join(stateDir, 'ctrl.sock')}`,
    '--flags', 'not-need-init,startup-clear',
  ]);
  await waitFor(() => socketAnswers(dataSocket), { what: 'swtpm data socket', timeoutMs: 15_000 });
  // socketAnswers opened and closed one connection; swtpm serves one client at a time and
  // accepts the next once it has seen the close.
  return { stateDir, dataSocket, connect: () => waitFor(() => SocketTransport.connect({ path: dataSocket }), { what: 'swtpm connection' }), stop: () => p.stop() };
}
