/**
 * The task service and sandbox state machine end to end over real ttrpc sockets, with the fake
 * agent in-process behind a fake hypervisor (processes run on the host with root "/").
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, createReadStream, openSync, writeSync, closeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { TtrpcServer, TtrpcClient, createClient } from '../../shared/ttrpc/index.js';
import { Task } from '../../shared/gen/containerd/task/v2/shim_pb.js';
import { Task as TaskV3 } from '../../shared/gen/containerd/task/v3/shim_pb.js';
import { Status } from '../../shared/gen/containerd/types/task/task_pb.js';
import { TaskExitSchema } from '../../shared/gen/containerd/events/task_pb.js';
import { fromBinary } from '@bufbuild/protobuf';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { silentLogger } from '../../shared/log/logger.js';
import { waitFor } from '../../shared/testing/harness.js';
import { isCocoletError } from '../../shared/errors/errors.js';
import { StatusCode } from '../../shared/errors/status.js';
import { defaultShimConfig } from './config.js';
import { RecordingSink } from './events.js';
import { Sandbox } from './sandbox.js';
import { taskService, registerTaskService } from './service.js';
import { FakeAgent } from './testing/fake-agent.js';
import type { VmHandle, VmLauncher } from './hypervisor.js';
import { hostRootfs } from './rootfs.js';
import type { OciSpec } from './bundle.js';

const base = mkdtempSync(join(tmpdir(), 'cocolet-shim-unit-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A hypervisor whose "VM" is a FakeAgent served in this process; `crash()` drops every agent connection. */
class InProcessHypervisor implements VmLauncher {
  agent: FakeAgent;
  stopped = false;
  private sockets = new Set<Socket>();
  private listener: NetServer | undefined;
  private kill!: () => void;
  constructor(opts: { denyStdout?: boolean } = {}) {
    this.agent = new FakeAgent(opts);
  }
  async start(req: { stateDir: string }): Promise<VmHandle> {
    const sock = join(req.stateDir, 'agent.sock');
    const server = new TtrpcServer({ logger: silentLogger() });
    server.register(AgentService, this.agent.service());
    this.listener = createServer((s) => {
      this.sockets.add(s);
      server.serveConnection(s);
    });
    await new Promise<void>((r) => this.listener!.listen(sock, r));
    const exited = new Promise<void>((r) => (this.kill = r));
    return { pid: 4242, agentSocketPath: sock, confidential: false, tee: 'none', exited, stop: () => this.crash() };
  }
  async crash(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.agent.killAll();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.listener?.close(() => r()) ?? r());
    this.kill();
  }
}

interface Rig {
  task: ReturnType<typeof createClient<typeof Task>>;
  events: RecordingSink;
  hv: InProcessHypervisor;
  shutdowns: number;
  bundle(id: string, spec: OciSpec): string;
  fifo(name: string): { path: string; text: Promise<string> };
  close(): Promise<void>;
}

async function rig(opts: { denyStdout?: boolean; v3?: boolean } = {}): Promise<Rig> {
  const dir = join(base, `r${n++}`);
  mkdirSync(dir);
  const cfg = defaultShimConfig();
  cfg.runtime.stateDir = join(dir, 'state');
  const hv = new InProcessHypervisor(opts);
  const events = new RecordingSink();
  const sandbox = new Sandbox({ id: 'sb', config: cfg, hypervisor: { name: 'in-process', rootfs: hostRootfs, network: 'none', agentOnHost: false, launcher: async () => hv }, events, logger: silentLogger() });
  const r = { shutdowns: 0 } as Rig;
  const server = new TtrpcServer({ logger: silentLogger() });
  registerTaskService(server, taskService({ sandbox, logger: silentLogger(), onShutdown: () => r.shutdowns++ }));
  const sock = join(dir, 'shim.sock');
  await server.listen(sock);
  const conn = await TtrpcClient.connect(sock);
  Object.assign(r, {
    task: opts.v3 ? (createClient(TaskV3, conn) as unknown as Rig['task']) : createClient(Task, conn),
    events,
    hv,
    bundle(id: string, spec: OciSpec) {
      const b = join(dir, 'bundles', id);
      mkdirSync(b, { recursive: true });
      writeFileSync(join(b, 'config.json'), JSON.stringify({ root: { path: '/' }, ...spec }));
      return b;
    },
    fifo(name: string) {
      const path = join(dir, name);
      spawnSync('mkfifo', [path]);
      const text = new Promise<string>((resolve) => {
        let s = '';
        createReadStream(path).on('data', (d) => (s += d.toString())).on('end', () => resolve(s)).on('error', () => resolve(s));
      });
      return { path, text };
    },
    async close() {
      conn.close();
      await server.shutdown({ graceMs: 0 });
      await sandbox.teardown();
    },
  });
  return r;
}

