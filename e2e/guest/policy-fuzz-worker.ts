/** Worker half of `npm run fuzz -- policy` and `policy-document`: runs a loop, reports progress in shared memory. */
import { parentPort, workerData } from 'node:worker_threads';
import { fuzzDocuments, fuzzRequests } from './policy-fuzz.js';

const { iterations, seed, progress, target } = workerData as { iterations: number; seed: number; progress: SharedArrayBuffer; target: 'requests' | 'documents' };
const counter = new Int32Array(progress);
const o = { iterations, seed, progressEvery: 1000, onProgress: (done: number) => Atomics.store(counter, 0, done) };
parentPort!.postMessage(target === 'documents' ? fuzzDocuments(o) : fuzzRequests(o));
