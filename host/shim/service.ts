/**
 * containerd's task API (`containerd.task.v2.Task`, and the same methods as `containerd.task.v3.Task`)
 * over cocolet ttrpc. Every handler has one shape: log the call, do it on the sandbox, let the
 * server map CocoletErrors to status codes. Calls overlap freely (Wait stays pending).
 */
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { TtrpcServer, ServiceImpl } from '../../shared/ttrpc/index.js';
import { Task as TaskV2 } from '../../shared/gen/containerd/task/v2/shim_pb.js';
import { Task as TaskV3 } from '../../shared/gen/containerd/task/v3/shim_pb.js';
import type { Logger } from '../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import type { Sandbox } from './sandbox.js';
import { GO_ZERO_TIME_SECONDS } from './task.js';

export interface TaskServiceOptions {
  sandbox: Sandbox;
  logger: Logger;
  /** Called after Shutdown was answered and nothing is left to serve. */
  onShutdown: () => void;
}

const goZero = { seconds: GO_ZERO_TIME_SECONDS, nanos: 0 };

export function taskService(opts: TaskServiceOptions): ServiceImpl<typeof TaskV2> {
  const { sandbox: sb, logger } = opts;
  const trace = (rpc: string, id: string, execId = ''): void => logger.debug({ rpc, container: id, exec: execId || undefined }, 'task rpc');
  return {
    async create(req) {
      trace('Create', req.id);
      if (req.checkpoint) throw new CocoletError(ErrorCode.Unimplemented, 'restoring from a checkpoint is not supported');
      const pid = await sb.create({ id: req.id, bundle: req.bundle, rootfs: req.rootfs, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal });
      return { pid };
    },
    async start(req) {
      trace('Start', req.id, req.execId);
      return { pid: await sb.start(req.id, req.execId) };
    },
    async delete(req) {
      trace('Delete', req.id, req.execId);
      const r = await sb.delete(req.id, req.execId);
      return { pid: r.pid, exitStatus: r.status, exitedAt: timestampFromDate(r.at) };
    },
    async pids(req) {
      trace('Pids', req.id);
      sb.state(req.id, '');
      return { processes: [{ pid: sb.vmPid }] };
    },
    async pause(req) {
      trace('Pause', req.id);
      await sb.pause(req.id, true);
      return {};
    },
    async resume(req) {
      trace('Resume', req.id);
      await sb.pause(req.id, false);
      return {};
    },
    async checkpoint() {
      throw new CocoletError(ErrorCode.Unimplemented, 'checkpoint is not supported for confidential sandboxes');
    },
    async kill(req) {
      trace('Kill', req.id, req.execId);
      await sb.kill(req.id, req.execId, req.signal, req.all);
      return {};
    },
    async exec(req) {
      trace('Exec', req.id, req.execId);
      await sb.exec(req.id, req.execId, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal }, req.spec?.value ?? new Uint8Array());
      return {};
    },
    async resizePty(req) {
      trace('ResizePty', req.id, req.execId);
      await sb.resize(req.id, req.execId, req.width, req.height);
      return {};
    },
    async closeIO(req) {
      trace('CloseIO', req.id, req.execId);
      await sb.closeIO(req.id, req.execId, req.stdin);
      return {};
    },
    async update(req) {
      trace('Update', req.id);
      await sb.update(req.id, req.resources?.value);
      return {};
    },
    async wait(req) {
      trace('Wait', req.id, req.execId);
      const e = await sb.wait(req.id, req.execId);
      return { exitStatus: e.status, exitedAt: timestampFromDate(e.at) };
    },
    async state(req) {
      const { proc, bundle } = sb.state(req.id, req.execId);
      return {
        id: req.id,
        execId: req.execId,
        bundle,
        pid: proc.pid,
        status: proc.status,
        stdin: proc.io.stdin,
        stdout: proc.io.stdout,
        stderr: proc.io.stderr,
        terminal: proc.io.terminal,
        exitStatus: proc.exit?.status ?? 0,
        exitedAt: proc.exit ? timestampFromDate(proc.exit.at) : goZero,
      };
    },
    async stats(req) {
      trace('Stats', req.id);
      // NOT_FOUND (the sandbox task) makes containerd skip the task instead of failing the whole
      // CRI ListContainerStats.
      return { stats: await sb.stats(req.id) };
    },
    async connect(req) {
      trace('Connect', req.id);
      return { shimPid: process.pid, taskPid: sb.vmPid, version: '' };
    },
    async shutdown(req) {
      trace('Shutdown', req.id);
      if (req.now || sb.taskCount === 0) setImmediate(opts.onShutdown);
      return {};
    },
  };
}

/** Registers the task service under both wire names containerd may use. */
export function registerTaskService(server: TtrpcServer, impl: ServiceImpl<typeof TaskV2>): void {
  server.register(TaskV2, impl);
  server.register(TaskV3, impl as unknown as ServiceImpl<typeof TaskV3>);
}
