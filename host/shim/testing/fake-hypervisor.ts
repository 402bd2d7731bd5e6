/**
 * The `fake` hypervisor: starts the fake agent (or `command`) as a local process in its own
 * process group, listening on `<workDir>/agent.sock`. Tests only; not a VM, not confidential.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hypervisor, VmHandle, VmStartRequest } from '../hypervisor.js';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';

export const FAKE_AGENT_MAIN = fileURLToPath(new URL('./fake-agent-main.js', import.meta.url));

export class FakeAgentHypervisor implements Hypervisor {
  readonly kind = 'fake';
  constructor(private readonly opts: { command?: string[] } = {}) {}

  async start(req: VmStartRequest): Promise<VmHandle> {
    const sock = join(req.workDir, 'agent.sock');
    const log = join(req.workDir, 'console.log');
    const cmd = this.opts.command?.length ? this.opts.command : [process.execPath, FAKE_AGENT_MAIN];
    const fd = openSync(log, 'a', 0o600);
    const child = spawn(cmd[0]!, [...cmd.slice(1), '--socket', sock], { detached: true, stdio: ['ignore', fd, fd], cwd: req.workDir });
    closeSync(fd);
    const pid = child.pid;
    if (pid === undefined) throw new CocoletError(ErrorCode.VmFailed, 'fake agent did not start');
    let done = false;
    const exited = new Promise<void>((r) => child.once('exit', () => ((done = true), r())));
    child.unref();
    return {
      pid,
      pgid: pid,
      agentSocketPath: sock,
      consoleLogPath: log,
      confidential: false,
      tee: 'none',
      exited,
      stop: async () => {
        if (!done) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        await exited;
      },
    };
  }
}
