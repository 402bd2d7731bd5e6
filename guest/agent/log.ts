/**
 * The guest bundle's logger: the same API and JSON lines as shared/log/logger.ts (pino), without
 * pino. The guest image build aliases shared/log/logger.js to this module (guest/image/bundle.ts):
 * under emulation pino's module graph (sonic-boom, thread-stream, redaction compiler) costs a good
 * part of the agent's start. Lines: `{"level":"info","time":ISO,"component",…,"pid",…bindings,
 * …fields,"msg"}` written synchronously to fd 2; secret-bearing keys redacted as in pino's setup.
 */
import { writeSync } from 'node:fs';
import type { Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  component: string;
  level?: string;
  /** A file descriptor (default 2) or a stream with write(). */
  destination?: { write(s: string): unknown } | number;
  base?: Record<string, unknown>;
}

/** Same list as shared/log/logger.ts (a test checks they agree). */
export const REDACTED_PATHS = [
  'secret', '*.secret', 'token', '*.token', 'password', '*.password', 'privateKey', '*.privateKey',
  'key', '*.key', 'authorization', '*.authorization', 'headers.authorization', 'headers.cookie',
];

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const CENSOR = '[redacted]';

/** Paths as [parent or '*' or '', key]. */
const PATHS = REDACTED_PATHS.map((p) => (p.includes('.') ? (p.split('.', 2) as [string, string]) : ['', p] as [string, string]));

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  let out = fields;
  for (const [parent, key] of PATHS) {
    if (parent === '') {
      if (key in out) out = { ...out, [key]: CENSOR };
      continue;
    }
    for (const [k, v] of Object.entries(out)) {
      if ((parent === '*' || parent === k) && v && typeof v === 'object' && !Array.isArray(v) && key in v) {
        out = { ...out, [k]: { ...(v as Record<string, unknown>), [key]: CENSOR } };
      }
    }
  }
  return out;
}

function replacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return { type: v.name, message: v.message, stack: v.stack, ...(v as unknown as Record<string, unknown>) };
  return v;
}

function stringify(o: Record<string, unknown>): string {
  try {
    return JSON.stringify(o, replacer);
  } catch {
    return JSON.stringify({ level: o.level, time: o.time, msg: o.msg, logError: 'fields not serialisable' });
  }
}

type Sink = (line: string) => void;

function fdSink(fd: number): Sink {
  return (line) => {
    const b = Buffer.from(line);
    let off = 0;
    for (let tries = 0; off < b.length && tries < 1000; tries++) {
      try {
        off += writeSync(fd, b, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  };
}

class GuestLogger {
  constructor(
    private readonly sink: Sink,
    private readonly threshold: number,
    readonly level: string,
    private readonly fixed: Record<string, unknown>,
  ) {}

  private write(level: string, a: unknown, b: unknown): void {
    if (LEVELS[level]! < this.threshold) return;
    const fields = typeof a === 'object' && a !== null ? redact(a as Record<string, unknown>) : {};
    const msg = typeof a === 'string' ? a : typeof b === 'string' ? b : undefined;
    this.sink(stringify({ level, time: new Date().toISOString(), ...this.fixed, ...fields, ...(msg !== undefined ? { msg } : {}) }) + '\n');
  }

  trace(a: unknown, b?: unknown): void { this.write('trace', a, b); }
  debug(a: unknown, b?: unknown): void { this.write('debug', a, b); }
  info(a: unknown, b?: unknown): void { this.write('info', a, b); }
  warn(a: unknown, b?: unknown): void { this.write('warn', a, b); }
  error(a: unknown, b?: unknown): void { this.write('error', a, b); }
  fatal(a: unknown, b?: unknown): void { this.write('fatal', a, b); }
  silent(): void {}
  isLevelEnabled(level: string): boolean {
    return (LEVELS[level] ?? Infinity) >= this.threshold;
  }
  bindings(): Record<string, unknown> {
    return { ...this.fixed };
  }
  child(bindings: Record<string, unknown>): GuestLogger {
    return new GuestLogger(this.sink, this.threshold, this.level, { ...this.fixed, ...redact(bindings) });
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? process.env.COCOLET_LOG_LEVEL ?? 'info';
  const dest = opts.destination ?? 2;
  const sink: Sink = typeof dest === 'number' ? fdSink(dest) : (line) => void dest.write(line);
  const fixed = { component: opts.component, pid: process.pid, ...opts.base };
  return new GuestLogger(sink, LEVELS[level] ?? LEVELS.info!, level, fixed) as unknown as Logger;
}

/** A logger that drops everything. */
export function silentLogger(): Logger {
  return new GuestLogger(() => undefined, Infinity, 'silent', {}) as unknown as Logger;
}
