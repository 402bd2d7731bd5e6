/**
 * cocolet-agent as a local process (the `process` hypervisor) on a unix socket, driven by a
 * cocolet ttrpc client: a real runc container lifecycle with the image pulled by the agent from a
 * real docker-registry; every request the default confidential policy denies is tried and denied;
 * hostile inputs are refused and the agent keeps serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { join } from 'node:path';
import { connect } from 'node:net';
import { ErrorCode } from '../../shared/errors/index.js';
import { WriteStreamRequestSchema } from '../../shared/gen/kata/agent_pb.js';
import { HealthCheckResponse_ServingStatus } from '../../shared/gen/kata/health_pb.js';
import { Harness, have, isRoot, processesMatching, readIfExists } from '../../shared/testing/harness.js';
import { existsSync } from 'node:fs';
import { ProcessHypervisor } from '../../host/vmm/process.js';
import type { VmHandle } from '../../host/vmm/hypervisor.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { connectAgent, containerRequest, initdataToml, readAll, type AgentClient } from './agent-client.js';
import { startRegistry, type TestRegistry } from './registry.js';

/** Every request type, and containers may share the pod's PID namespace. */
const OPEN_POLICY = { ...PERMISSIVE_POLICY, containers: [{ ...PERMISSIVE_POLICY.containers[0]!, podPidNamespace: true }] };
const missing = !isRoot() ? 'needs root (runc, overlay mounts)' : ['runc', 'docker-registry', 'skopeo'].find((c) => !have(c));
const skip = missing ? (missing.startsWith('needs') ? missing : `needs ${missing} (scripts/setup installs it)`) : false;

/** Sends one request frame of 5 MiB (over ttrpc's 4 MiB limit) on a raw socket; true when the agent answers on that stream. */
function oversizedFrameAnswered(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const len = 5 * 1024 * 1024;
    const hdr = Buffer.alloc(10);
    hdr.writeUInt32BE(len, 0);
    hdr.writeUInt32BE(1, 4);
    hdr.writeUInt8(1, 8);
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 10) {
        s.destroy();
        resolve(got.readUInt32BE(4) === 1 && got.readUInt8(8) === 2);
      }
    });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(false));
    s.write(hdr);
    s.write(Buffer.alloc(len));
  });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return (e as { code?: string }).code ?? 'UNKNOWN';
  }
}

