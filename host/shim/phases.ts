/**
 * Start-up phases of a sandbox's shim, in ms after containerd exec'd `start` (its process start):
 * `start` hands its own clock readings to the daemon in one environment variable, the daemon adds
 * its own, and logs them all in one line once its agent answers and it listens ("shim start-up").
 * host/shim/README.md has the table these make. Cheap: a few `performance.now()` readings.
 */

/** `<start's process start, epoch ms>,<its Node bootstrap done, ms>,<daemon spawned, ms>[,<agent launched, ms>]` */
export const START_TRACE_ENV = 'COCOLET_SHIM_START_TRACE';

/** Epoch ms, sub-millisecond. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** What `start` passes to the daemon it spawns. */
export function startTrace(agentLaunchedAt?: number): string {
  return [performance.timeOrigin, performance.nodeTiming.bootstrapComplete, performance.now(), ...(agentLaunchedAt !== undefined ? [agentLaunchedAt] : [])].map((n) => n.toFixed(1)).join(',');
}

export class StartupPhases {
  private readonly t0: number;
  private readonly marks: Record<string, number> = {};

  /** `trace`: the START_TRACE_ENV value (absent when the daemon was not started by `start`). */
  constructor(trace: string | undefined) {
    const [origin, boot, spawned, agent] = (trace ?? '').split(',').map(Number);
    if (origin !== undefined && Number.isFinite(origin) && origin > 0) {
      this.t0 = origin;
      if (Number.isFinite(boot)) this.marks.startNodeReady = boot!;
      if (Number.isFinite(spawned)) this.marks.daemonSpawned = spawned!;
      if (agent !== undefined && Number.isFinite(agent)) this.marks.agentLaunched = agent;
    } else {
      this.t0 = performance.timeOrigin;
    }
    this.marks.daemonExec = performance.timeOrigin - this.t0;
    this.marks.daemonNodeReady = performance.timeOrigin + performance.nodeTiming.bootstrapComplete - this.t0;
  }

  /** Records `name` now (the first time only). */
  mark(name: string): void {
    this.marks[name] ??= epochMs() - this.t0;
  }

  /** Every phase in ms after `start`'s exec, rounded to 0.1 ms, in time order. */
  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.marks).sort((a, b) => a[1] - b[1])) out[k] = Math.round(v * 10) / 10;
    return out;
  }
}
