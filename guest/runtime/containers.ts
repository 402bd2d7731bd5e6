/**
 * The agent's containers: each one a bundle in guest memory (rootfs = overlay over the pulled
 * image), run under runc after the policy gate has passed the request and the spec has been
 * sanitised. Owns every process (init and execs), their stdio and exit statuses.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CreateContainerRequest, ExecProcessRequest } from '../../shared/gen/kata/agent_pb.js';
import type { LinuxResources } from '../../shared/gen/kata/oci_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import { hasTraversal, hostRootfsStorage, imageReference } from '../policy/inspect.js';
import type { ImageStore } from '../pull/store.js';
import type { ImageConfig } from '../pull/registry.js';
import { Runc, readRuncLog, type RuncStats } from './runc.js';
import { buildRuncConfig, resourcesJson, runcConfigText, type RuncConfig } from './spec.js';
import { ProcessStdio, type DiscardOptions } from './stdio.js';
import { PodPidNamespace } from './pidns.js';
import { findPtyHelper, noPtyError, resizePty } from './tty.js';

/** How long a signal that runc refused waits for the container's exit to show (see `signal`). */
export const KILL_EXIT_GRACE_MS = 5000;

export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkId(kind: string, id: string, allowEmpty = false): void {
  if (allowEmpty && id === '') return;
  if (!ID_RE.test(id)) throw new CocoletError(ErrorCode.InvalidArgument, `${kind} must match ${ID_RE.source}`);
}

class ManagedProcess {
  readonly stdio = new ProcessStdio();
  child: ChildProcess | undefined;
  pid = 0;
  status: number | undefined;
  readonly exit: Promise<number>;
  private settle!: (n: number) => void;

  /** `tty`: the process runs on a pty (tty.ts): one output stream (stdout), the child is the pty helper. */
  constructor(readonly execId: string, readonly tty = false) {
    this.exit = new Promise((r) => (this.settle = r));
  }

  attach(child: ChildProcess, discard: DiscardOptions, onHelperStderr?: (text: string) => void): void {
    this.child = child;
    if (this.tty) {
      // A terminal has one output stream; the helper's own stderr carries only its (and runc's) complaints.
      this.stdio.attach(child.stdin, child.stdout, null, discard);
      let text = '';
      child.stderr?.on('data', (d: Buffer) => void (text.length < 2000 && (text += d.toString('utf8'))));
      child.stderr?.once('end', () => text.trim() && onHelperStderr?.(text.trim().slice(0, 2000)));
    } else {
      this.stdio.attach(child.stdin, child.stdout, child.stderr, discard);
    }
    child.once('exit', (code, sig) => this.finish(code ?? 128 + (sig ? signalNumber(sig) : 0)));
    child.once('error', () => this.finish(255));
  }

