/**
 * `start`: find or launch the shim daemon that serves this task's sandbox, record its address in
 * the bundle and print `unix://<socket>` — the only thing ever written to stdout. Logs go to the
 * bundle's `log` FIFO. The daemon is a detached process in its own process group that listens
 * before this process exits (it reports readiness on an inherited pipe).
 */
import { spawn } from 'node:child_process';

import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import type { ShimFlags } from './flags.js';
import { serveArgv } from './flags.js';
import { decodeRuntimeOptions } from './options.js';
import { groupId, readRecord, readSpec, socketPath, writeBundleFile } from './bundle.js';
import { START_TRACE_ENV, startTrace } from './phases.js';
import { daemonNodeArgs } from './snapshot.js';
import { deferExtraCa } from '../vmm/node-env.js';

/** How long `start` waits for the daemon to listen. */
export const DAEMON_READY_TIMEOUT_MS = 15_000;
export const CONFIG_ENV = 'COCOLET_SHIM_CONFIG';

export function probeSocket(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), res(true)));
    s.once('error', () => res(false));
  });
}

export interface StartInput {
  flags: ShimFlags;
  stdin: Uint8Array;
  logFd: number;
  /** Optional: `start` runs on containerd's critical path, so the entry loads pino only at debug level or on failure. */
  logger?: Logger;
  /** The script the daemon runs (this binary). */
  entry: string;
}

/** What `start` prints: the plain address (containerd 1.6+), or a BootstrapResult for 2.3+. */
export async function startOutput(address: string, bootstrap: boolean): Promise<Uint8Array | string> {
  if (!bootstrap) return address;
  const [{ create, toBinary }, { BootstrapResultSchema }] = await Promise.all([import('@bufbuild/protobuf'), import('../../shared/gen/containerd/bootstrap/v1/bootstrap_pb.js')]);
  return toBinary(BootstrapResultSchema, create(BootstrapResultSchema, { version: 2, address, protocol: 'ttrpc' }));
}

const GROUP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * The address the sandbox's own `start` recorded in its bundle, a sibling of this task's bundle in
 * containerd's layout (`<state>/<namespace>/<id>`), while the daemon there runs; else undefined.
 * Lets a container's `start` join without loading or reading the shim config. "Runs": the daemon's
 * record (written once it listens) names that socket, its pid is alive with `-id <group>` on its
 * command line (not a reused pid, not a zombie), and the socket file is there; no connection is
 * made, so `start` does not load node:net and the stream stack (~25 ms of CPU per container).
 */
export function siblingShimAddress(bundle: string, group: string): string | undefined {
  if (!GROUP_ID.test(group)) return undefined;
  const dir = join(dirname(bundle), group);
  let address: string;
  try {
    address = readFileSync(join(dir, 'address'), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!address.startsWith('unix:///')) return undefined;
  const sock = address.slice('unix://'.length);
  const rec = readRecord(dir);
  if (!rec || rec.group !== group || rec.socket !== sock || !runsAs(rec.daemonPid, group)) return undefined;
  return statSync(sock, { throwIfNoEntry: false })?.isSocket() ? address : undefined;
}

/** Whether process `pid` runs with `-id <group>` in its command line. */
export function runsAs(pid: number, group: string): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  for (let i = 0; i + 1 < args.length; i++) if (args[i] === '-id' && args[i + 1] === group) return true;
  return false;
}

/** Returns what to print on stdout. */
export async function startShim(inp: StartInput): Promise<Uint8Array | string> {
  const { flags, logger } = inp;
  const bundle = resolve(flags.bundle || process.cwd());
  const opts = await decodeRuntimeOptions(inp.stdin, flags);
  const out = (address: string): Promise<Uint8Array | string> => startOutput(address, opts.bootstrap !== undefined);
  const spec = readSpec(bundle);
  const group = groupId(spec, flags.id);
  const joinShim = (address: string): Promise<Uint8Array | string> => {
    logger?.debug({ container: flags.id, sandbox: group }, 'task joins the running sandbox shim');
    writeBundleFile(bundle, 'address', address);
    return out(address);
  };
  const sibling = group !== flags.id ? siblingShimAddress(bundle, group) : undefined;
  if (sibling) return joinShim(sibling);
  const configPath = opts.configPath || process.env[CONFIG_ENV] || '';
  const { loadShimConfig } = await import('./config.js');
  const cfg = loadShimConfig(configPath);
  if (opts.bootstrap?.socketDir) cfg.runtime.socketDir = opts.bootstrap.socketDir;
  const sock = socketPath(cfg.runtime.socketDir, flags.address, flags.namespace, group);
  const address = `unix://${sock}`;
  if (existsSync(sock) && (await probeSocket(sock))) return joinShim(address); // (no socket file: nothing to probe, and net stays unloaded)
  if (group !== flags.id) throw new CocoletError(ErrorCode.FailedPrecondition, `the shim of sandbox ${group} is not running`, { context: { container: flags.id, sandbox: group } });
  // A process sandbox's agent starts now, beside the daemon's own start-up (the daemon adopts it).
  // (loaded here: a container's `start` never needs it)
  const { LAUNCHED_AGENT_ENV, encodeLaunchedAgent, launchEarlyAgent } = await import('./early-agent.js');
  const agent = await launchEarlyAgent(cfg, flags.id, spec).catch((e: Error) => void logger?.debug({ err: e.message }, 'early agent launch failed; the daemon starts it'));
  const agentAt = agent ? performance.now() : undefined;
  // (a configured hypervisor.module is an import() at run time, which a snapshot's code cannot make)
  const child = spawn(process.execPath, [...daemonNodeArgs(inp.entry, { snapshot: !cfg.hypervisor.module }), ...serveArgv(flags, bundle, sock)], {
    cwd: bundle,
    detached: true,
    stdio: ['ignore', inp.logFd, inp.logFd, 'pipe'],
    env: { ...deferExtraCa(process.env), [CONFIG_ENV]: configPath, [START_TRACE_ENV]: startTrace(agentAt), ...(agent ? { [LAUNCHED_AGENT_ENV]: encodeLaunchedAgent(agent) } : {}), ...(opts.bootstrap?.ttrpcAddress ? { TTRPC_ADDRESS: opts.bootstrap.ttrpcAddress } : {}) },
  });
  const ready = child.stdio[3] as NodeJS.ReadableStream;
  const outcome = await new Promise<string>((res) => {
    let text = '';
    const timer = setTimeout(() => res('timeout'), DAEMON_READY_TIMEOUT_MS);
    ready.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        res(text.trim());
      }
    });
    child.once('exit', (code) => (clearTimeout(timer), res(text.trim() || `exited with ${code}`)));
    child.once('error', (e) => (clearTimeout(timer), res(`spawn failed: ${e.message}`)));
  });
  (ready as unknown as { destroy(): void }).destroy();
  child.unref();
  if (outcome !== 'ok') {
    for (const pid of [child.pid, agent?.pid]) {
      try {
        if (pid) process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (agent) rmSync(join(cfg.runtime.stateDir, flags.id), { recursive: true, force: true });
    throw new CocoletError(ErrorCode.RuntimeFailed, `shim daemon did not start: ${outcome}`, { context: { sandbox: group } });
  }
  writeBundleFile(bundle, 'address', address);
  logger?.debug({ sandbox: group, daemonPid: child.pid }, 'shim daemon started');
  return out(address);
}

