/**
 * One swtpm (TPM 2.0 emulator) per VM: its state folder and control socket live in the VM's
 * state folder; QEMU attaches through `-tpmdev emulator`. swtpm exits when QEMU disconnects
 * (`--terminate`); stop() also ends it explicitly.
 *
 * `$COCOLET_SWTPM_STATE_TEMPLATE` (a swtpm state folder) gives every VM's vTPM the same
 * manufactured identity (endorsement seed, so the same attestation key), copied in before swtpm
 * starts: the development TEE's AK can then be pinned on the key broker in advance
 * (`cocolet-kbs serve --tpm-ak-pin`) instead of trusted on first use. Without it each VM's vTPM is
 * manufactured fresh (a new, unknown AK).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { delay } from '../../shared/lifecycle/disposables.js';

export interface Swtpm {
  pid: number;
  ctrlSocket: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

export async function startSwtpm(stateDir: string, binary = 'swtpm'): Promise<Swtpm> {
  const dir = join(stateDir, 'tpm');
  mkdirSync(dir, { recursive: true });
  const template = process.env.COCOLET_SWTPM_STATE_TEMPLATE;
  if (template && readdirSync(dir).length === 0) {
    if (!existsSync(join(template, 'tpm2-00.permall'))) throw new CocoletError(ErrorCode.ConfigInvalid, `COCOLET_SWTPM_STATE_TEMPLATE ${template} holds no swtpm state (tpm2-00.permall)`);
    cpSync(template, dir, { recursive: true, filter: (src) => !src.endsWith('.log') && !src.endsWith('.lock') });
  }
  const ctrlSocket = join(stateDir, 'swtpm.sock');
  const child = spawn(binary, [
    'socket', '--tpm2', '--tpmstate', `dir=${dir}`,
    '--ctrl', `type=unixio,path=${ctrlSocket}`,
    '--log', `level=1,file=${join(dir, 'swtpm.log')}`,
    '--terminate',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = exitOf(child);
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async (): Promise<void> => {
    if (!gone && child.pid) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 2000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!existsSync(ctrlSocket)) {
    if (gone || Date.now() > deadline) {
      await stop();
      throw new CocoletError(ErrorCode.VmFailed, `swtpm did not start: ${stderr.trim().slice(-500) || 'no control socket'}`);
    }
    await delay(10);
  }
  return { pid: child.pid ?? -1, ctrlSocket, stop };
}
