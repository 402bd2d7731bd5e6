/**
 * Copies a process's output from the agent (ReadStdout/ReadStderr polling RPCs) into the FIFOs
 * containerd named in Create, and its stdin FIFO into WriteStdin. The guest's policy decides: if
 * the agent refuses to let the host read, nothing is written and the shim logs why, once.
 */
import { constants, openSync, closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Logger } from '../../shared/log/logger.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { statusCodeOf, StatusCode } from '../../shared/errors/status.js';
import type { AgentApi } from './agent.js';

/** Bytes asked for per ReadStdout call. */
export const READ_CHUNK = 32 * 1024;

/** A FIFO (or file) opened without blocking on the other side; O_RDWR keeps open from waiting for a reader. */
function openPipe(path: string, forWriting: boolean): Socket {
  const fd = openSync(path.replace(/^fifo:\/\//, ''), constants.O_RDWR | constants.O_NONBLOCK);
  try {
    return new Socket({ fd, readable: !forWriting, writable: forWriting });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

export interface StdioCopy {
  /** Resolves when all output was copied (or copying stopped). */
  done: Promise<void>;
  close(): void;
  /** With a stdin FIFO: containerd closed its side (CloseIO); the agent's stdin is closed once what is left is copied. */
  closeStdin?(): void;
}

function isDenied(e: unknown): boolean {
  return isCocoletError(e, ErrorCode.PolicyDenied) || isCocoletError(e, ErrorCode.PermissionDenied) || statusCodeOf(e) === StatusCode.PERMISSION_DENIED;
}

async function pumpOut(agent: AgentApi, which: 'stdout' | 'stderr', cid: string, eid: string, path: string, log: Logger, signal: AbortSignal): Promise<void> {
  // Opened at once, not at the first byte: containerd's copier reads the FIFO until every writer
  // has closed it, so a stream that stays empty (no stderr) must still be opened and closed, or
  // ExecSync and streaming exec wait for it forever after the process has exited.
  let out: Socket | undefined;
  try {
    out = openPipe(path, true);
    for (let i = 0; !signal.aborted && i < Number.MAX_SAFE_INTEGER; i++) {
      let data: Uint8Array;
      try {
        const req = { containerId: cid, execId: eid, len: READ_CHUNK };
        data = (which === 'stdout' ? await agent.readStdout(req, { signal }) : await agent.readStderr(req, { signal })).data;
      } catch (e) {
        if (isDenied(e)) log.info({ container: cid, exec: eid || undefined, stream: which }, 'guest policy keeps this output from the host; nothing is copied');
        return;
      }
      if (data.length === 0) return;
      const sock = out;
      await new Promise<void>((resolve) => sock.write(data, () => resolve()));
    }
  } catch (e) {
    log.warn({ container: cid, stream: which, err: (e as Error).message }, 'output copy failed');
  } finally {
    const o = out;
    if (o) await new Promise<void>((r) => o.end(() => r()));
  }
}

/**
 * Copies the stdin FIFO to the agent. The FIFO is read through its own read-only descriptor, and a
 * write-only "keeper" descriptor stops the read from ending before containerd opens its side. As
 * runc's shim does, CloseIO closes only the keeper (`closeStdin`); the copy then forwards what is
 * still in the FIFO, sees the end once containerd has closed its side too, and only then asks the
 * agent to close the process's stdin, so `kubectl exec -i -- cat` gets all its input and then EOF.
 */
function pumpIn(agent: AgentApi, cid: string, eid: string, path: string, log: Logger, signal: AbortSignal): { closeStdin(): void } {
  const file = path.replace(/^fifo:\/\//, '');
  let keeper: number | undefined;
  const dropKeeper = (): void => {
    if (keeper === undefined) return;
    closeSync(keeper);
    keeper = undefined;
  };
  let src: Socket | undefined;
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    keeper = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
    src = new Socket({ fd, readable: true, writable: false });
  } catch (e) {
    dropKeeper();
    log.warn({ container: cid, exec: eid || undefined, err: (e as Error).message }, 'stdin copy not started');
    return { closeStdin: () => undefined };
  }
  const input = src;
  signal.addEventListener(
    'abort',
    () => {
      input.destroy();
      dropKeeper();
    },
    { once: true },
  );
  void (async () => {
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        await agent.writeStdin({ containerId: cid, execId: eid, data: chunk }, { signal });
      }
      if (!signal.aborted) await agent.closeStdin({ containerId: cid, execId: eid }, { signal });
    } catch (e) {
      if (isDenied(e)) log.info({ container: cid, exec: eid || undefined }, 'guest policy refuses stdin from the host');
      else if (!signal.aborted) log.debug({ container: cid, err: (e as Error).message }, 'stdin copy ended');
    } finally {
      input.destroy();
      dropKeeper();
    }
  })();
  return { closeStdin: dropKeeper };
}

/** Starts copying; `stdout`/`stderr`/`stdin` are the paths from Create/Exec ('' = none). */
export function startStdio(opts: { agent: AgentApi; containerId: string; execId: string; stdin: string; stdout: string; stderr: string; logger: Logger }): StdioCopy {
  const ac = new AbortController();
  const { agent, containerId: cid, execId: eid, logger } = opts;
  const outs: Promise<void>[] = [];
  if (opts.stdout) outs.push(pumpOut(agent, 'stdout', cid, eid, opts.stdout, logger, ac.signal));
  if (opts.stderr) outs.push(pumpOut(agent, 'stderr', cid, eid, opts.stderr, logger, ac.signal));
  const stdin = opts.stdin ? pumpIn(agent, cid, eid, opts.stdin, logger, ac.signal) : undefined;
  return { done: Promise.all(outs).then(() => undefined), close: () => ac.abort(), ...(stdin ? { closeStdin: stdin.closeStdin } : {}) };
}
