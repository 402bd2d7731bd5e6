#!/usr/bin/env node
/**
 * containerd-shim-cocolet-v2: the containerd runtime v2 shim for confidential pods
 * (runtime_type "io.containerd.cocolet.v2"). See host/shim/ and examples/shim/.
 */
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startupSnapshot } from 'node:v8';
import { parseShimFlags, USAGE, type ShimFlags } from '../shim/flags.js';
import { fdSink, openShimLog } from '../shim/logsink.js';
import { restoreExtraCa } from '../vmm/node-env.js';
import type { Logger } from '../../shared/log/logger.js';

// Each action loads only what it needs: `start` and `delete` run once per task on containerd's
// critical path, so they must not pay for the daemon's modules.

const VERSION = '0.1.0';

async function main(argv: string[]): Promise<number> {
  // The installed binary's sh header (host/shim/pack.ts) kept NODE_EXTRA_CA_CERTS out of this Node's
  // boot; `start` moved it aside for the daemon's. Back now, for what this process does and spawns.
  restoreExtraCa();
  let flags: ShimFlags;
  try {
    flags = parseShimFlags(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const level = flags.debug ? 'debug' : process.env.COCOLET_LOG_LEVEL ?? 'info';
  switch (flags.action) {
    case 'version':
      process.stdout.write(`containerd-shim-cocolet-v2:\n  Version: ${VERSION}\n  Runtime: node ${process.version}\n`);
      return 0;
    case 'help':
      process.stderr.write(`${USAGE}\n`);
      return 2;
    case 'start': {
      // pino costs ~20 ms to load: only at debug level (its lines are debug) or when reporting a failure.
      const [{ startShim }, { readStdinBytes }] = await Promise.all([import('../shim/start.js'), import('../shim/options.js')]);
      const logFd = openShimLog(flags.bundle || process.cwd());
      const makeLogger = async (): Promise<Logger> => (await import('../../shared/log/logger.js')).createLogger({ component: 'shim', level, destination: fdSink(logFd), base: { sandbox: flags.id } });
      const verbose = level === 'debug' || level === 'trace';
      try {
        const out = await startShim({ flags, stdin: await readStdinBytes(), logFd, ...(verbose ? { logger: await makeLogger() } : {}), entry: process.argv[1] ?? fileURLToPath(import.meta.url) });
        // (write(2) on fd 1: process.stdout would load the stream stack, ~7 ms of CPU per task)
        const bytes = typeof out === 'string' ? Buffer.from(out) : out;
        for (let off = 0; off < bytes.length; ) off += writeSync(1, bytes, off);
        return 0;
      } catch (e) {
        (await makeLogger()).error({ err: (e as Error).message }, 'start failed');
        process.stderr.write(`cocolet shim start: ${(e as Error).message}\n`);
        return 1;
      }
    }
    case 'serve': {
      const [{ createLogger }, { serveShim }] = await Promise.all([import('../../shared/log/logger.js'), import('../shim/serve.js')]);
      const logger = createLogger({ component: 'shim', level, destination: fdSink(2), base: { sandbox: flags.id } });
      await serveShim(flags, logger);
      return -1; // keeps running
    }
    case 'delete': {
      // stderr of delete is logged by containerd as cleanup warnings; stdout is the DeleteResponse.
      const [{ createLogger }, { deleteShim }] = await Promise.all([import('../../shared/log/logger.js'), import('../shim/delete.js')]);
      const logger = createLogger({ component: 'shim', level, destination: fdSink(2), base: { container: flags.id } });
      try {
        process.stdout.write(deleteShim(flags, logger));
        return 0;
      } catch (e) {
        process.stderr.write(`cocolet shim delete: ${(e as Error).message}\n`);
        return 1;
      }
    }
  }
}

function run(argv: string[]): void {
  void main(argv).then((code) => {
    if (code >= 0) process.exitCode = code;
  });
}

/** Everything the daemon loads, for its startup snapshot (host/shim/snapshot.ts). */
async function loadDaemon(): Promise<void> {
  const [, { loadTaskService }] = await Promise.all([import('../../shared/log/logger.js'), import('../shim/serve.js'), import('../vmm/process.js')]);
  await loadTaskService();
}

// (no top-level await: the installed binary is this file bundled as CommonJS, see host/shim/pack.ts)
// (node:v8 is touched only then: `start`'s bundle loads it on first use, see host/shim/pack.ts)
if (process.execArgv.includes('--build-snapshot')) {
  // `node --snapshot-blob <blob> -- <argv>`: no script in argv
  startupSnapshot.setDeserializeMainFunction(() => run(process.argv.slice(1)));
  void loadDaemon();
} else {
  run(process.argv.slice(2));
}
