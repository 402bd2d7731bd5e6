/**
 * The `process` hypervisor: runs cocolet-agent as a local child process serving ttrpc on a unix
 * socket. There is NO isolation boundary — the host can read everything — so it is for
 * development and tests only, and it says so in its logs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { DisposableStore, delay } from '../../shared/lifecycle/disposables.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { Hypervisor, HypervisorStartOptions, VmExit, VmHandle } from './hypervisor.js';
import { guestImageDir } from './image.js';

export interface ProcessHypervisorOptions {
  /** The agent's entry script; default: the compiled agent beside this build, else the image's bundle. */
  agentEntry?: string;
  nodeBinary?: string;
  logger?: Logger;
}

/** The compiled agent next to this file's build output (a path only: host never imports guest code). */
export function defaultAgentEntry(): string {
  const compiled = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'guest', 'cmd', 'cocolet-agent.js');
  if (existsSync(compiled)) return compiled;
  const bundle = join(guestImageDir(), 'cocolet-agent.mjs');
  if (existsSync(bundle)) return bundle;
  throw new CocoletError(ErrorCode.FailedPrecondition, 'cocolet-agent not found: build the project or the guest image');
}

export class ProcessHypervisor implements Hypervisor {
  readonly kind = 'process' as const;
  private readonly log: Logger;

  constructor(private readonly opts: ProcessHypervisorOptions = {}) {
    this.log = opts.logger ?? silentLogger();
  }

  async start(o: HypervisorStartOptions): Promise<VmHandle> {
    const log = (o.logger ?? this.log).child({ sandbox: o.id });
    log.warn('process hypervisor: the agent runs as a host process, NOT confidential');
    const store = new DisposableStore();
    mkdirSync(o.stateDir, { recursive: true });
    store.add('state dir', () => rmSync(o.stateDir, { recursive: true, force: true }));
    try {
      const agentSocket = join(o.stateDir, 'agent.sock');
      const consoleLog = join(o.stateDir, 'agent.log');
      const args = [this.opts.agentEntry ?? defaultAgentEntry(), `--transport=unix:${agentSocket}`, `--state-dir=${join(o.stateDir, 'agent')}`];
      if (o.initdata) {
        const f = join(o.stateDir, 'initdata.toml');
        writeFileSync(f, o.initdata);
        args.push(`--initdata=${f}`);
      }
      const logFd = openSync(consoleLog, 'a');
      const child = spawn(this.opts.nodeBinary ?? process.execPath, args, {
        stdio: ['ignore', logFd, logFd],
        detached: true,
        env: { ...process.env, ...o.env, COCOLET_AGENT_INSECURE_PROCESS: '1' },
      });
      closeSync(logFd);
      const exited = new Promise<VmExit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: -1, signal: null }));
      });
      let gone = false;
      void exited.then(() => (gone = true));
      const pid = child.pid ?? -1;
      store.add('agent process', async () => {
        if (gone) return;
        try {
          process.kill(-pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        const t = setTimeout(() => {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 5000);
        await exited;
        clearTimeout(t);
      });
      const deadline = Date.now() + 20_000;
      while (!existsSync(agentSocket)) {
        if (gone || Date.now() > deadline) {
          throw new CocoletError(ErrorCode.VmFailed, 'agent process did not start; see its log', { context: { sandbox: o.id, log: consoleLog } });
        }
        await delay(3); // the agent needs ~100 ms; a short poll keeps the wait close to its real start
      }
      log.info({ pid }, 'agent process started');
      let stopping: Promise<void> | undefined;
      return {
        id: o.id, kind: 'process', confidential: false, pid,
        agentSocketPath: agentSocket, consoleLogPath: consoleLog, exited,
        stop: () => (stopping ??= store.dispose()),
      };
    } catch (e) {
      await store.dispose().catch(() => undefined);
      throw e;
    }
  }
}
