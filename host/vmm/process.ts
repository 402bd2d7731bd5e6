/**
 * The `process` hypervisor: runs cocolet-agent as a local child process serving ttrpc on a unix
 * socket. There is NO isolation boundary — the host can read everything — so it is for
 * development and tests only, and it says so in its logs.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { DisposableStore, delay } from '../../shared/lifecycle/disposables.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { HypervisorStartOptions, VmHandle } from './hypervisor.js';
import { adoptAgentProcess, defaultAgentEntry, launchAgentProcess, stopAgentGroup, type LaunchedAgent } from './process-launch.js';

export { AGENT_BUNDLE, ADOPTED_POLL_MS, adoptAgentProcess, agentPaths, defaultAgentEntry, launchAgentProcess, newestMtimeMs, quickAgentEntry, type AgentProcess, type LaunchedAgent } from './process-launch.js';

export interface ProcessHypervisorOptions {
  /** The agent's entry script; default: see defaultAgentEntry. */
  agentEntry?: string;
  nodeBinary?: string;
  logger?: Logger;
  /** An agent already launched for this sandbox (by the shim's `start`, launchAgentProcess): taken over instead of spawning one. */
  adopt?: LaunchedAgent;
}

export class ProcessHypervisor {
  readonly kind = 'process' as const;
  private readonly log: Logger;

  constructor(private readonly opts: ProcessHypervisorOptions = {}) {
    this.log = opts.logger ?? silentLogger();
  }

  async start(o: HypervisorStartOptions): Promise<VmHandle> {
    const log = (o.logger ?? this.log).child({ sandbox: o.id });
    log.warn('process hypervisor: the agent runs as a host process, NOT confidential');
    const adopt = o.adopt ?? this.opts.adopt;
    const store = new DisposableStore();
    store.add('state dir', () => rmSync(o.stateDir, { recursive: true, force: true }));
    try {
      let agent = adopt ? adoptAgentProcess(adopt, o) : launchAgentProcess(o, this.opts);
      store.add('agent process', () => stopAgentGroup(agent));
      if (adopt) {
        // The launcher took the bundle unchecked; the walk over the sources waits until the caller
        // has gone on (the shim daemon loads its task service meanwhile).
        await delay(0);
        const want = defaultAgentEntry();
        if (want !== agent.entry) {
          log.info({ bundle: agent.entry }, 'the agent bundle is older than its sources; starting the compiled agent instead');
          await stopAgentGroup(agent);
          rmSync(agent.socket, { force: true });
          agent = launchAgentProcess(o, { ...this.opts, agentEntry: want });
        }
      }
      const { pid, exited, entry } = agent;
      const deadline = Date.now() + 20_000;
      let gone = false;
      void exited.then(() => (gone = true));
      while (!existsSync(agent.socket)) {
        if (gone || Date.now() > deadline) {
          const why = gone ? lastAgentError(agent.consoleLog) : undefined;
          throw new CocoletError(ErrorCode.VmFailed, `agent process did not start${why ? `: ${why}` : '; see its log'}`, { context: { sandbox: o.id, log: agent.consoleLog } });
        }
        await delay(3); // the agent needs ~100 ms; a short poll keeps the wait close to its real start
      }
      log.info({ pid, entry, snapshot: agent.snapshot === true, ...(o.netns ? { netns: o.netns } : {}), ...(pid === adopt?.pid ? { launchedBy: 'shim start' } : {}) }, 'agent process started');
      let stopping: Promise<void> | undefined;
      return {
        id: o.id, kind: 'process', confidential: false, tee: 'none', pid, pgid: pid,
        agentSocketPath: agent.socket, consoleLogPath: agent.consoleLog, exited,
        stop: () => (stopping ??= store.dispose()),
      };
    } catch (e) {
      await store.dispose().catch(() => undefined);
      throw e;
    }
  }
}

/**
 * The reason an agent process that exited at start gave, from the last error line of its log (pino
 * JSON: `msg` and `err.message`), at most 300 characters. The process agent is not confidential, so
 * its own log may be repeated to containerd; undefined when there is none.
 */
export function lastAgentError(logPath: string): string | undefined {
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8').slice(-16_384);
  } catch {
    return undefined;
  }
  for (const line of text.trim().split('\n').reverse()) {
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((j.level ?? 0) < 50) continue;
      return [j.msg, j.err?.message].filter(Boolean).join(': ').slice(0, 300) || undefined;
    } catch {
      continue;
    }
  }
  return undefined;
}
