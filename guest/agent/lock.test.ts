import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../shared/gen/kata/health_pb.js';
import { ErrorCode } from '../../shared/errors/index.js';
import { TtrpcClient, TtrpcServer, createClient, type ServiceImpl } from '../../shared/ttrpc/index.js';
import { MeasurementLock } from './lock.js';

const dir = mkdtempSync(join(tmpdir(), 'cocolet-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function serve(lock: MeasurementLock, name: string): Promise<{ client: TtrpcClient; server: TtrpcServer; served: string[] }> {
  const served: string[] = [];
  const server = new TtrpcServer({ interceptors: [lock.interceptor()] });
  server.register(AgentService, {
    createSandbox: () => (served.push('CreateSandbox'), {}),
    getGuestDetails: () => (served.push('GetGuestDetails'), {}),
  } as Partial<ServiceImpl<typeof AgentService>> as ServiceImpl<typeof AgentService>);
  server.register(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }), version: () => ({}) });
  const path = join(dir, `${name}.sock`);
  await server.listen(path);
  return { client: await TtrpcClient.connect(path), server, served };
}

test('before init-data is measured only Health and GetGuestDetails answer; the rest waits and proceeds once measured', async () => {
  const lock = new MeasurementLock();
  const { client, server, served } = await serve(lock, 'open');
  try {
    const agent = createClient(AgentService, client);
    assert.equal((await createClient(Health, client).check({ service: '' })).status, HealthCheckResponse_ServingStatus.SERVING);
    await agent.getGuestDetails({});
    const waiting = agent.createSandbox({ sandboxId: 's' });
    await agent.getGuestDetails({}); // a later unlocked call overtakes the waiting one
    assert.deepEqual(served, ['GetGuestDetails', 'GetGuestDetails']);
    lock.open();
    await waiting;
    assert.deepEqual(served, ['GetGuestDetails', 'GetGuestDetails', 'CreateSandbox']);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 0 });
  }
});

test('a failed measurement refuses waiting and later requests with the reason; the handler never runs', async () => {
  const lock = new MeasurementLock();
  const { client, server, served } = await serve(lock, 'fail');
  try {
    const agent = createClient(AgentService, client);
    const waiting = agent.createSandbox({ sandboxId: 's' });
    await agent.getGuestDetails({});
    lock.fail('init-data cannot be measured: no TEE register');
    const refused = (e: { code?: string; message: string }): boolean => e.code === ErrorCode.FailedPrecondition && /agent stopped: init-data cannot be measured: no TEE register/.test(e.message);
    await assert.rejects(waiting, refused);
    await assert.rejects(agent.createSandbox({ sandboxId: 's' }), refused);
    lock.open(); // no way back once failed
    await assert.rejects(agent.createSandbox({ sandboxId: 's' }), refused);
    assert.deepEqual(served, ['GetGuestDetails']);
  } finally {
    client.close();
    await server.shutdown({ graceMs: 0 });
  }
});