  finish(status: number): void {
    if (this.status !== undefined) return;
    this.status = status;
    this.stdio.stdout.end();
    this.stdio.stderr.end();
    this.settle(status);
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const m: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
  return m[sig] ?? 0;
}

interface Container {
  id: string;
  dir: string;
  bundle: string;
  config: RuncConfig;
  state: 'created' | 'running' | 'paused' | 'stopped';
  init: ManagedProcess;
  execs: Map<string, ManagedProcess>;
  overlay: boolean;
  cgroupsPath: string;
  oomKills: number;
}

export interface ContainerManagerOptions {
  stateDir: string;
  runc: Runc;
  images: ImageStore;
  logger: Logger;
  /** Whether the policy lets host mounts through (spec sanitiser). */
  allowHostMounts: () => boolean;
  /** Digest pin check from the policy (the entry this request matched), before any layer is fetched. */
  checkImageDigest: (digest: string, req: CreateContainerRequest) => void;
  /** Whether the policy's entry for this container keeps setuid/setgid bits of the image's layers (default no). */
  keepSetuid?: (req: CreateContainerRequest) => boolean;
  /** What the policy leaves to the image (command, env, working dir), checked against the pulled image's config. */
  checkImageConfig?: (req: CreateContainerRequest, config: ImageConfig['config']) => void;
  /** cgroup parent for containers (unique per agent). */
  cgroupParent: string;
  /**
   * Whether a `cocolet.host_rootfs` storage (the host's prepared rootfs) may replace the pull: only
   * for an agent running as a host process (NOT confidential); absent = never (refused), false = pull instead.
   */
  hostRootfsAllowed?: () => boolean;
  /** util-linux `script` for terminal processes (tty.ts); null: none (terminal requests are refused); absent: looked up. */
  ptyHelper?: string | null;
  /** Where the guest's `/` is for CopyFile-d files (`/` in a VM). */
  sharedRoot?: string;
  /**
   * Whether the policy lets the host read this process's stdout/stderr (asked when it starts).
   * When not, the output is drained and discarded (counted) so the process never blocks on a full
   * pipe. Absent: readable.
   */
  outputReadable?: (stream: 'stdout' | 'stderr', containerId: string, execId: string) => boolean;
  /**
   * Replaces sealed secrets in the built config (env values, secret volumes) after the policy
   * checks and before the bundle is written; `release` undoes what it mounted (agent/secrets.ts).
   */
  /** The pod's PID namespace (pidns.ts) for containers asking for it; default: one made with `unshare` on first use. */
  podPidNamespace?: PodPidNamespace;
  secrets?: { prepare(containerId: string, config: RuncConfig, containerDir: string): Promise<void>; release(containerDir: string): Promise<void> };
}

function sh(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _o, stderr) => (err ? reject(new CocoletError(ErrorCode.RuntimeFailed, `${cmd} failed: ${stderr.trim().slice(0, 300) || err.message}`)) : resolve()));
  });
}

export class ContainerManager {
  private readonly containers = new Map<string, Container>();
  private readonly oomWaiters: ((id: string) => void)[] = [];
  private readonly oomQueue: string[] = [];
  private oomTimer: NodeJS.Timeout | undefined;
  private readonly discarded = { stdout: 0, stderr: 0 };
  /** The pty helper's path once looked up (null: none). */
  private helper: string | null | undefined;

  private readonly podPid: PodPidNamespace;

  constructor(private readonly o: ContainerManagerOptions) {
    mkdirSync(join(o.stateDir, 'containers'), { recursive: true });
    this.podPid = o.podPidNamespace ?? new PodPidNamespace();
  }

  get size(): number {
    return this.containers.size;
  }

  /** Bytes of output drained and discarded so far (all processes, removed ones included). */
  discardedOutput(): { stdout: number; stderr: number } {
    return { ...this.discarded };
  }

  /** The pty helper (util-linux `script`) for `terminal: true`, or a clear error naming why there is none. */
  private ptyHelper(containerId: string): string {
    if (this.helper === undefined) this.helper = this.o.ptyHelper !== undefined ? this.o.ptyHelper : (findPtyHelper() ?? null);
    if (this.helper === null) throw noPtyError({ container: containerId });
    return this.helper;
  }

  /** Attaches a started process's stdio (draining what the host may not read) and logs the discarded counts when it exits. */
  private attachProcess(p: ManagedProcess, child: ChildProcess, containerId: string): void {
    const readable = this.o.outputReadable ?? (() => true);
    const discard: DiscardOptions = {
      stdout: !readable('stdout', containerId, p.execId),
      stderr: !readable('stderr', containerId, p.execId),
      onDiscard: (stream, n) => void (this.discarded[stream] += n),
    };
    p.attach(child, discard, (text) => this.o.logger.warn({ container: containerId, exec: p.execId === containerId ? undefined : p.execId, stderr: text }, 'pty helper wrote to stderr'));
    if (discard.stdout || discard.stderr) {
      void Promise.all([p.exit, p.stdio.stdout.drained, p.stdio.stderr.drained]).then(() => {
        const out = p.stdio.stdout.discarded;
        const err = p.stdio.stderr.discarded;
        if (out + err > 0) this.o.logger.info({ container: containerId, exec: p.execId === containerId ? undefined : p.execId, stdoutBytes: out, stderrBytes: err }, 'container output discarded (the policy forbids the host to read it)');
      });
    }
  }

