/**
 * One control-plane process (etcd, kube-apiserver, ...): spawned in its own process group with
 * stdout+stderr appended to `<dir>/logs/<name>.log`, its pid in `<dir>/<name>.pid`; `stop()` sends
 * SIGTERM to the group and SIGKILL after a grace. Readiness is the caller's (a real probe).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Grace between SIGTERM and SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 10_000;

export interface Component {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** True once the process has exited. */
  exited(): boolean;
  /** How it ended (exit code or signal), once it has. */
  readonly done: Promise<number | string>;
  /** The last lines of its log. */
  logTail(lines?: number): string;
  stop(graceMs?: number): Promise<void>;
}

export function launchComponent(dir: string, name: string, bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): Component {
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const logFile = join(logs, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  let ended = false;
  const done = new Promise<number | string>((resolve) => {
    child.once('exit', (code, sig) => {
      ended = true;
      resolve(code ?? sig ?? -1);
    });
    child.once('error', (e) => {
      ended = true;
      writeFileSync(logFile, `spawn error: ${e.message}\n`, { flag: 'a' });
      resolve(-1);
    });
  });
  const pid = child.pid ?? -1;
  const pidFile = join(dir, `${name}.pid`);
  if (pid > 0) writeFileSync(pidFile, `${pid}\n`);
  const group = (sig: NodeJS.Signals): void => {
    try {
      if (pid > 0) process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    logFile,
    done,
    exited: () => ended,
    logTail: (lines = 20) => {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    stop: (graceMs = DEFAULT_STOP_GRACE_MS) => {
      stopping ??= (async () => {
        group('SIGTERM');
        const t = setTimeout(() => group('SIGKILL'), graceMs);
        await done;
        clearTimeout(t);
        group('SIGKILL');
        rmSync(pidFile, { force: true });
      })();
      return stopping;
    },
  };
}
