import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import pino from 'pino';
import { CreateContainerRequestSchema, CreateSandboxRequestSchema, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import type { ContainerManager } from '../runtime/containers.js';
import type { PolicyGate } from '../policy/gate.js';
import { createAgentService } from './service.js';

function service(): { svc: ReturnType<typeof createAgentService>; created: CreateContainerRequest[] } {
  const created: CreateContainerRequest[] = [];
  const containers = { create: (req: CreateContainerRequest) => (created.push(req), Promise.resolve()) } as unknown as ContainerManager;
  const svc = createAgentService({ containers: () => Promise.resolve(containers), containerCount: () => created.length, gate: {} as PolicyGate, logger: pino({ level: 'silent' }), copyRoot: '/', initDaemon: false });
  return { svc, created };
}

const call = (fn: unknown, req: unknown): Promise<unknown> => (fn as (r: unknown, ctx: unknown) => Promise<unknown>)(req, {});

const cases: { name: string; sandboxHostname: string; specHostname: string; want: string }[] = [
  { name: 'a container without a hostname of its own gets the pod\'s', sandboxHostname: 'pod-a', specHostname: '', want: 'pod-a' },
  { name: 'a container\'s own hostname is kept', sandboxHostname: 'pod-a', specHostname: 'own', want: 'own' },
  { name: 'no pod hostname: nothing is set', sandboxHostname: '', specHostname: '', want: '' },
];
for (const tc of cases) {
  test(`CreateContainer: ${tc.name}`, async () => {
    const { svc, created } = service();
    await call(svc.createSandbox, create(CreateSandboxRequestSchema, { sandboxId: 's1', hostname: tc.sandboxHostname }));
    await call(svc.createContainer, create(CreateContainerRequestSchema, { containerId: 'c1', OCI: { Hostname: tc.specHostname } }));
    assert.equal(created[0]?.OCI?.Hostname, tc.want);
  });
}
