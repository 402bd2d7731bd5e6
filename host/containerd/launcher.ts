/**
 * Starts and stops a private containerd (config from config.ts) in its own process group.
 *
 * API:
 *   const c = await launchContainerd({ dir, shimDir, logger });   // resolves once CRI answers
 *   c.address / c.ttrpcAddress / c.dir / c.bridge / c.subnet / c.pid
 *   await c.stop();   // removes CRI pods, SIGTERM (SIGKILL after a grace), kills leftover shims of
 *                     // this instance, unmounts what is left under `dir`, deletes the CNI bridge
 *
 * Readiness is real: the gRPC socket accepts connections, CRI `Version` answers and CRI `Status`
 * reports RuntimeReady and NetworkReady. `shimDir` is prepended to containerd's PATH so it finds
 * `containerd-shim-cocolet-v2` there.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, closeSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import { CriClient } from '../cri/client.js';
import { writeContainerdConfig, type ContainerdConfigOptions, type ContainerdLayout } from './config.js';

/** How long to wait for containerd to become ready. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** Grace between SIGTERM and SIGKILL on stop. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

export interface LaunchOptions extends Omit<ContainerdConfigOptions, 'bridge' | 'subnet'> {
  /** CNI bridge name; derived from `dir` (and free on this host) when omitted. */
  bridge?: string;
  /** CNI subnet; derived from `dir` (and free on this host) when omitted. */
  subnet?: string;
  /** Directories prepended to containerd's PATH (where `containerd-shim-cocolet-v2` lives). */
  shimDir?: string | string[];
  containerdBin?: string;
  /**
   * Mount a tmpfs of this size (e.g. `4g`) on containerd's root (content store, snapshots), so
   * unmounting a container's overlay does not flush the host's disk (an overlay on a disk file
   * system syncs it at unmount: seconds each on a busy disk). Unmounted by stop().
   */
  tmpfsRoot?: string;
  readyTimeoutMs?: number;
  logger?: Logger;
}

export interface Containerd extends AsyncDisposable {
  readonly dir: string;
  readonly address: string;
  readonly ttrpcAddress: string;
  readonly layout: ContainerdLayout;
  readonly bridge: string;
  readonly subnet: string;
  readonly pid: number;
  /** The last lines of containerd's log (for failure messages). */
  logTail(lines?: number): string;
  stop(opts?: { removePods?: boolean }): Promise<void>;
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A bridge name and /24 subnet for `dir` that do not collide with anything on this host. */
export function pickNetwork(dir: string): { bridge: string; subnet: string } {
  const h = createHash('sha256').update(dir).digest();
  const links = run('ip', ['-o', 'link']).out;
  const routes = run('ip', ['-o', '-4', 'route']).out + run('ip', ['-o', '-4', 'addr']).out;
  for (let i = 0; i < 64; i++) {
    const a = 100 + ((h[0]! + i * 7) % 100); // 10.100.x.x – 10.199.x.x, never podman's 10.88
    const b = (h[1]! + i * 13) % 256;
    const subnet = `10.${a}.${b}.0/24`;
    const bridge = `cclt${h.subarray(2, 6).toString('hex')}${i === 0 ? '' : i.toString(16)}`.slice(0, 15);
    if (routes.includes(`10.${a}.${b}.`) || links.includes(`${bridge}:`)) continue;
    return { bridge, subnet };
  }
  throw new CocoletError(ErrorCode.ResourceExhausted, 'no free subnet for the CNI bridge');
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\040/g, ' ');
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out.sort((x, y) => y.length - x.length);
}

/** Pids of processes whose command line contains every one of `needles` (our shims). */
function pidsWithArgs(needles: string[]): number[] {
  const r = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => needles.every((n) => l.includes(n)))
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((n) => Number.isFinite(n) && n !== process.pid);
}

async function waitReady(cri: CriClient, child: ChildProcess, timeoutMs: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (exited()) throw new CocoletError(ErrorCode.RuntimeFailed, 'containerd exited during startup', { context: { pid: child.pid } });
    try {
      await cri.version({ timeoutMs: 2000 });
      const st = await cri.status({ timeoutMs: 2000 });
      const conds = st.status?.conditions ?? [];
      const ok = (t: string): boolean => conds.some((c) => c.type === t && c.status);
      if (ok('RuntimeReady') && ok('NetworkReady')) return;
      last = conds.map((c) => `${c.type}=${c.status} ${c.reason}`).join(', ');
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await delay(50);
  }
  throw new CocoletError(ErrorCode.DeadlineExceeded, `containerd not ready after ${timeoutMs} ms: ${last}`);
}

