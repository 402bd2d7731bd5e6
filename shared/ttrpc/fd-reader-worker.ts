/**
 * Worker thread of the fd transport's 'worker' reader: blocking reads from the fd straight into a
 * shared ring buffer, waking the main thread with Atomics.notify. See fd-transport.ts.
 *
 * Ring control words (Int32): [0] bytes written (wrapping), [1] bytes consumed (wrapping),
 * [2] state: 0 running, 1 EOF, 2 error, 3 stop requested; [3] scratch for timed waits.
 */
import { readSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

interface ReaderData {
  fd: number;
  sab: SharedArrayBuffer;
  capacity: number;
  eofRetryMs?: number;
  chunk: number;
}

const { fd, sab, capacity, eofRetryMs, chunk } = workerData as ReaderData;
const ctrl = new Int32Array(sab, 0, 4);
const ring = new Uint8Array(sab, 16, capacity);
const tmp = Buffer.allocUnsafe(chunk);
let gotData = false;

function sleep(ms: number): void {
  Atomics.wait(ctrl, 3, 0, ms);
}

for (;;) {
  if (Atomics.load(ctrl, 2) === 3) break;
  const w = Atomics.load(ctrl, 0);
  let r = Atomics.load(ctrl, 1);
  while (((w - r) | 0) > capacity - chunk) {
    Atomics.wait(ctrl, 1, r, 100);
    if (Atomics.load(ctrl, 2) === 3) process.exit(0);
    r = Atomics.load(ctrl, 1);
  }
  let n: number;
  try {
    n = readSync(fd, tmp, 0, chunk, null);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
      sleep(1);
      continue;
    }
    Atomics.store(ctrl, 2, 2);
    Atomics.notify(ctrl, 0);
    break;
  }
  if (n === 0) {
    if (eofRetryMs !== undefined && !gotData) {
      sleep(eofRetryMs);
      continue;
    }
    Atomics.store(ctrl, 2, 1);
    Atomics.notify(ctrl, 0);
    break;
  }
  gotData = true;
  const at = w & (capacity - 1);
  const first = Math.min(n, capacity - at);
  ring.set(tmp.subarray(0, first), at);
  if (first < n) ring.set(tmp.subarray(first, n), 0);
  Atomics.store(ctrl, 0, (w + n) | 0);
  Atomics.notify(ctrl, 0);
}
