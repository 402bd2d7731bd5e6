/**
 * Runs a fuzz loop in a worker thread and watches it: the worker stores its progress (inputs
 * done) in shared memory and posts its stats when finished; no progress for `hangMs` is a hang
 * (the worker is terminated). Progress goes to stderr as `fuzz <name>: done/total`.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

export interface WatchedFuzzResult<S> {
  /** The worker's stats; undefined when it hung or failed. */
  stats?: S;
  hung: boolean;
  /** The worker's uncaught error, if any. */
  error?: Error;
}

/** Starts `worker` with `{ ...data, progress }` and resolves when it posted its stats, hung or failed. */
export function runWatchedFuzz<S>(name: string, worker: URL, data: { iterations: number; seed: number }, hangMs = 10_000): Promise<WatchedFuzzResult<S>> {
  const progress = new SharedArrayBuffer(4);
  const counter = new Int32Array(progress);
  const w = new Worker(fileURLToPath(worker), { workerData: { ...data, progress } });
  return new Promise((resolve) => {
    const result: WatchedFuzzResult<S> = { hung: false };
    let last = -1;
    let lastChange = performance.now();
    const watch = setInterval(() => {
      const done = Atomics.load(counter, 0);
      const now = performance.now();
      if (done !== last) {
        last = done;
        lastChange = now;
        process.stderr.write(`fuzz ${name}: ${done}/${data.iterations}\r`);
      } else if (now - lastChange > hangMs) {
        result.hung = true;
        process.stderr.write(`\nfuzz ${name}: HANG: no progress for ${hangMs} ms after ${done} inputs (seed ${data.seed})\n`);
        void w.terminate();
      }
    }, 1000);
    w.on('message', (stats: S) => {
      result.stats = stats;
      void w.terminate();
    });
    w.on('error', (e) => (result.error = e));
    w.on('exit', () => {
      clearInterval(watch);
      process.stderr.write('\n');
      resolve(result);
    });
  });
}
