import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED_PATHS as SHARED_PATHS } from '../../shared/log/logger.js';
import { createLogger, REDACTED_PATHS, silentLogger } from './log.js';

function capture(level?: string): { lines: () => Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const out: string[] = [];
  const log = createLogger({ component: 'agent', level, destination: { write: (s: string) => out.push(s) } });
  return { lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>), log };
}

test('redacts the same paths as the shared (pino) logger', () => {
  assert.deepEqual(REDACTED_PATHS, SHARED_PATHS);
});

const cases: { name: string; run: (l: ReturnType<typeof createLogger>) => void; want: Record<string, unknown> | undefined }[] = [
  { name: 'fields then message', run: (l) => l.info({ rpc: 'Check', n: 1 }, 'agent ready'), want: { level: 'info', component: 'agent', rpc: 'Check', n: 1, msg: 'agent ready' } },
  { name: 'message only', run: (l) => l.warn('not confidential'), want: { level: 'warn', msg: 'not confidential' } },
  { name: 'top-level secret redacted', run: (l) => l.info({ token: 't0p' }, 'x'), want: { token: '[redacted]' } },
  { name: 'nested key redacted', run: (l) => l.info({ cfg: { key: 'k', name: 'n' } }, 'x'), want: { cfg: { key: '[redacted]', name: 'n' } } },
  { name: 'bigint written as a string', run: (l) => l.info({ size: 5n }, 'x'), want: { size: '5' } },
  { name: 'below the level is dropped', run: (l) => l.debug({ a: 1 }, 'x'), want: undefined },
  { name: 'child bindings on every line', run: (l) => l.child({ component: 'policy' }).info({ a: 1 }, 'x'), want: { component: 'policy', a: 1 } },
];

for (const c of cases) {
  test(`guest logger: ${c.name}`, () => {
    const { lines, log } = capture();
    c.run(log);
    const got = lines();
    if (!c.want) return assert.equal(got.length, 0);
    assert.equal(got.length, 1);
    assert.equal(typeof got[0]!.time, 'string');
    assert.equal(got[0]!.pid, process.pid);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[0]![k], v, k);
  });
}

test('silent logger writes nothing and does not throw', () => {
  const l = silentLogger();
  l.error({ a: 1 }, 'x');
  l.child({ b: 2 }).fatal('y');
});
