/**
 * Terminals without native code. runc gives a process a pseudo-terminal either through
 * `--console-socket` (the pty master arrives as an fd over SCM_RIGHTS, which Node cannot receive) or,
 * in the foreground, by copying between the new pty and its own stdin, which must then be a
 * terminal. The agent takes the second way: runc runs under util-linux `script`, which allocates an
 * outer pty, makes it runc's controlling terminal and stdio, and copies between it and the agent's
 * pipes. runc (foreground, `terminal: true`) puts that outer pty in raw mode and gives the container
 * process its own pty in the container's devpts (`tty` says /dev/pts/0, job control works, Ctrl-C is
 * the container's line discipline's), and on SIGWINCH copies the outer size onto the inner pty.
 *
 *   agent pipes ⇄ script ⇄ outer pty (raw) ⇄ runc ⇄ inner pty (cooked) ⇄ container process
 *
 * Resize: TIOCSWINSZ on the outer slave (found as script's /proc/<pid>/fd link to /dev/pts/N), done
 * with `stty -F`; the kernel sends runc SIGWINCH, runc resizes the inner pty, and the kernel sends
 * the container's foreground process group SIGWINCH. Closing stdin: script, seeing EOF on a
 * non-terminal stdin, writes the EOF character (^D) into the session, as a user typing it would.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

/** Where the guest image (and a host, for the process agent) has util-linux `script`. */
export const PTY_HELPER_CANDIDATES = ['/usr/bin/script', '/bin/script'];

/** The terminal size limits of TIOCSWINSZ (unsigned short). */
const MAX_DIMENSION = 0xffff;

/** util-linux `script` on this system, or undefined (busybox's applet lacks `-e`/`-E`, so it does not count). */
export function findPtyHelper(candidates: readonly string[] = PTY_HELPER_CANDIDATES): string | undefined {
  for (const p of candidates) {
    try {
      if (existsSync(p) && basename(realpathSync(p)) !== 'busybox') return p;
    } catch {
      /* a dangling link */
    }
  }
  return undefined;
}

/** The error for a terminal request this agent cannot serve, naming why. */
export function noPtyError(context: { container: string }): CocoletError {
  return new CocoletError(
    ErrorCode.FailedPrecondition,
    `a terminal (tty) was requested but this guest has no pty helper (util-linux script at ${PTY_HELPER_CANDIDATES.join(' or ')}): the agent is Node.js without native code and cannot receive runc's console fd (SCM_RIGHTS) or allocate a pty itself`,
    { context },
  );
}

/** POSIX shell single quoting. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line that runs `argv` with a fresh pty as its controlling terminal and stdio:
 * `script` quietly (`-q`), returning the child's exit status (`-e`), without echo on the outer pty
 * (`-E never`: input sent before runc switches it to raw mode is not echoed twice), no typescript.
 */
export function ptyCommand(helper: string, argv: readonly string[]): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (argv.length === 0) throw new CocoletError(ErrorCode.InvalidArgument, 'nothing to run under a pty');
  return { file: helper, args: ['-q', '-e', '-E', 'never', '-c', `exec ${argv.map(shellQuote).join(' ')}`, '/dev/null'], env: { ...process.env, SHELL: '/bin/sh' } };
}

/** The pty slave (`/dev/pts/N`) the pty helper process holds open, or undefined once it is gone. */
export function ptySlaveOf(helperPid: number, procRoot = '/proc'): string | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`${procRoot}/${helperPid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`${procRoot}/${helperPid}/fd/${fd}`);
      if (/^\/dev\/pts\/\d+$/.test(target)) return target;
    } catch {
      /* closed meanwhile */
    }
  }
  return undefined;
}

function checkDimension(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_DIMENSION) throw new CocoletError(ErrorCode.InvalidArgument, `terminal ${what} must be an integer 0..${MAX_DIMENSION}`);
}

/**
 * Sets the window size of the pty the helper `helperPid` made (TIOCSWINSZ through `stty -F`). False
 * when that process or its pty is already gone (the process exited: nothing to resize).
 */
export async function resizePty(helperPid: number, rows: number, cols: number, opts: { stty?: string; procRoot?: string } = {}): Promise<boolean> {
  checkDimension('rows', rows);
  checkDimension('columns', cols);
  const slave = ptySlaveOf(helperPid, opts.procRoot);
  if (!slave) return false;
  await new Promise<void>((resolve, reject) => {
    execFile(opts.stty ?? 'stty', ['-F', slave, 'rows', String(rows), 'cols', String(cols)], { timeout: 10_000 }, (err, _out, stderr) => {
      if (!err) return resolve();
      if (ptySlaveOf(helperPid, opts.procRoot) === undefined) return resolve(); // exited meanwhile
      reject(new CocoletError(ErrorCode.RuntimeFailed, `resizing the terminal failed: ${stderr.trim().slice(0, 200) || err.message}`));
    });
  });
  return true;
}
