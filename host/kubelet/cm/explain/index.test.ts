import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cmdExplain, registerExplainTool, explainToolNames } from './index.js';

function run(args: string[], stdin: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  return cmdExplain(args, { readStdin: () => Promise.resolve(stdin), out: (s) => out.push(s), err: (s) => err.push(s) }).then((code) => ({ code, out, err }));
}

registerExplainTool('echo-test', {
  summary: 'echoes its input (test only)',
  load: () =>
    Promise.resolve((input: unknown) => {
      if (input === null) throw new Error('input: must not be null');
      return { got: input };
    }),
});

test('dispatches to the named tool and prints its JSON answer', async () => {
  const r = await run(['echo-test'], '{"a":1}');
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out[0]!), { got: { a: 1 } });
});

test('a tool error is printed as {"error"} with status 1', async () => {
  const r = await run(['echo-test'], 'null');
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.out[0]!), { error: 'input: must not be null' });
});

test('input that is not JSON is an {"error"} naming it', async () => {
  const r = await run(['echo-test'], '{oops');
  assert.equal(r.code, 1);
  assert.match((JSON.parse(r.out[0]!) as { error: string }).error, /^input is not JSON/);
});

test('an unknown tool lists the known ones', async () => {
  const r = await run(['nope'], '{}');
  assert.equal(r.code, 2);
  assert.match(r.err[0]!, /unknown tool "nope"; known: .*echo-test/);
});

test('extra arguments are refused', async () => {
  const r = await run(['echo-test', 'x'], '{}');
  assert.equal(r.code, 2);
});

test('no tool name prints usage', async () => {
  const r = await run([], '');
  assert.equal(r.code, 2);
  assert.match(r.out[0]!, /usage:/);
  assert.ok(explainToolNames().includes('echo-test'));
});

test('a duplicate registration is refused', () => {
  assert.throws(() => registerExplainTool('echo-test', { summary: '', load: () => Promise.reject(new Error('x')) }), /registered twice/);
});
