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
}

function isDenied(e: unknown): boolean {
  return isCocoletError(e, ErrorCode.PolicyDenied) || isCocoletError(e, ErrorCode.PermissionDenied) || statusCodeOf(e) === StatusCode.PERMISSION_DENIED;
}

async function pumpOut(agent: AgentApi, which: 'stdout' | 'stderr', cid: string, eid: string, path: string, log: Logger, signal: AbortSignal): Promise<void> {
  let out: Socket | undefined;
  try {
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
      out ??= openPipe(path, true);
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

async function pumpIn(agent: AgentApi, cid: string, eid: string, path: string, log: Logger, signal: AbortSignal): Promise<void> {
  let src: Socket | undefined;
  try {
    src = openPipe(path, false);
    signal.addEventListener('abort', () => src?.destroy(), { once: true });
    for await (const chunk of src as AsyncIterable<Buffer>) {
      await agent.writeStdin({ containerId: cid, execId: eid, data: chunk }, { signal });
    }
  } catch (e) {
    if (isDenied(e)) log.info({ container: cid, exec: eid || undefined }, 'guest policy refuses stdin from the host');
    else if (!signal.aborted) log.debug({ container: cid, err: (e as Error).message }, 'stdin copy ended');
  } finally {
    src?.destroy();
  }
}

/** Starts copying; `stdout`/`stderr`/`stdin` are the paths from Create/Exec ('' = none). */
export function startStdio(opts: { agent: AgentApi; containerId: string; execId: string; stdin: string; stdout: string; stderr: string; logger: Logger }): StdioCopy {
  const ac = new AbortController();
  const { agent, containerId: cid, execId: eid, logger } = opts;
  const outs: Promise<void>[] = [];
  if (opts.stdout) outs.push(pumpOut(agent, 'stdout', cid, eid, opts.stdout, logger, ac.signal));
  if (opts.stderr) outs.push(pumpOut(agent, 'stderr', cid, eid, opts.stderr, logger, ac.signal));
  if (opts.stdin) void pumpIn(agent, cid, eid, opts.stdin, logger, ac.signal);
  return { done: Promise.all(outs).then(() => undefined), close: () => ac.abort() };
}
