/** Worker half of `npm run fuzz -- initdata`: runs the fuzz loop, reports progress in shared memory. */
import { parentPort, workerData } from 'node:worker_threads';
import { buildTargets, fuzzInitdata } from './fuzz-engine.js';

const { iterations, seed, progress } = workerData as { iterations: number; seed: number; progress: SharedArrayBuffer };
const counter = new Int32Array(progress);
parentPort!.postMessage(fuzzInitdata(buildTargets(), { iterations, seed, progressEvery: 500, onProgress: (done) => Atomics.store(counter, 0, done) }));
