/**
 * Thin wrapper over the runc CLI. Containers run in the foreground (`runc run`), so the runc
 * process is the agent's child and its exit status is the container's; runc's own messages go to
 * a JSON log file, never into the container's stdio.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { ptyCommand } from './tty.js';

export interface RuncOptions {
  binary?: string;
  /** runc state root (`--root`). */
  root: string;
  /** Use `--no-pivot` (needed when / is the initramfs rootfs, where pivot_root fails). */
  noPivot?: boolean;
}

export class Runc {
  readonly binary: string;
  constructor(private readonly opts: RuncOptions) {
    this.binary = opts.binary ?? 'runc';
  }

  private global(log?: string): string[] {
    return ['--root', this.opts.root, ...(log ? ['--log', log, '--log-format', 'json'] : []), ...(log && process.env.COCOLET_RUNC_DEBUG === '1' ? ['--debug'] : [])];
  }

  /**
   * `runc run` in the foreground with piped stdio; `--keep` leaves the stopped container (and its cgroup, for OOM accounting) until `delete`.
   * `ptyHelper`: the process spec says `terminal: true`, and runc runs under that helper so that its stdin is a terminal (tty.ts).
   */
  run(id: string, bundle: string, pidFile: string, log: string, ptyHelper?: string): ChildProcess {
    return this.spawn([...this.global(log), 'run', '--keep', '--bundle', bundle, '--pid-file', pidFile, ...(this.opts.noPivot ? ['--no-pivot'] : []), id], ptyHelper);
  }

  /** `runc exec` in the foreground with piped stdio (`ptyHelper`: as for run). */
  exec(id: string, processJson: string, pidFile: string, log: string, ptyHelper?: string): ChildProcess {
    return this.spawn([...this.global(log), 'exec', '--process', processJson, '--pid-file', pidFile, id], ptyHelper);
  }

  private spawn(args: string[], ptyHelper: string | undefined): ChildProcess {
    if (!ptyHelper) return spawn(this.binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const c = ptyCommand(ptyHelper, [this.binary, ...args]);
    return spawn(c.file, c.args, { stdio: ['pipe', 'pipe', 'pipe'], env: c.env });
  }

  private call(args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = execFile(this.binary, [...this.global(), ...args], { timeout: 30_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new CocoletError(ErrorCode.RuntimeFailed, `runc ${args[0]} failed: ${lastRuncError(stderr) || err.message}`));
        else resolve(stdout);
      });
      if (input !== undefined) c.stdin?.end(input);
    });
  }

  kill(id: string, signal: number, all = false): Promise<string> {
    return this.call(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }
  pause(id: string): Promise<string> {
    return this.call(['pause', id]);
  }
  resume(id: string): Promise<string> {
    return this.call(['resume', id]);
  }
  delete(id: string): Promise<string> {
    return this.call(['delete', '--force', id]);
  }
  update(id: string, resources: Record<string, unknown>): Promise<string> {
    return this.call(['update', '--resources', '-', id], JSON.stringify(resources));
  }
  async stats(id: string): Promise<RuncStats> {
    const out = await this.call(['events', '--stats', id]);
    return (JSON.parse(out) as { data: RuncStats }).data;
  }
}

export interface RuncStats {
  cpu?: { usage?: { total?: number; percpu?: number[]; kernel?: number; user?: number }; throttling?: { periods?: number; throttledPeriods?: number; throttledTime?: number } };
  memory?: { cache?: number; usage?: { limit?: number; usage?: number; max?: number; failcnt?: number }; swap?: { limit?: number; usage?: number; max?: number; failcnt?: number }; raw?: Record<string, number> };
  pids?: { current?: number; limit?: number };
}

/** Last error message in a runc JSON log or plain stderr text. */
export function lastRuncError(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const j = JSON.parse(lines[i]!) as { level?: string; msg?: string };
      if (j.level === 'error' || j.level === 'fatal') return (j.msg ?? '').slice(0, 500);
    } catch {
      return lines[i]!.slice(0, 500);
    }
  }
  return '';
}

export function readRuncLog(path: string): string {
  try {
    return lastRuncError(readFileSync(path, 'utf8'));
  } catch {
    return '';
  }
}
