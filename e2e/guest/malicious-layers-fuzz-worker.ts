/** Worker half of `npm run fuzz -- tar`: runs the fuzz loop, reports progress in shared memory. */
import { parentPort, workerData } from 'node:worker_threads';
import { fuzzTar } from './malicious-layers-fuzz.js';

const { iterations, seed, progress } = workerData as { iterations: number; seed: number; progress: SharedArrayBuffer };
const counter = new Int32Array(progress);
const stats = fuzzTar({ iterations, seed, progressEvery: 500, onProgress: (done) => Atomics.store(counter, 0, done) });
parentPort!.postMessage(stats);
