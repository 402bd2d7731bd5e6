/**
 * A fake Kata agent (`grpc.AgentService`) for the shim's tests: it runs each container's process
 * as a plain local child process chrooted into the root path of its spec. No VM, no isolation,
 * no policy beyond one switch (`denyStdout`, to act like a confidential policy that keeps output
 * from the host). The real agent lives in guest/ and is never imported by the host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ServiceImpl } from '../../../shared/ttrpc/index.js';
import { AgentService } from '../../../shared/gen/kata/agent_pb.js';
import type { Process } from '../../../shared/gen/kata/oci_pb.js';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';

/** chroot(8) by absolute path: the container's env decides PATH, not the agent's. */
const CHROOT = existsSync('/usr/sbin/chroot') ? '/usr/sbin/chroot' : 'chroot';

interface Proc {
  child?: ChildProcess;
  spec: Process;
  out: Buffer[];
  err: Buffer[];
  outDone: boolean;
  errDone: boolean;
  wake: Array<() => void>;
  status?: number;
  exited: Promise<number>;
  resolve: (s: number) => void;
}

interface Container {
  root: string;
  procs: Map<string, Proc>;
}

export interface FakeAgentOptions {
  denyStdout?: boolean;
}

function newProc(spec: Process): Proc {
  let resolve!: (s: number) => void;
  const exited = new Promise<number>((r) => (resolve = r));
  return { spec, out: [], err: [], outDone: false, errDone: false, wake: [], exited, resolve };
}

function notFound(what: string): CocoletError {
  return new CocoletError(ErrorCode.NotFound, `${what} not found`);
}

export class FakeAgent {
  readonly containers = new Map<string, Container>();
  sandboxId = '';
  private oomWaiters: Array<(id: string) => void> = [];
  private oomQueue: string[] = [];

  /** Reports an OOM kill of `containerId` to the next GetOOMEvent call. */
  oom(containerId: string): void {
    const w = this.oomWaiters.shift();
    if (w) w(containerId);
    else this.oomQueue.push(containerId);
  }
  constructor(private readonly opts: FakeAgentOptions = {}) {}

  private proc(cid: string, eid: string): Proc {
    const c = this.containers.get(cid);
    const p = c?.procs.get(eid);
    if (!c || !p) throw notFound(`process ${cid}/${eid}`);
    return p;
  }

