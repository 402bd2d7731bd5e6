/**
 * Helpers for integration and end-to-end tests that own real processes: start a process in its
 * own process group, wait for readiness by polling a real condition, and tear everything down
 * (process groups, temp dirs, mounts) even when the test fails.
 *
 * Use with node:test: `const h = new Harness(); after(() => h.dispose());`
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DisposableStore, delay } from '../lifecycle/disposables.js';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is being waited for, used in the timeout error. */
  what?: string;
  signal?: AbortSignal;
}

/** Polls `cond` until it returns a truthy value (returned) or the timeout expires. */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeout = opts.timeoutMs ?? 30_000;
  const interval = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await delay(interval, opts.signal);
  }
}

/** True when something accepts connections on the unix socket at `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false);
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface RunningProcess {
  child: ChildProcess;
  pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Waits until the combined output matches. */
  waitForOutput(re: RegExp, opts?: WaitOptions): Promise<RegExpMatchArray>;
  /** SIGTERM to the whole process group, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** True when a command is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export class Harness {
  readonly store = new DisposableStore();

  /** A fresh temp dir removed on dispose. */
  tempDir(prefix = 'cocolet-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.store.add(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Starts a process in its own process group; the group is killed on dispose. */
  start(cmd: string, args: string[], opts: SpawnOptions = {}): RunningProcess {
    const child = spawn(cmd, args, { ...opts, detached: true, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, sig) => resolve(code ?? sig ?? -1));
      child.once('error', (e) => {
        out += `spawn error: ${e.message}\n`;
        resolve(-1);
      });
    });
    let done = false;
    void exited.then(() => (done = true));
    const pid = child.pid ?? -1;
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* already gone */
      }
    };
    const stop = async (graceMs = 5000): Promise<void> => {
      if (pid <= 0) return;
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      killGroup('SIGKILL'); // stragglers in the group
    };
    const rp: RunningProcess = {
      child,
      pid,
      output: () => out,
      exited,
      waitForOutput: (re, o = {}) =>
        waitFor(() => {
          const m = out.match(re);
          if (!m && done) throw new Error(`process ${cmd} exited before printing ${re}: ${out.slice(-2000)}`);
          return m;
        }, { what: `${cmd} to print ${re}`, ...o }),
      stop,
    };
    this.store.add(`process ${cmd} (${pid})`, () => stop(2000));
    return rp;
  }

  /** Registers any other teardown (mounts, sockets, bridges). */
  defer(name: string, fn: () => void | Promise<void>): void {
    this.store.add(name, fn);
  }

  async dispose(): Promise<void> {
    await this.store.dispose();
  }
}

/** Pids of live processes whose command line contains `needle` (for leak checks). */
export function processesMatching(needle: string): number[] {
  const r = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'))
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((n) => Number.isFinite(n) && n !== process.pid);
}

/** Reads a file if it exists, else ''. */
export function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
