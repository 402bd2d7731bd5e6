import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../shared/errors/index.js';
import { createLogger, silentLogger } from '../../shared/log/logger.js';
import type { ServerCall } from '../../shared/ttrpc/index.js';
import { PolicyGate } from './gate.js';
import { CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY } from './defaults.js';

function call(service: string, method: string): ServerCall {
  return { ctx: { service, method, fullMethod: `/${service}/${method}` }, kind: 'unary', request: {} } as unknown as ServerCall;
}

const cases: { name: string; service: string; method: string; handler: () => unknown; want: string }[] = [
  { name: 'allowed request reaches the handler', service: 'grpc.AgentService', method: 'WaitProcess', handler: () => 'done', want: 'done' },
  { name: 'denied request never reaches the handler', service: 'grpc.AgentService', method: 'ExecProcess', handler: () => assert.fail('handler ran'), want: ErrorCode.PolicyDenied },
  { name: 'health is never gated', service: 'grpc.Health', method: 'Check', handler: () => 'ok', want: 'ok' },
  { name: 'plain errors become INTERNAL with the rpc named', service: 'grpc.AgentService', method: 'WaitProcess', handler: () => { throw new Error('boom'); }, want: ErrorCode.Internal },
];

for (const tc of cases) {
  test(tc.name, async () => {
    const gate = new PolicyGate(CONFIDENTIAL_DEFAULT_POLICY, silentLogger());
    const got = await gate.interceptor()(call(tc.service, tc.method), async () => tc.handler()).then((v) => v, (e: { code: string; context: { rpc?: string } }) => {
      assert.equal(e.context.rpc, tc.method);
      return e.code;
    });
    assert.equal(got, tc.want);
  });
}

test('decisions are counted per request and result', async () => {
  const gate = new PolicyGate(CONFIDENTIAL_DEFAULT_POLICY, silentLogger());
  const i = gate.interceptor();
  await i(call('grpc.AgentService', 'WaitProcess'), async () => 1);
  await i(call('grpc.AgentService', 'ExecProcess'), async () => 1).catch(() => undefined);
  await i(call('grpc.AgentService', 'ExecProcess'), async () => 1).catch(() => undefined);
  assert.deepEqual(gate.decisionCounts(), { 'WaitProcess:allowed': 1, 'ExecProcess:denied': 2 });
});

test('every decision is logged with its rpc, rule, reason and policy; allowed ones at info through a cached child, denials at warn', () => {
  const lines: Record<string, unknown>[] = [];
  const log = (level: string): PolicyGate => new PolicyGate(CONFIDENTIAL_DEFAULT_POLICY, createLogger({ component: 'agent', level, destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } }));
  const pick = (l: Record<string, unknown>): unknown[] => [l.level, l.component, l.rpc, l.rule, l.reason, l.policy, l.msg];
  const gate = log('info');
  for (let i = 0; i < 3; i++) gate.check('WaitProcess', {});
  gate.check('StartContainer', {});
  assert.throws(() => gate.check('ExecProcess', {}));
  gate.replace(PERMISSIVE_POLICY);
  gate.check('WaitProcess', {});
  assert.deepEqual(lines.map(pick), [
    ...Array.from({ length: 3 }, () => ['info', 'agent', 'WaitProcess', 'rules.WaitProcess.allow', 'allowed', 'confidential-default', 'policy allowed request']),
    ['info', 'agent', 'StartContainer', 'rules.StartContainer.allow', 'allowed', 'confidential-default', 'policy allowed request'],
    ['warn', 'agent', 'ExecProcess', 'rules.ExecProcess.allow', 'request type denied', 'confidential-default', 'policy denied request'],
    ['info', 'agent', undefined, undefined, undefined, 'permissive', 'policy replaced'],
    ['info', 'agent', 'WaitProcess', 'default', 'allowed', 'permissive', 'policy allowed request'],
  ]);
  lines.length = 0;
  const quiet = log('warn');
  quiet.check('WaitProcess', {});
  assert.throws(() => quiet.check('ExecProcess', {}));
  assert.deepEqual(lines.map(pick), [['warn', 'agent', 'ExecProcess', 'rules.ExecProcess.allow', 'request type denied', 'confidential-default', 'policy denied request']]);
});
