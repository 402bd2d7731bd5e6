/**
 * A pino destination on a raw fd (the bundle's `log` FIFO) that never blocks and never throws:
 * while containerd is not reading (e.g. it is restarting) lines are dropped instead of stalling
 * or killing the shim.
 */
import { constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';

export function fdSink(fd: number): DestinationStream {
  return {
    write(s: string): void {
      try {
        writeSync(fd, s);
      } catch {
        /* reader gone or pipe full: drop the line */
      }
    },
  };
}

/** Opens `<bundle>/log` for writing without waiting for a reader; /dev/null when it is missing. */
export function openShimLog(bundle: string): number {
  const path = join(bundle, 'log');
  try {
    return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENXIO') return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    return openSync('/dev/null', constants.O_WRONLY);
  }
}