  ids(): string[] {
    return [...this.containers.keys()];
  }

  private get(id: string): Container {
    checkId('container_id', id);
    const c = this.containers.get(id);
    if (!c) throw new CocoletError(ErrorCode.NotFound, `container ${id} not found`, { context: { container: id } });
    return c;
  }

  private proc(c: Container, execId: string): ManagedProcess {
    if (execId === '' || execId === c.id) return c.init;
    checkId('exec_id', execId);
    const p = c.execs.get(execId);
    if (!p) throw new CocoletError(ErrorCode.NotFound, `process ${execId} not found in container ${c.id}`, { context: { container: c.id } });
    return p;
  }

  async create(req: CreateContainerRequest): Promise<void> {
    const id = req.containerId;
    checkId('container_id', id);
    checkId('exec_id', req.execId, true);
    if (this.containers.has(id)) throw new CocoletError(ErrorCode.AlreadyExists, `container ${id} already exists`, { context: { container: id } });
    if (req.OCI?.Process?.Terminal) this.ptyHelper(id); // refused before any pull when no terminal can be given
    const ref = imageReference(req);
    const hostRoot = hostRootfsStorage(req);
    if (hostRoot && !this.o.hostRootfsAllowed) throw new CocoletError(ErrorCode.PolicyDenied, 'a host-prepared rootfs is only accepted by an agent running as a host process', { context: { container: id } });
    if (hostRoot && !this.o.hostRootfsAllowed?.()) this.o.logger.info({ container: id }, 'host rootfs ignored: the policy pins image digests');
    const useHostRoot = hostRoot !== undefined && this.o.hostRootfsAllowed?.() === true;
    if (useHostRoot && hasTraversal(hostRoot.source)) throw new CocoletError(ErrorCode.InvalidArgument, 'host rootfs must be a clean absolute path', { context: { container: id } });
    if (!ref && !useHostRoot) throw new CocoletError(ErrorCode.InvalidArgument, 'no image to run: cocolet pulls images inside the guest (storage driver image_guest_pull)', { context: { container: id } });
    const image = useHostRoot ? undefined : await this.o.images.pull(ref!, (digest) => this.o.checkImageDigest(digest, req), { keepSetuid: this.o.keepSetuid?.(req) ?? false });
    if (image) this.o.checkImageConfig?.(req, image.config.config);
    const dir = join(this.o.stateDir, 'containers', id);
    const bundle = join(dir, 'bundle');
    const rootfs = useHostRoot ? hostRoot.source : join(bundle, 'rootfs');
    const cgroupsPath = `${this.o.cgroupParent}/${id}`;
    // With the host's rootfs, containerd already merged the image config into the spec.
    // the pod's PID namespace is the agent's (made on first use); the host only asks for it
    const podPidNamespace = req.sandboxPidns ? await this.podPid.path() : undefined;
    const config = buildRuncConfig({ spec: req.OCI, ...(image ? { image: image.config } : {}), rootfs, cgroupsPath, allowHostMounts: this.o.allowHostMounts(), sharedRoot: this.o.sharedRoot, ...(podPidNamespace ? { podPidNamespace } : {}) });
    mkdirSync(useHostRoot ? bundle : rootfs, { recursive: true });
    if (!useHostRoot) {
      mkdirSync(join(dir, 'upper'), { recursive: true });
      mkdirSync(join(dir, 'work'), { recursive: true });
    }
    const c: Container = { id, dir, bundle, config, state: 'created', init: new ManagedProcess(id, config.process.terminal), execs: new Map(), overlay: false, cgroupsPath, oomKills: 0 };
    this.containers.set(id, c);
    try {
      if (image) {
        await sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${image.rootfs},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`, rootfs]);
        c.overlay = true;
      }
      await this.o.secrets?.prepare(id, config, dir);
      writeFileSync(join(bundle, 'config.json'), runcConfigText(config));
    } catch (e) {
      await this.cleanup(c);
      this.containers.delete(id);
      throw e;
    }
    this.o.logger.info({ container: id, image: ref, digest: image?.manifestDigest, hostRootfs: useHostRoot }, 'container created');
  }

  async start(id: string): Promise<void> {
    const c = this.get(id);
    if (c.state !== 'created') throw new CocoletError(ErrorCode.FailedPrecondition, `container ${id} is ${c.state}`, { context: { container: id } });
    const pidFile = join(c.dir, 'init.pid');
    const log = join(c.dir, 'runc.log');
    this.attachProcess(c.init, this.o.runc.run(id, c.bundle, pidFile, log, c.init.tty ? this.ptyHelper(id) : undefined), id);
    void c.init.exit.then((status) => {
      c.state = 'stopped';
      this.checkOom(c);
      this.o.logger.info({ container: id, status }, 'container exited');
    });
    c.state = 'running';
    c.init.pid = await this.waitPid(pidFile, c.init, log, id);
    this.o.logger.info({ container: id, pid: c.init.pid }, 'container started');
  }

  private async waitPid(pidFile: string, p: ManagedProcess, log: string, id: string): Promise<number> {
    for (let i = 0; i < 1500; i++) {
      if (existsSync(pidFile)) {
        const n = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
        if (n > 0) return n;
      }
      if (p.status !== undefined) {
        const why = readRuncLog(log);
        if (why) throw new CocoletError(ErrorCode.RuntimeFailed, `runc failed: ${why}`, { context: { container: id } });
        return 0; // ran and exited before we saw its pid
      }
      await delay(i < 100 ? 5 : 20);
    }
    let tail = '';
    try {
      tail = readFileSync(log, 'utf8').slice(-3000);
    } catch {
      /* no log */
    }
    this.o.logger.warn({ container: id, runcLog: tail }, 'process did not start');
    throw new CocoletError(ErrorCode.DeadlineExceeded, 'process did not start', { context: { container: id } });
  }

  async exec(req: ExecProcessRequest): Promise<void> {
    const c = this.get(req.containerId);
    checkId('exec_id', req.execId);
    if (c.state !== 'running') throw new CocoletError(ErrorCode.FailedPrecondition, `container ${c.id} is ${c.state}`, { context: { container: c.id } });
    if (c.execs.has(req.execId) || req.execId === c.id) throw new CocoletError(ErrorCode.AlreadyExists, `process ${req.execId} exists`, { context: { container: c.id } });
    const pp = req.process;
    if (!pp || pp.Args.length === 0) throw new CocoletError(ErrorCode.InvalidArgument, 'exec needs a command', { context: { container: c.id } });
    const proc = { ...c.config.process, args: [...pp.Args], env: pp.Env.length > 0 ? [...pp.Env] : c.config.process.env, cwd: pp.Cwd || c.config.process.cwd, user: { uid: pp.User?.UID ?? c.config.process.user.uid, gid: pp.User?.GID ?? c.config.process.user.gid }, terminal: pp.Terminal };
    const helper = pp.Terminal ? this.ptyHelper(c.id) : undefined;
    // an exec'd process keeps the container's supplementary groups (admitted at CreateContainer), as under runc
    const groups = c.config.process.user.additionalGids;
    if (groups?.length) proc.user = { ...proc.user, additionalGids: [...groups] } as typeof proc.user;
    const dir = join(c.dir, 'exec', req.execId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'process.json'), JSON.stringify(proc));
    const p = new ManagedProcess(req.execId, pp.Terminal);
    c.execs.set(req.execId, p);
    this.attachProcess(p, this.o.runc.exec(c.id, join(dir, 'process.json'), join(dir, 'pid'), join(dir, 'runc.log'), helper), c.id);
    p.pid = await this.waitPid(join(dir, 'pid'), p, join(dir, 'runc.log'), c.id);
  }

  async signal(id: string, execId: string, sig: number): Promise<void> {
    const c = this.get(id);
    if (!Number.isInteger(sig) || sig < 0 || sig > 64) throw new CocoletError(ErrorCode.InvalidArgument, 'signal out of range');
    const p = this.proc(c, execId);
    if (p.status !== undefined) return;
    if (p === c.init) {
      if (c.state === 'created') throw new CocoletError(ErrorCode.FailedPrecondition, `container ${id} is not started`);
      await this.o.runc.kill(id, sig).catch(async (e: unknown) => {
        // runc refuses a container whose init has died before `runc run` has ended and the agent has
        // seen it ("container not running"): that is the exit racing the signal, which WaitProcess
        // reports, not a failed signal (containerd's StopContainer fails on an error here). Waits
        // for the exit a short bounded while; a container that is still running gets the error.
        if (p.status === undefined) await Promise.race([p.exit, delay(KILL_EXIT_GRACE_MS)]);
        if (p.status === undefined) throw e;
      });
    } else if (p.pid > 0) {
      try {
        process.kill(p.pid, sig);
      } catch {
        /* exited meanwhile */
      }
    }
  }

  async wait(id: string, execId: string, signal?: AbortSignal): Promise<number> {
    const p = this.proc(this.get(id), execId);
    return await Promise.race([
      p.exit,
      new Promise<number>((_, reject) => signal?.addEventListener('abort', () => reject(new CocoletError(ErrorCode.Cancelled, 'wait cancelled')), { once: true })),
    ]);
  }

  read(id: string, execId: string, which: 'stdout' | 'stderr', len: number, signal?: AbortSignal): Promise<Buffer> {
    const p = this.proc(this.get(id), execId);
    return p.stdio[which].read(len, signal);
  }

  writeStdin(id: string, execId: string, data: Uint8Array): Promise<number> {
    return this.proc(this.get(id), execId).stdio.write(data);
  }

  closeStdin(id: string, execId: string): void {
    this.proc(this.get(id), execId).stdio.closeStdin();
  }

  /**
   * Sets a terminal process's window size (its container process gets SIGWINCH). A process without
   * a terminal, or one that has exited, has nothing to resize: accepted and ignored, as runc's shim does.
   */
  async ttyResize(id: string, execId: string, rows: number, cols: number): Promise<void> {
    const p = this.proc(this.get(id), execId);
    if (!p.tty || p.status !== undefined || !p.child?.pid) return;
    await resizePty(p.child.pid, rows, cols);
  }

  async pause(id: string): Promise<void> {
    const c = this.get(id);
    if (c.state !== 'running') throw new CocoletError(ErrorCode.FailedPrecondition, `container ${id} is ${c.state}`);
    await this.o.runc.pause(id);
    c.state = 'paused';
  }

  async resume(id: string): Promise<void> {
    const c = this.get(id);
    if (c.state !== 'paused') throw new CocoletError(ErrorCode.FailedPrecondition, `container ${id} is ${c.state}`);
    await this.o.runc.resume(id);
    c.state = 'running';
  }

  async update(id: string, r: LinuxResources | undefined): Promise<void> {
    const c = this.get(id);
    const res = resourcesJson(r);
    if (!res) return;
    if (c.state === 'created' || c.state === 'stopped') {
      c.config.linux.resources = { ...c.config.linux.resources, ...res };
      writeFileSync(join(c.bundle, 'config.json'), runcConfigText(c.config));
      return;
    }
    await this.o.runc.update(id, res);
  }

  async stats(id: string): Promise<RuncStats> {
    const c = this.get(id);
    if (c.state !== 'running' && c.state !== 'paused') throw new CocoletError(ErrorCode.FailedPrecondition, `container ${id} is ${c.state}`);
    return await this.o.runc.stats(id);
  }

  async remove(id: string, timeoutSec: number): Promise<void> {
    const c = this.get(id);
    if (c.state === 'paused') await this.o.runc.resume(id).catch(() => undefined);
    if (c.init.status === undefined && c.state !== 'created') {
      await this.o.runc.kill(id, 15).catch(() => undefined);
      const grace = timeoutSec > 0 ? timeoutSec * 1000 : 10_000;
      const t = delay(grace).then(() => this.o.runc.kill(id, 9, true).catch(() => undefined));
      await Promise.race([c.init.exit, t]);
      await c.init.exit;
    }
    for (const p of c.execs.values()) if (p.status === undefined && p.pid > 0) try { process.kill(p.pid, 9); } catch { /* gone */ }
    await this.cleanup(c);
    this.containers.delete(id);
    this.o.logger.info({ container: id }, 'container removed');
  }

  private async cleanup(c: Container): Promise<void> {
    await this.o.runc.delete(c.id).catch(() => undefined);
    if (c.overlay) await sh('umount', ['-l', join(c.bundle, 'rootfs')]).catch(() => undefined);
    c.overlay = false;
    await this.o.secrets?.release(c.dir);
    rmSync(c.dir, { recursive: true, force: true });
  }

  async removeAll(): Promise<void> {
    for (const id of [...this.containers.keys()]) await this.remove(id, 1).catch((e: unknown) => this.o.logger.warn({ container: id, err: (e as Error).message }, 'remove failed'));
    // the pod is gone: so is its PID namespace (and whatever a container left in it)
    this.podPid.stop();
  }

  /** Long-poll for the next OOM kill in any container (cgroup v2 memory.events / v1 oom_control). */
  async nextOom(signal?: AbortSignal): Promise<string> {
    const queued = this.oomQueue.shift();
    if (queued) return queued;
    this.oomTimer ??= setInterval(() => this.pollOom(), 500);
    try {
      return await new Promise<string>((resolve, reject) => {
        this.oomWaiters.push(resolve);
        signal?.addEventListener('abort', () => {
          const i = this.oomWaiters.indexOf(resolve);
          if (i >= 0) this.oomWaiters.splice(i, 1);
          reject(new CocoletError(ErrorCode.Cancelled, 'GetOOMEvent cancelled'));
        }, { once: true });
      });
    } finally {
      if (this.oomWaiters.length === 0 && this.oomTimer) {
        clearInterval(this.oomTimer);
        this.oomTimer = undefined;
      }
    }
  }

  private pollOom(): void {
    for (const c of this.containers.values()) this.checkOom(c);
  }

  private checkOom(c: Container): void {
    const n = readOomKills(c.cgroupsPath);
    if (n > c.oomKills) {
      c.oomKills = n;
      this.o.logger.warn({ container: c.id, oomKills: n }, 'container OOM kill');
      const w = this.oomWaiters.shift();
      if (w) w(c.id);
      else if (this.oomQueue.length < 1000) this.oomQueue.push(c.id);
    }
  }

  dispose(): void {
    this.podPid.stop();
    if (this.oomTimer) clearInterval(this.oomTimer);
  }
}

export function readOomKills(cgroupsPath: string): number {
  for (const [file, re] of [
    [`/sys/fs/cgroup${cgroupsPath}/memory.events`, /^oom_kill (\d+)/m],
    [`/sys/fs/cgroup/memory${cgroupsPath}/memory.oom_control`, /^oom_kill (\d+)/m],
  ] as const) {
    try {
      const m = readFileSync(file, 'utf8').match(re);
      if (m) return Number(m[1]);
    } catch {
      /* not this cgroup layout */
    }
  }
  return 0;
}
