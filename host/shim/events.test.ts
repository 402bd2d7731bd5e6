import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { TtrpcServer } from '../../shared/ttrpc/index.js';
import { Events } from '../../shared/gen/containerd/services/events/v1/events_pb.js';
import { TaskExitSchema, TaskStartSchema, TaskCreateSchema } from '../../shared/gen/containerd/events/task_pb.js';
import { silentLogger } from '../../shared/log/logger.js';
import { ForwardPublisher, NAMESPACE_METADATA_KEY } from './events.js';

const dir = mkdtempSync(join(tmpdir(), 'cocolet-shim-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Got {
  topic: string;
  typeUrl: string;
  namespace: string;
  metaNs: string | undefined;
  value: Uint8Array;
}

async function containerdEvents(sock: string): Promise<{ got: Got[]; server: TtrpcServer }> {
  const got: Got[] = [];
  const server = new TtrpcServer({ logger: silentLogger() });
  server.register(Events, {
    async forward(req, ctx) {
      const e = req.envelope!;
      got.push({ topic: e.topic, typeUrl: e.event!.typeUrl, namespace: e.namespace, metaNs: ctx.metadata.get(NAMESPACE_METADATA_KEY)[0], value: e.event!.value });
      return {};
    },
  });
  await server.listen(sock);
  return { got, server };
}

test('events: forwarded in order with bare type URLs, the namespace in the envelope and in ttrpc metadata', async () => {
  const sock = join(dir, 'a.sock');
  const { got, server } = await containerdEvents(sock);
  const pub = new ForwardPublisher({ ttrpcAddress: sock, namespace: 'k8s.io', logger: silentLogger() });
  try {
    pub.publish('/tasks/create', TaskCreateSchema, { containerId: 'c1', pid: 7 });
    pub.publish('/tasks/start', TaskStartSchema, { containerId: 'c1', pid: 7 });
    pub.publish('/tasks/exit', TaskExitSchema, { containerId: 'c1', id: 'c1', pid: 7, exitStatus: 3 });
    await pub.flush();
    assert.deepEqual(got.map((g) => g.topic), ['/tasks/create', '/tasks/start', '/tasks/exit']);
    assert.deepEqual(got.map((g) => g.typeUrl), ['containerd.events.TaskCreate', 'containerd.events.TaskStart', 'containerd.events.TaskExit']);
    assert.ok(got.every((g) => g.namespace === 'k8s.io' && g.metaNs === 'k8s.io'));
    assert.equal(fromBinary(TaskExitSchema, got[2]!.value).exitStatus, 3);
  } finally {
    pub.close();
    await server.shutdown({ graceMs: 0 }).catch(() => {});
  }
});

test('events: published while containerd is away, delivered (in order) once it is back', async () => {
  const sock = join(dir, 'b.sock');
  const pub = new ForwardPublisher({ ttrpcAddress: sock, namespace: 'default', logger: silentLogger() });
  pub.publish('/tasks/start', TaskStartSchema, { containerId: 'c2' });
  pub.publish('/tasks/exit', TaskExitSchema, { containerId: 'c2', exitStatus: 137 });
  const { got, server } = await containerdEvents(sock);
  try {
    await pub.flush();
    assert.deepEqual(got.map((g) => g.topic), ['/tasks/start', '/tasks/exit']);
  } finally {
    pub.close();
    await server.shutdown({ graceMs: 0 }).catch(() => {});
  }
});