  private run(c: Container, p: Proc): void {
    const args = p.spec.Args;
    if (args.length === 0) throw new CocoletError(ErrorCode.InvalidArgument, 'process has no args');
    const env: Record<string, string> = {};
    for (const kv of p.spec.Env) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    // A root of "/" (unit tests) runs on the host as is; anything else is chrooted into.
    const child = c.root === '/' ? spawn(args[0]!, args.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(CHROOT, [c.root, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    p.child = child;
    const wake = (): void => p.wake.splice(0).forEach((f) => f());
    child.stdout.on('data', (d: Buffer) => (p.out.push(d), wake()));
    child.stderr.on('data', (d: Buffer) => (p.err.push(d), wake()));
    child.stdout.on('close', () => ((p.outDone = true), wake()));
    child.stderr.on('close', () => ((p.errDone = true), wake()));
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      p.err.push(Buffer.from(`fake agent: cannot run ${args[0]}: ${e.message}\n`));
      p.outDone = p.errDone = true;
      p.status = 127;
      p.resolve(127);
      wake();
    });
    child.on('exit', (code, sig) => {
      p.status = code ?? 128 + (sig ? (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1 }) as Record<string, number>)[sig] ?? 0 : 0);
      p.resolve(p.status);
    });
  }

  private async read(p: Proc, which: 'out' | 'err', len: number, signal: AbortSignal): Promise<Uint8Array> {
    for (let i = 0; i < 1_000_000; i++) {
      const buf = which === 'out' ? p.out : p.err;
      if (buf.length > 0) {
        const all = Buffer.concat(buf.splice(0));
        const chunk = all.subarray(0, len || all.length);
        if (chunk.length < all.length) buf.unshift(all.subarray(chunk.length));
        return chunk;
      }
      if ((which === 'out' ? p.outDone : p.errDone) || !p.child) throw new CocoletError(ErrorCode.OutOfRange, 'eof');
      signal.throwIfAborted();
      await new Promise<void>((r) => {
        p.wake.push(r);
        signal.addEventListener('abort', () => r(), { once: true });
      });
    }
    throw new CocoletError(ErrorCode.Internal, 'read loop bound reached');
  }

  killAll(): void {
    for (const c of this.containers.values()) for (const p of c.procs.values()) p.child?.kill('SIGKILL');
  }

  service(): ServiceImpl<typeof AgentService> {
    return {
      createSandbox: async (req) => {
        this.sandboxId = req.sandboxId;
        return {};
      },
      destroySandbox: async () => {
        this.killAll();
        return {};
      },
      createContainer: async (req) => {
        if (this.containers.has(req.containerId)) throw new CocoletError(ErrorCode.AlreadyExists, `container ${req.containerId} exists`);
        const root = req.OCI?.Root?.Path ?? '';
        if (!root.startsWith('/')) throw new CocoletError(ErrorCode.InvalidArgument, 'root path must be absolute');
        this.containers.set(req.containerId, { root, procs: new Map([['', newProc(req.OCI!.Process!)]]) });
        return {};
      },
      startContainer: async (req) => {
        const c = this.containers.get(req.containerId);
        if (!c) throw notFound(`container ${req.containerId}`);
        this.run(c, c.procs.get('')!);
        return {};
      },
      execProcess: async (req) => {
        const c = this.containers.get(req.containerId);
        if (!c) throw notFound(`container ${req.containerId}`);
        if (!req.process) throw new CocoletError(ErrorCode.InvalidArgument, 'no process');
        const p = newProc(req.process);
        c.procs.set(req.execId, p);
        this.run(c, p);
        return {};
      },
      waitProcess: async (req, ctx) => {
        const p = this.proc(req.containerId, req.execId);
        const aborted = new Promise<never>((_, rej) => ctx.signal.addEventListener('abort', () => rej(new CocoletError(ErrorCode.Cancelled, 'wait cancelled')), { once: true }));
        return { status: await Promise.race([p.exited, aborted]) };
      },
      signalProcess: async (req) => {
        const c = this.containers.get(req.containerId);
        if (!c) throw notFound(`container ${req.containerId}`);
        const targets = req.execId ? [this.proc(req.containerId, req.execId)] : [...c.procs.values()];
        for (const p of targets) if (p.status === undefined) p.child?.kill(req.signal);
        return {};
      },
      readStdout: async (req, ctx) => {
        if (this.opts.denyStdout) throw new CocoletError(ErrorCode.PolicyDenied, 'ReadStdoutRequest is blocked by policy');
        return { data: await this.read(this.proc(req.containerId, req.execId), 'out', req.len, ctx.signal) };
      },
      readStderr: async (req, ctx) => {
        if (this.opts.denyStdout) throw new CocoletError(ErrorCode.PolicyDenied, 'ReadStderrRequest is blocked by policy');
        return { data: await this.read(this.proc(req.containerId, req.execId), 'err', req.len, ctx.signal) };
      },
      writeStdin: async (req) => {
        const p = this.proc(req.containerId, req.execId);
        p.child?.stdin?.write(req.data);
        return { len: req.data.length };
      },
      closeStdin: async (req) => {
        this.proc(req.containerId, req.execId).child?.stdin?.end();
        return {};
      },
      ttyWinResize: async () => ({}),
      removeContainer: async (req) => {
        const c = this.containers.get(req.containerId);
        if (!c) throw notFound(`container ${req.containerId}`);
        for (const p of c.procs.values()) if (p.status === undefined) p.child?.kill('SIGKILL');
        this.containers.delete(req.containerId);
        return {};
      },
      pauseContainer: async (req) => {
        for (const p of this.containers.get(req.containerId)?.procs.values() ?? []) p.child?.kill('SIGSTOP');
        return {};
      },
      resumeContainer: async (req) => {
        for (const p of this.containers.get(req.containerId)?.procs.values() ?? []) p.child?.kill('SIGCONT');
        return {};
      },
      updateContainer: async () => ({}),
      statsContainer: async () => ({}),
      getGuestDetails: async () => ({ agentDetails: { version: 'fake-agent' } }),
      getOOMEvent: async (_req, ctx) => {
        const queued = this.oomQueue.shift();
        if (queued) return { containerId: queued };
        return new Promise((res, rej) => {
          const w = (id: string): void => res({ containerId: id });
          this.oomWaiters.push(w);
          ctx.signal.addEventListener('abort', () => {
            this.oomWaiters = this.oomWaiters.filter((x) => x !== w);
            rej(new CocoletError(ErrorCode.Cancelled, 'cancelled'));
          }, { once: true });
        });
      },
    };
  }
}