describe('cocolet-agent as a process', { skip, timeout: 180_000 }, () => {
  const h = new Harness();
  let reg: TestRegistry;
  let vmOpen: VmHandle;
  let vmConf: VmHandle;
  let open: AgentClient;
  let conf: AgentClient;
  let base: string;

  before(async () => {
    reg = await startRegistry(h);
    const hv = new ProcessHypervisor();
    base = h.tempDir('cocolet-agent-proc-');
    vmOpen = await hv.start({ id: 'open', stateDir: join(base, 'open'), initdata: initdataToml({ policy: OPEN_POLICY, insecureRegistries: [reg.host] }) });
    h.defer('agent open', () => vmOpen.stop());
    vmConf = await hv.start({ id: 'conf', stateDir: join(base, 'conf'), initdata: initdataToml({ insecureRegistries: [reg.host] }) });
    h.defer('agent conf', () => vmConf.stop());
    open = await connectAgent(vmOpen.agentSocketPath);
    h.defer('client open', () => open.conn.close());
    conf = await connectAgent(vmConf.agentSocketPath);
    h.defer('client conf', () => conf.conn.close());
  });
  after(() => h.dispose());

  test('health check answers SERVING on both agents, which say they are not confidential', async () => {
    for (const c of [open, conf]) assert.equal((await c.health.check({ service: '' })).status, HealthCheckResponse_ServingStatus.SERVING);
    assert.equal(vmOpen.confidential, false);
    assert.match(readIfExists(vmOpen.consoleLogPath), /NOT confidential/);
  });

  test('container lifecycle under runc: stdin, stdout, stderr, exit code', async () => {
    await open.agent.createSandbox({ sandboxId: 'sb1', hostname: 'pod' });
    await open.agent.createContainer(containerRequest('c1', reg.image, ['/bin/sh', '-c', 'echo hello; echo oops >&2; read x; echo got $x; exit 3']));
    await open.agent.startContainer({ containerId: 'c1' });
    assert.equal((await open.agent.writeStdin({ containerId: 'c1', execId: '', data: Buffer.from('abc\n') })).len, 4);
    await open.agent.closeStdin({ containerId: 'c1', execId: '' });
    assert.equal(await readAll(open, 'c1', '', 'stdout'), 'hello\ngot abc\n');
    assert.equal(await readAll(open, 'c1', '', 'stderr'), 'oops\n');
    assert.equal((await open.agent.waitProcess({ containerId: 'c1', execId: '' })).status, 3);
    await open.agent.removeContainer({ containerId: 'c1', timeout: 5 });
  });

  test('exec, stats, pause/resume, update, signal and remove on a running container', async () => {
    await open.agent.createContainer(containerRequest('c2', reg.image, ['/bin/sleep', '1000']));
    await open.agent.startContainer({ containerId: 'c2' });
    await open.agent.execProcess({ containerId: 'c2', execId: 'e1', process: { Args: ['/bin/sh', '-c', 'echo from-exec; exit 5'], Env: ['PATH=/bin'], Cwd: '/' } });
    assert.equal(await readAll(open, 'c2', 'e1', 'stdout'), 'from-exec\n');
    assert.equal((await open.agent.waitProcess({ containerId: 'c2', execId: 'e1' })).status, 5);
    const st = await open.agent.statsContainer({ containerId: 'c2' });
    assert.ok((st.cgroupStats?.pidsStats?.current ?? 0n) >= 1n, 'pids counted');
    await open.agent.pauseContainer({ containerId: 'c2' });
    await open.agent.resumeContainer({ containerId: 'c2' });
    await open.agent.updateContainer({ containerId: 'c2', resources: { Pids: { Limit: 64n } } });
    await open.agent.signalProcess({ containerId: 'c2', execId: '', signal: 9 });
    assert.equal((await open.agent.waitProcess({ containerId: 'c2', execId: '' })).status, 137);
    await open.agent.removeContainer({ containerId: 'c2', timeout: 5 });
    const d = await open.agent.getGuestDetails({ memBlockSize: true });
    assert.deepEqual(d.agentDetails?.storageHandlers, ['image_guest_pull']);
    await open.agent.destroySandbox({});
  });

  test('a stop signal racing the container\'s own exit is never an error (the exit comes through WaitProcess)', async () => {
    // The init ignores SIGTERM and exits by itself while stop signals keep arriving: some reach
    // runc after the init has died and before the agent has seen `runc run` end, when runc answers
    // "container not running". That is the exit, not a failed stop (containerd's StopContainer
    // would fail, or wait for an exit event, on an error here).
    for (let round = 0; round < 3; round++) {
      const id = `race${round}`;
      await open.agent.createContainer(containerRequest(id, reg.image, ['/bin/sh', '-c', 'trap "" TERM; sleep 0.5; exit 7']));
      await open.agent.startContainer({ containerId: id });
      let exited = false;
      const failures: string[] = [];
      const status = open.agent.waitProcess({ containerId: id, execId: '' }).then((r) => ((exited = true), r.status));
      const stopper = async (): Promise<void> => {
        while (!exited) await open.agent.signalProcess({ containerId: id, execId: '', signal: 15 }).catch((e: unknown) => void failures.push((e as Error).message));
      };
      await Promise.all([stopper(), stopper(), stopper()]);
      assert.equal(await status, 7, 'the container exits by itself, with its own status');
      assert.deepEqual(failures, [], 'no stop signal failed');
      await open.agent.signalProcess({ containerId: id, execId: '', signal: 15 });
      await open.agent.removeContainer({ containerId: id, timeout: 5 });
    }
  });

  test('containers asking for the pod\'s PID namespace share the agent\'s pod namespace; another has its own; a seccomp filter is applied', async () => {
    // pid 1's command line, then every process name the container sees, one per line
    const names = ['/bin/sh', '-c', "tr '\\0' ' ' </proc/1/cmdline; echo; for p in /proc/[0-9]*; do cat $p/comm; done 2>/dev/null | sort -u"];
    const run = async (id: string, args: string[], extra: Record<string, unknown>): Promise<{ out: string; status: number }> => {
      await open.agent.createContainer(containerRequest(id, reg.image, args, extra));
      await open.agent.startContainer({ containerId: id });
      const out = await readAll(open, id, '', 'stdout');
      const status = (await open.agent.waitProcess({ containerId: id, execId: '' })).status;
      await open.agent.removeContainer({ containerId: id, timeout: 5 });
      return { out, status };
    };
    await open.agent.createContainer(containerRequest('pid1', reg.image, ['/bin/sleep', '1000'], { sandboxPidns: true }));
    await open.agent.startContainer({ containerId: 'pid1' });
    const shared = await run('pid2', names, { sandboxPidns: true });
    const sleeps = (out: string): boolean => out.split('\n').includes('sleep');
    assert.match(shared.out.split('\n')[0]!, /cat <&3/, `pid 1 is the agent's holder: ${shared.out}`);
    assert.ok(sleeps(shared.out), `the other container's sleep is seen: ${shared.out}`);
    const own = await run('pid3', names, {});
    assert.doesNotMatch(own.out.split('\n')[0]!, /cat <&3/, `pid 1 is its own: ${own.out}`);
    assert.ok(!sleeps(own.out), `only its own processes: ${own.out}`);
    await open.agent.removeContainer({ containerId: 'pid1', timeout: 1 });
    // a Localhost-style profile that blocks chmod: the container's chmod fails with EPERM
    const seccomp = { DefaultAction: 'SCMP_ACT_ALLOW', Syscalls: [{ Names: ['chmod', 'fchmodat', 'fchmodat2'], Action: 'SCMP_ACT_ERRNO' }] };
    const script = ['/bin/sh', '-c', 'touch /tmp/f; chmod 600 /tmp/f 2>&1; echo rc=$?; grep Seccomp: /proc/self/status'];
    const blocked = await run('sc1', script, { OCI: { Version: '1.0.2', Process: { Args: script, Env: ['PATH=/bin'], Cwd: '/' }, Root: { Path: 'rootfs' }, Hostname: 'pod', Linux: { Seccomp: seccomp } } });
    assert.match(blocked.out, /Operation not permitted/);
    assert.match(blocked.out, /rc=1/);
    assert.match(blocked.out, /Seccomp:\s+2/, 'filter mode');
  });

  test('CopyFile into the shared folder, then bind-mounted into a container', async () => {
    const path = `/run/kata-containers/shared/containers/${'a'.repeat(64)}-0123456789abcdef-hosts`;
    await open.agent.copyFile({ path, data: Buffer.from('10.0.0.1 db\n'), fileSize: 12n, fileMode: 0o100644, dirMode: 0o40755, uid: 0, gid: 0 });
    await open.agent.createContainer(containerRequest('c3', reg.image, ['/bin/cat', '/etc/hosts'], {
      OCI: { Process: { Args: ['/bin/cat', '/etc/hosts'], Env: ['PATH=/bin'] }, Mounts: [{ destination: '/etc/hosts', source: path, type: 'bind', options: ['ro'] }] },
    }));
    await open.agent.startContainer({ containerId: 'c3' });
    assert.equal(await readAll(open, 'c3', '', 'stdout'), '10.0.0.1 db\n');
    assert.equal((await open.agent.waitProcess({ containerId: 'c3', execId: '' })).status, 0);
    await open.agent.removeContainer({ containerId: 'c3', timeout: 5 });
  });

  test('GetOOMEvent reports a container killed by its memory limit', async (t) => {
    const oom = open.agent.getOOMEvent({}, { timeoutMs: 60_000 });
    oom.catch(() => undefined);
    await open.agent.createContainer(containerRequest('oom', reg.image, ['/bin/sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo $x | wc -c'], {
      OCI: { Process: { Args: ['/bin/sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'], Env: ['PATH=/bin'] }, Linux: { Resources: { Memory: { Limit: 16n * 1024n * 1024n } } } },
    }));
    await open.agent.startContainer({ containerId: 'oom' });
    const status = (await open.agent.waitProcess({ containerId: 'oom', execId: '' })).status;
    if (status === 0) {
      t.skip('the memory limit was not enforced on this host (no memory cgroup controller)');
      await open.agent.removeContainer({ containerId: 'oom', timeout: 5 });
      return;
    }
    assert.equal((await oom).containerId, 'oom');
    await open.agent.removeContainer({ containerId: 'oom', timeout: 5 });
  });

  test('GetMetrics counts policy decisions', async () => {
    const m = (await open.agent.getMetrics({})).metrics;
    assert.match(m, /cocolet_agent_policy_decisions_total\{rpc="CreateContainer",result="allowed"\} \d+/);
  });

  test('confidential default policy: lifecycle allowed, host access denied', async () => {
    await conf.agent.createSandbox({ sandboxId: 'sb2' });
    await conf.agent.createContainer(containerRequest('k1', reg.image, ['/bin/sh', '-c', 'echo secret; exit 7']));
    await conf.agent.startContainer({ containerId: 'k1' });
    assert.equal((await conf.agent.waitProcess({ containerId: 'k1', execId: '' })).status, 7);
    const denied: [string, Promise<unknown>][] = [
      ['ExecProcess', conf.agent.execProcess({ containerId: 'k1', execId: 'x', process: { Args: ['/bin/sh'] } })],
      ['ReadStdout', conf.agent.readStdout({ containerId: 'k1', execId: '', len: 100 })],
      ['ReadStderr', conf.agent.readStderr({ containerId: 'k1', execId: '', len: 100 })],
      ['WriteStdin', conf.agent.writeStdin({ containerId: 'k1', execId: '', data: Buffer.from('x') })],
      ['CloseStdin', conf.agent.closeStdin({ containerId: 'k1', execId: '' })],
      ['SetPolicy', conf.agent.setPolicy({ policy: JSON.stringify(PERMISSIVE_POLICY) })],
      ['CopyFile outside allowed paths', conf.agent.copyFile({ path: '/etc/shadow', data: Buffer.from('x'), fileSize: 1n, fileMode: 0o100644 })],
      ['PauseContainer', conf.agent.pauseContainer({ containerId: 'k1' })],
      ['GetMetrics', conf.agent.getMetrics({})],
      ['host mount', conf.agent.createContainer(containerRequest('k2', reg.image, ['/bin/true'], { OCI: { Process: { Args: ['/bin/true'] }, Mounts: [{ destination: '/host', source: '/', type: 'bind', options: ['rbind'] }] } as never }))],
      ['privileged', conf.agent.createContainer(containerRequest('k3', reg.image, ['/bin/true'], { OCI: { Process: { Args: ['/bin/true'], Capabilities: { Bounding: ['CAP_SYS_ADMIN'], Effective: ['CAP_SYS_ADMIN'], Permitted: ['CAP_SYS_ADMIN'] } } } as never }))],
      ['guest hooks', conf.agent.createSandbox({ sandboxId: 'sb3', guestHookPath: '/usr/share/oci/hooks' })],
    ];
    for (const [name, p] of denied) assert.equal(await code(p), ErrorCode.PermissionDenied, name);
    try {
      await conf.agent.execProcess({ containerId: 'k1', execId: 'x', process: { Args: ['/bin/sh'] } });
    } catch (e) {
      assert.match((e as Error).message, /ExecProcess is blocked by policy: rules\.ExecProcess\.allow/);
    }
    await conf.agent.removeContainer({ containerId: 'k1', timeout: 5 });
    await conf.agent.destroySandbox({});
  });

  test('hostile inputs are refused and the agent keeps serving', async () => {
    const cases: [string, () => Promise<unknown>, string][] = [
      ['container id traversal', () => open.agent.createContainer(containerRequest('../../etc', reg.image, ['/bin/true'])), ErrorCode.InvalidArgument],
      ['unknown container', () => open.agent.startContainer({ containerId: 'nope' }), ErrorCode.NotFound],
      ['CopyFile traversal', () => open.agent.copyFile({ path: '/run/kata-containers/shared/containers/../../../etc/x', data: Buffer.from('x'), fileSize: 1n, fileMode: 0o100644 }), ErrorCode.PermissionDenied],
      ['bad image reference', () => open.agent.createContainer(containerRequest('h1', 'UPPER/../x', ['/bin/true'])), ErrorCode.InvalidArgument],
      ['host mount under permissive policy', () => open.agent.createContainer(containerRequest('h2', reg.image, ['/bin/true'], { OCI: { Process: { Args: ['/bin/true'] }, Mounts: [{ destination: '/h', source: '/etc', type: 'bind', options: [] }] } as never })), ErrorCode.PermissionDenied],
      ['unimplemented RPC', () => open.agent.setIPTables({}), ErrorCode.Unimplemented],
    ];
    for (const [name, p, want] of cases) assert.equal(await code(p()), want, name);
    // Undecodable payloads: refused by the ttrpc layer before any handler (status as Go ttrpc answers unmarshal errors).
    for (const [name, payload] of [
      ['malformed protobuf', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])],
      ['truncated message', toBinary(WriteStreamRequestSchema, create(WriteStreamRequestSchema, { containerId: 'c' })).subarray(0, 1)],
    ] as const) {
      assert.notEqual(await code(open.conn.unary('grpc.AgentService', 'WriteStdin', payload)), 'OK', name);
    }
    assert.ok(await oversizedFrameAnswered(vmOpen.agentSocketPath), 'oversized frame answered');
    assert.equal((await open.health.check({ service: '' })).status, HealthCheckResponse_ServingStatus.SERVING);
  });

  test('SetPolicy, when the policy allows it, replaces the policy for later requests', async () => {
    await open.agent.setPolicy({ policy: JSON.stringify({ ...PERMISSIVE_POLICY, name: 'no-exec', rules: { ...PERMISSIVE_POLICY.rules, ExecProcess: { allow: false } } }) });
    assert.equal(await code(open.agent.execProcess({ containerId: 'x', execId: 'y', process: { Args: ['/bin/true'] } })), ErrorCode.PermissionDenied);
    assert.equal(await code(open.agent.setPolicy({ policy: '{"version":1,"default":"allow"}' })), ErrorCode.InvalidArgument);
  });

  test('stopping the agents removes their containers, processes and state', async () => {
    await open.agent.createContainer(containerRequest('left', reg.image, ['/bin/sleep', '1000']));
    await open.agent.startContainer({ containerId: 'left' });
    open.conn.close();
    conf.conn.close();
    await vmOpen.stop();
    await vmConf.stop();
    assert.deepEqual(processesMatching(join(base, 'open')), []);
    assert.deepEqual(processesMatching('sleep 1000'), []);
    assert.equal(existsSync(join(base, 'open')), false);
  });
});
