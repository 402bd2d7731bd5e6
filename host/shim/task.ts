/**
 * One process the task API knows about — a container's init process or an exec — and its small
 * state machine: CREATED → RUNNING → STOPPED (PAUSED in between), exit recorded once, any number
 * of Wait calls pending until then.
 */
import { Status } from '../../shared/gen/containerd/types/task/task_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

export interface TaskIo {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface ExitInfo {
  status: number;
  at: Date;
}

export class TaskProcess {
  status: Status = Status.CREATED;
  exit: ExitInfo | undefined;
  private resolveExit!: (e: ExitInfo) => void;
  /** Resolves once, with the exit. */
  readonly exited: Promise<ExitInfo>;

  constructor(
    readonly containerId: string,
    readonly execId: string,
    public pid: number,
    readonly io: TaskIo,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  get label(): string {
    return this.execId ? `${this.containerId}/${this.execId}` : this.containerId;
  }

  markRunning(): void {
    if (this.status !== Status.CREATED) throw new CocoletError(ErrorCode.FailedPrecondition, `process ${this.label} is not in the created state`, { context: { container: this.containerId } });
    this.status = Status.RUNNING;
  }

  setPaused(paused: boolean): void {
    if (this.status === Status.STOPPED) throw new CocoletError(ErrorCode.FailedPrecondition, `process ${this.label} has exited`, { context: { container: this.containerId } });
    this.status = paused ? Status.PAUSED : Status.RUNNING;
  }

  /** Records the exit; true the first time only. */
  markExited(status: number, at = new Date()): boolean {
    if (this.exit) return false;
    this.exit = { status, at };
    this.status = Status.STOPPED;
    this.resolveExit(this.exit);
    return true;
  }
}

/** Go's zero time, which containerd expects in `exited_at` of a process that has not exited. */
export const GO_ZERO_TIME_SECONDS = -62135596800n;