const sh = (script: string): OciSpec => ({ process: { args: ['/bin/sh', '-c', script], env: ['PATH=/usr/bin:/bin'] } });

for (const v3 of [false, true]) {
  test(`service (${v3 ? 'task.v3' : 'task.v2'}): a lone task runs, its output and exit code come back, events in order`, async () => {
    const r = await rig({ v3 });
    try {
      const out = r.fifo('out');
      const bundle = r.bundle('c1', sh('echo hello; echo oops >&2; exit 3'));
      const { pid } = await r.task.create({ id: 'c1', bundle, stdout: out.path });
      assert.equal(pid, 4242);
      assert.equal((await r.task.state({ id: 'c1' })).status, Status.CREATED);
      const waiting = r.task.wait({ id: 'c1' });
      await r.task.start({ id: 'c1' });
      const w = await waiting;
      assert.equal(w.exitStatus, 3);
      assert.equal(await out.text, 'hello\n');
      const st = await r.task.state({ id: 'c1' });
      assert.equal(st.status, Status.STOPPED);
      assert.equal(st.exitStatus, 3);
      const d = await r.task.delete({ id: 'c1' });
      assert.equal(d.exitStatus, 3);
      assert.deepEqual(r.events.topics, ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
      const exit = fromBinary(TaskExitSchema, r.events.events[2]!.value);
      assert.equal(r.events.events[2]!.typeUrl, 'containerd.events.TaskExit');
      assert.equal(exit.exitStatus, 3);
      assert.equal(exit.containerId, 'c1');
      assert.equal(r.hv.stopped, true, 'deleting the lone task stops its VM');
      await r.task.shutdown({ id: 'c1' });
      await new Promise((res) => setImmediate(res));
      assert.equal(r.shutdowns, 1);
    } finally {
      await r.close();
    }
  });
}

test('service: a running task reports Go zero exited_at, Wait stays pending while other calls complete, Kill ends it', async () => {
  const r = await rig();
  try {
    const bundle = r.bundle('c1', sh('exec sleep 30'));
    await r.task.create({ id: 'c1', bundle });
    await r.task.start({ id: 'c1' });
    let done = false;
    const waiting = r.task.wait({ id: 'c1' }).then((w) => ((done = true), w));
    for (let i = 0; i < 3; i++) {
      const st = await r.task.state({ id: 'c1' });
      assert.equal(st.status, Status.RUNNING);
      assert.equal(st.exitedAt?.seconds, -62135596800n);
    }
    assert.equal(done, false);
    await assert.rejects(r.task.delete({ id: 'c1' }), (e) => isCocoletError(e) && e.context.status === StatusCode.FAILED_PRECONDITION);
    await r.task.kill({ id: 'c1', signal: 9 });
    assert.equal((await waiting).exitStatus, 137);
    await r.task.delete({ id: 'c1' });
  } finally {
    await r.close();
  }
});

test('service: exec runs in the task, with exec events in order', async () => {
  const r = await rig();
  try {
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', sh('exec sleep 30')) });
    await r.task.start({ id: 'c1' });
    const out = r.fifo('exec-out');
    const spec = Buffer.from(JSON.stringify({ args: ['/bin/sh', '-c', 'echo from-exec; exit 7'], env: ['PATH=/bin'], cwd: '/' }));
    await r.task.exec({ id: 'c1', execId: 'e1', stdout: out.path, spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: spec } });
    await r.task.start({ id: 'c1', execId: 'e1' });
    assert.equal((await r.task.wait({ id: 'c1', execId: 'e1' })).exitStatus, 7);
    assert.equal(await out.text, 'from-exec\n');
    await r.task.delete({ id: 'c1', execId: 'e1' });
    await r.task.kill({ id: 'c1', signal: 15, all: true });
    assert.equal((await r.task.wait({ id: 'c1' })).exitStatus, 143);
    assert.deepEqual(r.events.topics, ['/tasks/create', '/tasks/start', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit', '/tasks/delete', '/tasks/exit']);
  } finally {
    await r.close();
  }
});

test('service: exec with stdin, stdout and an empty stderr — every FIFO ends, stdin reaches the process before its close', { timeout: 30_000 }, async () => {
  const r = await rig();
  try {
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', sh('exec sleep 30')) });
    await r.task.start({ id: 'c1' });
    const out = r.fifo('x-out');
    // containerd keeps reading stderr until every writer has closed it: an exec that writes no
    // stderr must still end it, or ExecSync never returns (issue 14).
    const err = r.fifo('x-err');
    const inPath = join(base, `x-in-${n++}`);
    spawnSync('mkfifo', [inPath]);
    const spec = Buffer.from(JSON.stringify({ args: ['/bin/cat'], env: ['PATH=/bin:/usr/bin'], cwd: '/' }));
    await r.task.exec({ id: 'c1', execId: 'e1', stdin: inPath, stdout: out.path, stderr: err.path, spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: spec } });
    await r.task.start({ id: 'c1', execId: 'e1' });
    // As containerd does: write, close its side of the FIFO, then CloseIO at once.
    const w = openSync(inPath, 'w');
    writeSync(w, 'line one\nline two\n');
    closeSync(w);
    await r.task.closeIO({ id: 'c1', execId: 'e1', stdin: true });
    assert.equal((await r.task.wait({ id: 'c1', execId: 'e1' })).exitStatus, 0, 'cat saw the end of its input');
    assert.equal(await out.text, 'line one\nline two\n', 'all input came through before the close');
    assert.equal(await err.text, '', 'the empty stderr FIFO was ended');
    await r.task.delete({ id: 'c1', execId: 'e1' });
    await r.task.kill({ id: 'c1', signal: 9, all: true });
    await r.task.wait({ id: 'c1' });
  } finally {
    await r.close();
  }
});

test('service: a CRI pod — the sandbox boots the VM, a container joins it, removal order works', async () => {
  const r = await rig();
  try {
    const sbAnn = { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': 'sb' };
    const cAnn = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb' };
    await assert.rejects(r.task.create({ id: 'early', bundle: r.bundle('early', { ...sh('true'), annotations: cAnn }) }), (e) => isCocoletError(e) && e.context.status === StatusCode.FAILED_PRECONDITION);
    await r.task.create({ id: 'sb', bundle: r.bundle('sb', { annotations: sbAnn }) });
    await r.task.start({ id: 'sb' });
    const out = r.fifo('c-out');
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', { ...sh('echo in-pod'), annotations: cAnn }), stdout: out.path });
    await r.task.start({ id: 'c1' });
    assert.equal((await r.task.wait({ id: 'c1' })).exitStatus, 0);
    assert.equal(await out.text, 'in-pod\n');
    await r.task.delete({ id: 'c1' });
    assert.equal(r.hv.stopped, false, 'the VM outlives its containers');
    await r.task.kill({ id: 'sb', signal: 9 });
    assert.equal((await r.task.wait({ id: 'sb' })).exitStatus, 137);
    await r.task.delete({ id: 'sb' });
    assert.equal(r.hv.stopped, true);
  } finally {
    await r.close();
  }
});

test('service: when the VM dies every running task exits (137) and the exits are published', async () => {
  const r = await rig();
  try {
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', sh('exec sleep 30')) });
    await r.task.start({ id: 'c1' });
    const waiting = r.task.wait({ id: 'c1' });
    await r.hv.crash();
    assert.equal((await waiting).exitStatus, 137);
    assert.ok(r.events.topics.includes('/tasks/exit'));
    await r.task.delete({ id: 'c1' });
  } finally {
    await r.close();
  }
});

test('service: output the guest policy keeps from the host is not copied, the exit still is', async () => {
  const r = await rig({ denyStdout: true });
  try {
    const out = r.fifo('denied-out');
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', sh('echo secret')), stdout: out.path });
    await r.task.start({ id: 'c1' });
    assert.equal((await r.task.wait({ id: 'c1' })).exitStatus, 0);
    // The shim may have opened and closed the FIFO already (the reader then ended), or never
    // opened it: open our own writer end without blocking (a blocking open would hang the test
    // process when the reader is gone) until the reader has ended, then check nothing came.
    let ended = false;
    void out.text.finally(() => (ended = true));
    await waitFor(
      () => {
        if (ended) return true;
        try {
          closeSync(openSync(out.path, constants.O_WRONLY | constants.O_NONBLOCK));
          return true;
        } catch {
          return false; // ENXIO: the reader has not opened yet
        }
      },
      { what: 'the stdout FIFO reader to end' },
    );
    assert.equal(await out.text, '');
  } finally {
    await r.close();
  }
});

test('service: pause/resume and an OOM in the guest become containerd events', async () => {
  const r = await rig();
  try {
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', sh('exec sleep 30')) });
    await r.task.start({ id: 'c1' });
    await r.task.pause({ id: 'c1' });
    assert.equal((await r.task.state({ id: 'c1' })).status, Status.PAUSED);
    await r.task.resume({ id: 'c1' });
    assert.equal((await r.task.state({ id: 'c1' })).status, Status.RUNNING);
    r.hv.agent.oom('c1');
    await waitFor(() => r.events.topics.includes('/tasks/oom'), { what: 'the OOM event' });
    assert.deepEqual(r.events.topics, ['/tasks/create', '/tasks/start', '/tasks/paused', '/tasks/resumed', '/tasks/oom']);
    assert.equal((await r.task.pids({ id: 'c1' })).processes[0]?.pid, 4242);
    const conn = await r.task.connect({ id: 'c1' });
    assert.equal(conn.shimPid, process.pid);
    assert.equal(conn.taskPid, 4242);
    await r.task.kill({ id: 'c1', signal: 9 });
    await r.task.wait({ id: 'c1' });
  } finally {
    await r.close();
  }
});

test('Stats of a task answers cgroup v1 Metrics from the agent', async () => {
  const r = await rig();
  try {
    await r.task.create({ id: 'c1', bundle: r.bundle('c1', sh('true')) });
    const res = await r.task.stats({ id: 'c1' });
    assert.equal(res.stats?.typeUrl, 'io.containerd.cgroups.v1.Metrics');
  } finally {
    await r.close();
  }
});

const errors = [
  { name: 'Checkpoint is unimplemented', call: (r: Rig) => r.task.checkpoint({ id: 'x' }), status: StatusCode.UNIMPLEMENTED },
  { name: 'Stats of an unknown task is not found, so containerd skips it instead of failing ListContainerStats', call: (r: Rig) => r.task.stats({ id: 'nope' }), status: StatusCode.NOT_FOUND },
  { name: 'State of an unknown task is not found', call: (r: Rig) => r.task.state({ id: 'nope' }), status: StatusCode.NOT_FOUND },
  { name: 'Start of an unknown exec is not found', call: (r: Rig) => r.task.start({ id: 'nope', execId: 'e' }), status: StatusCode.NOT_FOUND },
  { name: 'Create from a missing bundle is invalid', call: (r: Rig) => r.task.create({ id: 'x', bundle: '/nonexistent/bundle' }), status: StatusCode.INVALID_ARGUMENT },
];
for (const tc of errors) {
  test(`service errors: ${tc.name}`, async () => {
    const r = await rig();
    try {
      await assert.rejects(tc.call(r), (e) => isCocoletError(e) && e.context.status === tc.status);
    } finally {
      await r.close();
    }
  });
}

