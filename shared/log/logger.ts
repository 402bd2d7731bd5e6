/**
 * pino logger factory. One root logger per process, a child per component; stable keys
 * (`component`, `pod`, `container`, `sandbox`, `rpc`); constant messages with variable data in
 * fields. Secrets never reach a log: known secret-bearing keys are redacted as a last guard.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Component name, e.g. `kubelet`, `shim`, `agent`, `kbs`. */
  component: string;
  /** pino level; defaults to COCOLET_LOG_LEVEL or `info`. */
  level?: string;
  /** Where to write; defaults to stderr (stdout belongs to protocols such as the shim's `start`). */
  destination?: DestinationStream | number;
  /** Extra fixed fields for every line. */
  base?: Record<string, unknown>;
}

/** Keys whose values are never logged, wherever they appear. */
export const REDACTED_PATHS = [
  'secret', '*.secret', 'token', '*.token', 'password', '*.password', 'privateKey', '*.privateKey',
  'key', '*.key', 'authorization', '*.authorization', 'headers.authorization', 'headers.cookie',
];

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? process.env.COCOLET_LOG_LEVEL ?? 'info';
  const dest = opts.destination ?? 2;
  const stream = typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest;
  return pino(
    {
      level,
      base: { component: opts.component, pid: process.pid, ...opts.base },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that drops everything (tests and benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
