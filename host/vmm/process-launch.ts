/**
 * Launching the `process` hypervisor's agent (process.ts), kept apart from the hypervisor class and
 * free of the logger, so the shim's `start` can launch an agent without loading either.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import type { HypervisorStartOptions, VmExit } from './hypervisor.js';
import { guestImageDir, repoRoot } from './image.js';
import { agentEnv } from './node-env.js';
import { agentSnapshotArgs } from '../../shared/build/agent-snapshot.js';

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

/**
 * The guest image's CommonJS agent bundle (what the VM's /init runs), started directly: its ESM
 * entry (cocolet-agent.mjs) would only set up Node's ESM loader to require it.
 */
export const AGENT_BUNDLE = 'cocolet-agent.cjs';

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
  const { compiled, bundle, root } = agentEntries();
  const bundleMtime = bundle ? statSync(bundle, { throwIfNoEntry: false })?.mtimeMs : undefined;
  if (!existsSync(compiled)) {
    if (bundleMtime !== undefined) return bundle;
    throw new CocoletError(ErrorCode.FailedPrecondition, 'cocolet-agent not found: build the project or the guest image');
  }
  if (bundleMtime !== undefined && bundleMtime >= (root ? newestMtimeMs([join(root, 'guest'), join(root, 'shared')], agentSource) : 0)) return bundle;
  return compiled;
}

/**
 * defaultAgentEntry without its walk over the sources: the bundle when there is one, else the
 * compiled agent. For the shim's `start`, which launches the agent on containerd's critical path;
 * the daemon that adopts it makes the full check and replaces an agent from a stale bundle.
 */
export function quickAgentEntry(): string {
  const { compiled, bundle } = agentEntries();
  return bundle && existsSync(bundle) ? bundle : compiled;
}

function agentEntries(): { compiled: string; bundle: string; root: string } {
  const compiled = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'guest', 'cmd', 'cocolet-agent.js');
  let root = '';
  let bundle = '';
  try {
    root = repoRoot();
    bundle = join(guestImageDir(), AGENT_BUNDLE);
  } catch {
    /* no repository around this build: no sources; the image only through COCOLET_GUEST_DIR */
    if (process.env.COCOLET_GUEST_DIR) bundle = join(process.env.COCOLET_GUEST_DIR, AGENT_BUNDLE);
  }
  return { compiled, bundle, root };
}

/** An agent process under way: where it will listen and log, and when it ends. */
export interface AgentProcess {
  pid: number;
  entry: string;
  /** Started from the bundle's startup snapshot (shared/build/agent-snapshot.ts); unknown for an adopted agent. */
  snapshot?: boolean;
  socket: string;
  consoleLog: string;
  exited: Promise<VmExit>;
  /** Lets this process exit while the agent runs on (a launch for another process to adopt). */
  unref?(): void;
}

/** Where the agent of a sandbox whose state dir is `stateDir` listens and logs. */
export function agentPaths(stateDir: string): { socket: string; consoleLog: string } {
  return { socket: join(stateDir, 'agent.sock'), consoleLog: join(stateDir, 'agent.log') };
}

/**
 * Spawns the agent for a sandbox (its own process group, console output to `agent.log` in the
 * state dir, init-data beside it); synchronous up to the spawn, so a caller can hand the pid on at
 * once. The shim's `start` calls it for a `process` sandbox, so the agent boots beside the daemon
 * instead of after it (see ProcessHypervisorOptions.adopt).
 */
export function launchAgentProcess(o: Pick<HypervisorStartOptions, 'id' | 'stateDir' | 'initdata' | 'env' | 'netns'>, opts: { agentEntry?: string; nodeBinary?: string } = {}): AgentProcess {
  mkdirSync(o.stateDir, { recursive: true });
  const { socket, consoleLog } = agentPaths(o.stateDir);
  const entry = opts.agentEntry ?? defaultAgentEntry();
  // The image's bundle from its startup snapshot when one matches this Node (a different node binary: the bundle).
  const snapshot = opts.nodeBinary === undefined && basename(entry) === AGENT_BUNDLE ? agentSnapshotArgs(entry) : undefined;
  const args = [...(snapshot ?? [entry]), `--transport=unix:${socket}`, `--state-dir=${join(o.stateDir, 'agent')}`];
  if (o.initdata) {
    const f = join(o.stateDir, 'initdata.toml');
    writeFileSync(f, o.initdata);
    args.push(`--initdata=${f}`);
  }
  const logFd = openSync(consoleLog, 'a');
  // In the pod's network namespace (nsenter execs, so the pid is the agent's): its containers share the pod IP.
  const node = opts.nodeBinary ?? process.execPath;
  const [cmd, argv] = o.netns ? ['nsenter', [`--net=${o.netns}`, '--', node, ...args]] : [node, args];
  let child;
  try {
    child = spawn(cmd, argv, {
      stdio: ['ignore', logFd, logFd],
      detached: true,
      // (no NODE_EXTRA_CA_CERTS: a guest does not see the host's environment; see node-env.ts)
      env: { ...agentEnv(process.env), ...o.env, COCOLET_AGENT_INSECURE_PROCESS: '1' },
    });
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<VmExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  return { pid: child.pid ?? -1, entry, snapshot: snapshot !== undefined, socket, consoleLog, exited, unref: () => child.unref() };
}

/** An agent process another process (the shim's `start`) launched for this sandbox. */
export interface LaunchedAgent {
  pid: number;
  /** The script it runs. */
  entry: string;
}

/** How often an adopted agent (not this process's child: no exit event) is checked for. */
export const ADOPTED_POLL_MS = 100;

/**
 * Takes over an agent process launched elsewhere. Its end is seen by polling /proc (gone, or a
 * zombie; the start time guards against a reused pid); its exit status is not known here.
 */
export function adoptAgentProcess(a: LaunchedAgent, o: Pick<HypervisorStartOptions, 'id' | 'stateDir'>): AgentProcess {
  const started = procStartTime(a.pid);
  if (!Number.isInteger(a.pid) || a.pid <= 1 || started === undefined) {
    throw new CocoletError(ErrorCode.VmFailed, 'the agent process the shim start launched is gone; see its log', { context: { sandbox: o.id, pid: a.pid, log: agentPaths(o.stateDir).consoleLog } });
  }
  const exited = new Promise<VmExit>((resolve) => {
    const t = setInterval(() => {
      if (procStartTime(a.pid) === started) return;
      clearInterval(t);
      resolve({ code: null, signal: null, detail: 'the agent process ended (not a child of this shim: exit status unknown)' });
    }, ADOPTED_POLL_MS);
    t.unref();
  });
  return { pid: a.pid, entry: a.entry, snapshot: startedFromSnapshot(a.pid), ...agentPaths(o.stateDir), exited };
}

/** Whether process `pid` was started with --snapshot-blob (its command line says so). */
function startedFromSnapshot(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--snapshot-blob');
  } catch {
    return false;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks); undefined when gone or a zombie. */
function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return f[0] === 'Z' || f[0] === 'X' ? undefined : f[19];
}

/** SIGTERM to the agent's process group, SIGKILL after 5 s, until it has ended. */
export async function stopAgentGroup(a: AgentProcess): Promise<void> {
  let done = false;
  void a.exited.then(() => (done = true));
  await delay(0);
  if (done) return;
  const kill = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-a.pid, sig);
    } catch {
      /* gone */
    }
  };
  kill('SIGTERM');
  const t = setTimeout(() => kill('SIGKILL'), 5000);
  await a.exited;
  clearTimeout(t);
}
