/**
 * The `process` hypervisor: runs cocolet-agent as a local child process serving ttrpc on a unix
 * socket. There is NO isolation boundary — the host can read everything — so it is for
 * development and tests only, and it says so in its logs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { DisposableStore, delay } from '../../shared/lifecycle/disposables.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { HypervisorStartOptions, VmExit, VmHandle } from './hypervisor.js';
import { guestImageDir, repoRoot } from './image.js';

export interface ProcessHypervisorOptions {
  /** The agent's entry script; default: see defaultAgentEntry. */
  agentEntry?: string;
  nodeBinary?: string;
  logger?: Logger;
}

/** Newest modification time (ms) of the files under `dirs` whose name passes `want` (missing dirs count as 0). */
export function newestMtimeMs(dirs: readonly string[], want: (name: string) => boolean): number {
  let newest = 0;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir, { recursive: true }) as string[];
    } catch {
      continue;
    }
    for (const n of names) {
      if (want(n)) newest = Math.max(newest, statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0);
    }
  }
  return newest;
}

const agentSource = (n: string): boolean => n.endsWith('.ts') && !n.endsWith('.test.ts');

/**
 * The agent's entry (a path only: host never imports guest code). The guest image's bundle (one
 * entry file plus what it loads on demand) reaches its socket in about half the time of the
 * compiled tree's many small ES modules, so it is preferred while it is current: written no
 * earlier than the newest source file of the agent (guest/ and shared/ in the repository; a
 * re-emitting compile does not count, an edit does). Else the compiled agent beside this build;
 * else the bundle whatever its age (a tree without the compiled guest).
 */
export function defaultAgentEntry(): string {
  const compiled = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'guest', 'cmd', 'cocolet-agent.js');
  let root = '';
  let bundle = '';
  try {
    root = repoRoot();
    bundle = join(guestImageDir(), 'cocolet-agent.mjs');
  } catch {
    /* no repository around this build: no sources; the image only through COCOLET_GUEST_DIR */
    if (process.env.COCOLET_GUEST_DIR) bundle = join(process.env.COCOLET_GUEST_DIR, 'cocolet-agent.mjs');
  }
  const bundleMtime = bundle ? statSync(bundle, { throwIfNoEntry: false })?.mtimeMs : undefined;
  if (!existsSync(compiled)) {
    if (bundleMtime !== undefined) return bundle;
    throw new CocoletError(ErrorCode.FailedPrecondition, 'cocolet-agent not found: build the project or the guest image');
  }
  if (bundleMtime !== undefined && bundleMtime >= (root ? newestMtimeMs([join(root, 'guest'), join(root, 'shared')], agentSource) : 0)) return bundle;
  return compiled;
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
    const store = new DisposableStore();
    mkdirSync(o.stateDir, { recursive: true });
    store.add('state dir', () => rmSync(o.stateDir, { recursive: true, force: true }));
    try {
      const agentSocket = join(o.stateDir, 'agent.sock');
      const consoleLog = join(o.stateDir, 'agent.log');
      const entry = this.opts.agentEntry ?? defaultAgentEntry();
      const args = [entry, `--transport=unix:${agentSocket}`, `--state-dir=${join(o.stateDir, 'agent')}`];
      if (o.initdata) {
        const f = join(o.stateDir, 'initdata.toml');
        writeFileSync(f, o.initdata);
        args.push(`--initdata=${f}`);
      }
      const logFd = openSync(consoleLog, 'a');
      // In the pod's network namespace (nsenter execs, so the pid is the agent's): its containers share the pod IP.
      const node = this.opts.nodeBinary ?? process.execPath;
      const [cmd, argv] = o.netns ? ['nsenter', [`--net=${o.netns}`, '--', node, ...args]] : [node, args];
      const child = spawn(cmd, argv, {
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
          const why = gone ? lastAgentError(consoleLog) : undefined;
          throw new CocoletError(ErrorCode.VmFailed, `agent process did not start${why ? `: ${why}` : '; see its log'}`, { context: { sandbox: o.id, log: consoleLog } });
        }
        await delay(3); // the agent needs ~100 ms; a short poll keeps the wait close to its real start
      }
      log.info({ pid, entry, ...(o.netns ? { netns: o.netns } : {}) }, 'agent process started');
      let stopping: Promise<void> | undefined;
      return {
        id: o.id, kind: 'process', confidential: false, tee: 'none', pid, pgid: pid,
        agentSocketPath: agentSocket, consoleLogPath: consoleLog, exited,
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
