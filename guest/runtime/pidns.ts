/**
 * The pod's PID namespace (Kubernetes' shareProcessNamespace, the CRI's POD pid mode), as Kata's
 * sandbox pidns: a holder process, pid 1 of a namespace the agent made, that the containers asking
 * for the pod's namespace (CreateContainer.sandbox_pidns) join by the path the agent computes here.
 * The host only says "the pod's"; it never names a path, so it cannot put a container into another
 * pod's namespace or the agent's. Made on first use, one per agent (one agent serves one pod);
 * killing the holder ends every process in the namespace.
 *
 * The holder is `unshare -p -f sh -c '<wait>'` (util-linux or busybox `unshare`): the shell is the
 * namespace's init, reaps what the containers orphan, and exits on SIGTERM or when the agent ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { delay } from '../../shared/lifecycle/disposables.js';

/**
 * The holder's program: waits on a `cat` of its stdin (through fd 3: a background job's own stdin is
 * /dev/null), a pipe whose only writer is the agent, reaping
 * any child meanwhile (`wait` reaps orphans handed to pid 1 too). When the agent ends, even killed
 * outright, the pipe closes, `cat` ends and so does the namespace with everything in it: nothing of
 * the pod outlives its agent. What it waits on is not named `sleep`: the pod's containers see it
 * (`pgrep sleep` in a pod must find only theirs, as under runc, where the pod's pid 1 is the pause).
 */
export const HOLDER_SCRIPT = "trap 'exit 0' TERM; exec 3<&0; cat <&3 >/dev/null & wait";

export interface PodPidNamespaceOptions {
  /** `unshare` binary (default: found on PATH). */
  unshare?: string;
  /** How long the holder may take to appear (default 10 s). */
  startTimeoutMs?: number;
}

/** The parent pid of a process (from /proc/<pid>/stat), or undefined when it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}

/** The pid of a child of `parent` (the holder, unshare's only child), if one exists yet. */
export function childOf(parent: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (parentOf(pid) === parent) return pid;
  }
  return undefined;
}

/** The innermost pid of a process in its own PID namespace (the last NSpid field), or undefined. */
export function innermostPid(pid: number): number | undefined {
  try {
    const m = /^NSpid:\s*([\d\s]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const ids = m?.[1]?.trim().split(/\s+/).map(Number);
    return ids?.at(-1);
  } catch {
    return undefined;
  }
}

export class PodPidNamespace {
  private child: ChildProcess | undefined;
  private holder: { pid: number; ns: string } | undefined;
  private starting: Promise<{ pid: number; ns: string }> | undefined;

  constructor(private readonly o: PodPidNamespaceOptions = {}) {}

  /** `/proc/<holder>/ns/pid`, the holder started on first use; refused once the holder has gone. */
  async path(): Promise<string> {
    const h = await (this.starting ??= this.start());
    const path = `/proc/${h.pid}/ns/pid`;
    let now: string | undefined;
    try {
      now = readlinkSync(path);
    } catch {
      /* gone */
    }
    // the same namespace as when it was made (a reused pid would name another one)
    if (now !== h.ns) throw new CocoletError(ErrorCode.FailedPrecondition, "the pod's PID namespace has ended (its holder process exited)", { context: { rpc: 'CreateContainer' } });
    return path;
  }

  private async start(): Promise<{ pid: number; ns: string }> {
    // stdin: the agent's end of the pipe that keeps the holder alive (never written)
    const child = spawn(this.o.unshare ?? 'unshare', ['-p', '-f', 'sh', '-c', HOLDER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.stdin?.on('error', () => undefined);
    this.child = child;
    let failed: Error | undefined;
    child.once('error', (e) => (failed = e));
    child.once('exit', (code) => (failed ??= new Error(`unshare exited (${code})`)));
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 10_000);
    for (let i = 0; Date.now() < deadline; i++) {
      if (failed) break;
      const pid = child.pid === undefined ? undefined : childOf(child.pid);
      // the holder is unshare's child once it is pid 1 of its own namespace (before that, a fork on its way)
      if (pid !== undefined && innermostPid(pid) === 1) {
        try {
          this.holder = { pid, ns: readlinkSync(`/proc/${pid}/ns/pid`) };
          return this.holder;
        } catch {
          /* exited meanwhile: reported below */
        }
      }
      await delay(i < 50 ? 5 : 50);
    }
    this.stop();
    this.starting = undefined;
    throw new CocoletError(ErrorCode.RuntimeFailed, `could not make the pod's PID namespace: ${failed?.message ?? 'its holder did not appear'}`, { context: { rpc: 'CreateContainer' } });
  }

  /** Kills the holder (and so everything left in the namespace); a later `path()` makes a new one. */
  stop(): void {
    const h = this.holder;
    if (h) {
      try {
        if (readlinkSync(`/proc/${h.pid}/ns/pid`) === h.ns) process.kill(h.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.child?.kill('SIGKILL');
    this.child?.stdin?.destroy();
    this.child = undefined;
    this.holder = undefined;
    this.starting = undefined;
  }
}
