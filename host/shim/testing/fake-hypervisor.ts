/**
 * The `fake` hypervisor: starts the fake agent (or `agent.command`) as a local process in its own
 * process group, listening on `<stateDir>/agent.sock`. Tests only; not a VM, not confidential.
 * A shim configuration brings it in as `kind = "fake"` with `module` = this file (compiled):
 * its default export is the registration.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hypervisor, VmHandle, VmLauncher, VmStartRequest } from '../hypervisor.js';
import { hostRootfs } from '../rootfs.js';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';

export const FAKE_AGENT_MAIN = fileURLToPath(new URL('./fake-agent-main.js', import.meta.url));

export const FAKE_HYPERVISOR_MODULE = fileURLToPath(import.meta.url);

export class FakeAgentHypervisor implements VmLauncher {
  constructor(private readonly opts: { command?: string[] } = {}) {}

  async start(req: VmStartRequest): Promise<VmHandle> {
    const sock = join(req.stateDir, 'agent.sock');
    const log = join(req.stateDir, 'console.log');
    const cmd = this.opts.command?.length ? this.opts.command : [process.execPath, FAKE_AGENT_MAIN];
    const fd = openSync(log, 'a', 0o600);
    const child = spawn(cmd[0]!, [...cmd.slice(1), '--socket', sock], { detached: true, stdio: ['ignore', fd, fd], cwd: req.stateDir });
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

const fake: Hypervisor = {
  name: 'fake',
  rootfs: hostRootfs,
  network: 'none',
  agentOnHost: false,
  async launcher(cfg, logger) {
    logger.warn({ kind: 'fake' }, 'hypervisor is the test fake: containers run as local processes, not confidential');
    return new FakeAgentHypervisor({ command: cfg.agent.command });
  },
};
export default fake;