export async function launchContainerd(opts: LaunchOptions): Promise<Containerd> {
  const log = opts.logger ?? silentLogger();
  const net = opts.bridge && opts.subnet ? { bridge: opts.bridge, subnet: opts.subnet } : pickNetwork(opts.dir);
  const layout = writeContainerdConfig({ ...opts, bridge: opts.bridge ?? net.bridge, subnet: opts.subnet ?? net.subnet });
  if (opts.tmpfsRoot) {
    mkdirSync(layout.root, { recursive: true });
    const m = run('mount', ['-t', 'tmpfs', '-o', `size=${opts.tmpfsRoot},mode=0711`, 'tmpfs', layout.root]);
    if (!m.ok) throw new CocoletError(ErrorCode.RuntimeFailed, `could not mount a tmpfs on containerd's root: ${m.out.trim()}`, { context: { root: layout.root } });
  }
  const shimDirs = opts.shimDir === undefined ? [] : Array.isArray(opts.shimDir) ? opts.shimDir : [opts.shimDir];
  const env = { ...process.env, PATH: [...shimDirs, process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':') };
  const logFd = openSync(layout.logPath, 'a');
  const child = spawn(opts.containerdBin ?? 'containerd', ['--config', layout.configPath], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env,
  });
  closeSync(logFd);
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      resolve();
    });
    child.once('error', () => {
      done = true;
      resolve();
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) writeFileSync(layout.pidPath, `${pid}\n`);
  log.info({ pid, dir: layout.dir, bridge: net.bridge, subnet: net.subnet }, 'containerd starting');

  const logTail = (lines = 30): string => {
    try {
      return readFileSync(layout.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  const killGroup = (sig: NodeJS.Signals): void => {
    if (pid <= 0) return;
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (o: { removePods?: boolean } = {}): Promise<void> => {
    stopping ??= (async () => {
      if (o.removePods !== false && !done) await removeAllPods(layout.address, log);
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), DEFAULT_STOP_GRACE_MS);
      await exited;
      clearTimeout(t);
      killGroup('SIGKILL');
      // Shims this containerd started (they outlive it by design) are identified by our address.
      for (const p of pidsWithArgs(['containerd-shim', `-address ${layout.address}`])) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      for (const m of mountsUnder(layout.dir)) run('umount', ['-l', m]);
      if (run('ip', ['link', 'show', net.bridge]).ok) run('ip', ['link', 'del', net.bridge]);
      for (const f of [layout.address, layout.ttrpcAddress, layout.pidPath]) rmSync(f, { force: true });
      log.info({ pid }, 'containerd stopped');
    })();
    return stopping;
  };

  const cri = new CriClient({ endpoint: layout.address });
  try {
    await waitReady(cri, child, opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, () => done);
  } catch (e) {
    await stop({ removePods: false });
    const err = e instanceof CocoletError ? e : new CocoletError(ErrorCode.RuntimeFailed, String(e));
    throw new CocoletError(err.code, `${err.message}\ncontainerd log:\n${logTail()}`, { cause: e });
  } finally {
    cri.close();
  }
  log.info({ pid, address: layout.address }, 'containerd ready');
  return {
    dir: layout.dir,
    address: layout.address,
    ttrpcAddress: layout.ttrpcAddress,
    layout,
    bridge: net.bridge,
    subnet: net.subnet,
    pid,
    logTail,
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/** Stops and removes every CRI pod sandbox (and so its containers) on `address`. */
export async function removeAllPods(address: string, log: Logger = silentLogger()): Promise<void> {
  if (!existsSync(address)) return;
  const cri = new CriClient({ endpoint: address, defaultTimeoutMs: 30_000 });
  try {
    const pods = await cri.listPodSandbox();
    await Promise.all(
      pods.map(async (p) => {
        try {
          await cri.stopPodSandbox(p.id);
          await cri.removePodSandbox(p.id);
        } catch (e) {
          log.warn({ sandbox: p.id, err: e }, 'could not remove pod sandbox');
        }
      }),
    );
  } catch (e) {
    log.warn({ err: e }, 'could not list pod sandboxes');
  } finally {
    cri.close();
  }
}
