/**
 * The hostile-host catalogue: what a malicious host would send to the agent of a confidential
 * sandbox, against the real cocolet-agent process (ttrpc over its unix socket, runc, an image
 * pulled from a real docker-registry). Under the built-in confidential default every request is
 * denied with PERMISSION_DENIED naming its rule, and none reaches runc (no bundle is written).
 * The same run shows the allowed path: a policy generated from a pod (`cocolet policy generate`'s
 * code) admits that pod's container, which runs, and denies each step away from it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import { ErrorCode } from '../../shared/errors/index.js';
import { Harness, have, isRoot } from '../../shared/testing/harness.js';
import { ProcessHypervisor } from '../../host/vmm/process.js';
import type { VmHandle } from '../../host/vmm/hypervisor.js';
import { generatePolicy } from '../../shared/agent-policy/generate.js';
import { renderInitdata } from '../../shared/agent-policy/initdata.js';
import { PERMISSIVE_POLICY } from '../../shared/agent-policy/defaults.js';
import { CRI_DEFAULT_MOUNTS } from '../../guest/policy/testing.js';
import { connectAgent, initdataToml, type AgentClient } from './agent-client.js';
import { startRegistry, type TestRegistry } from './registry.js';

const missing = !isRoot() ? 'needs root (runc, overlay mounts)' : ['runc', 'docker-registry', 'skopeo'].find((c) => !have(c));
const skip = missing ? (missing.startsWith('needs') ? missing : `needs ${missing} (scripts/setup installs it)`) : false;

const SHARED = '/run/kata-containers/shared/containers';
const SHARED_FILE = `${SHARED}/${'e'.repeat(64)}-0123456789abcdef-hosts`;
type Init = Record<string, unknown>;

/** A CreateContainer request as the shim sends it for a CRI container (image pulled in the guest). */
function cri(id: string, image: string, oci: Init = {}, extra: Init = {}): CreateContainerRequest {
  const { Process: proc, ...rest } = oci;
  return create(CreateContainerRequestSchema, {
    containerId: id, execId: id,
    storages: [{ driver: 'image_guest_pull', source: image, mountPoint: `/run/kata-containers/${id}/rootfs` }],
    OCI: {
      Version: '1.0.2', Root: { Path: 'rootfs' }, Hostname: 'pod',
      Process: { Args: ['/bin/sh', '-c', 'exit 0'], Env: ['PATH=/bin'], Cwd: '/', ...(proc as Init | undefined) },
      Mounts: CRI_DEFAULT_MOUNTS,
      Linux: { Namespaces: [{ Type: 'pid' }, { Type: 'ipc' }, { Type: 'uts' }, { Type: 'mount' }, { Type: 'network' }] },
      ...rest,
    },
    ...extra,
  } as never);
}

const withMount = (destination: string, type: string, source: string, options: string[]): Init => ({ Mounts: [...CRI_DEFAULT_MOUNTS, { destination, type, source, options }] });
/** A seccomp filter of the host's making (the Kata message has no listener path: the action and flags are what a host can send). */
const filter = (DefaultAction: string, Syscalls: Init[], Flags: string[] = []): Init => ({ Process: { Args: ['/bin/true'] }, Linux: { Seccomp: { DefaultAction, Syscalls, Flags } } });
const capSet = (caps: string[], which: 'Bounding' | 'Ambient' = 'Bounding'): Init => ({ Process: { Args: ['/bin/true'], Capabilities: { [which]: caps } } });

async function denial(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
    return { code: 'OK', message: '' };
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'UNKNOWN', message: (e as Error).message };
  }
}

/** Every file under dir whose path contains one of the ids (a denied request must leave none). */
function traces(dir: string, ids: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (ids.some((id) => e.name === id)) out.push(p);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

describe('hostile host against the agent of a confidential sandbox', { skip, timeout: 180_000 }, () => {
  const h = new Harness();
  let reg: TestRegistry;
  let digest: string;
  let vmConf: VmHandle;
  let vmGen: VmHandle;
  let conf: AgentClient;
  let gen: AgentClient;
  let base: string;
  let repo: string;

  before(async () => {
    reg = await startRegistry(h);
    repo = reg.image.replace(/:[^:/]+$/, '');
    const res = await fetch(`http://${reg.host}/v2/cocolet/busybox/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    digest = res.headers.get('docker-content-digest') ?? '';
    assert.match(digest, /^sha256:[0-9a-f]{64}$/, 'the registry names the manifest digest');
    const hv = new ProcessHypervisor();
    base = h.tempDir('cocolet-hostile-');
    // the built-in confidential default: init-data without a policy
    vmConf = await hv.start({ id: 'conf', stateDir: join(base, 'conf'), initdata: initdataToml({ insecureRegistries: [reg.host] }) });
    h.defer('agent conf', () => vmConf.stop());
    // a policy generated from the pod below, delivered in the init-data the generator renders
    const pod = {
      kind: 'Pod', metadata: { name: 'hostile-host' },
      spec: {
        containers: [
          { name: 'app', image: `${repo}@${digest}`, command: ['/bin/sh', '-c'], args: ['grep -q 10.0.0.1 /etc/hosts && test "$MODE" = prod && test "$(id -u)" = 1000'], env: [{ name: 'MODE', value: 'prod' }], securityContext: { runAsUser: 1000, runAsGroup: 1000 } },
          { name: 'elsewhere', image: `${repo}@sha256:${'0'.repeat(64)}`, command: ['/bin/true'] },
          // no command: the image's entrypoint (none) with these args, checked after the pull
          { name: 'defaults', image: reg.image, args: ['/bin/sh', '-c', 'exit 4'] },
        ],
      },
    };
    const { policy } = generatePolicy(pod);
    vmGen = await hv.start({ id: 'gen', stateDir: join(base, 'gen'), initdata: Buffer.from(renderInitdata({ policy, settings: { insecureRegistries: [reg.host] } })) });
    h.defer('agent gen', () => vmGen.stop());
    conf = await connectAgent(vmConf.agentSocketPath);
    h.defer('client conf', () => conf.conn.close());
    gen = await connectAgent(vmGen.agentSocketPath);
    h.defer('client gen', () => gen.conn.close());
    await conf.agent.createSandbox({ sandboxId: 'sb', hostname: 'pod' });
    await gen.agent.createSandbox({ sandboxId: 'sb', hostname: 'pod' });
  });
  after(() => h.dispose());

  test('the default policy denies every request of the catalogue, naming its rule, and none reaches runc', async () => {
    const a = conf.agent;
    const img = reg.image;
    // a container the host legitimately started, for the requests aimed at a running one
    await a.createContainer(cri('victim', img, { Process: { Args: ['/bin/sleep', '1000'] } }));
    await a.startContainer({ containerId: 'victim' });
    const catalogue: [string, () => Promise<unknown>, string][] = [
      // the review's request: extra proc at /hostproc, read-write sysfs, a host file over /bin/sh
      ['proc at /hostproc + rw sysfs + host file over /bin/sh', () => a.createContainer(cri('h01', img, { Mounts: [...CRI_DEFAULT_MOUNTS, { destination: '/hostproc', type: 'proc', source: 'proc', options: [] }, { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['rw'] }, { destination: '/bin/sh', type: 'bind', source: SHARED_FILE, options: ['rbind'] }] })), 'CreateContainer.mounts'],
      ['extra proc mount at /hostproc', () => a.createContainer(cri('h02', img, withMount('/hostproc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev']))), 'CreateContainer.mounts'],
      ['proc at /proc without nosuid', () => a.createContainer(cri('h03', img, { Mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['noexec', 'nodev'] }] })), 'CreateContainer.mounts'],
      ['read-write sysfs at /sys', () => a.createContainer(cri('h04', img, { Mounts: [{ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'rw'] }] })), 'CreateContainer.mounts'],
      ['second sysfs at /sys2', () => a.createContainer(cri('h05', img, withMount('/sys2', 'sysfs', 'sysfs', ['nosuid', 'noexec', 'nodev', 'ro']))), 'CreateContainer.mounts'],
      ['read-write cgroup', () => a.createContainer(cri('h06', img, { Mounts: [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'rw'] }] })), 'CreateContainer.mounts'],
      ['cgroup2 at /cg', () => a.createContainer(cri('h07', img, withMount('/cg', 'cgroup2', 'cgroup2', ['nosuid', 'noexec', 'nodev', 'ro']))), 'CreateContainer.mounts'],
      ['host-copied file bound over /bin/sh', () => a.createContainer(cri('h08', img, withMount('/bin/sh', 'bind', SHARED_FILE, ['rbind', 'ro']))), 'CreateContainer.mounts'],
      ['host-copied file bound over /etc/passwd', () => a.createContainer(cri('h09', img, withMount('/etc/passwd', 'bind', SHARED_FILE, ['rbind', 'ro']))), 'CreateContainer.mounts'],
      ['guest root bound at /host', () => a.createContainer(cri('h10', img, withMount('/host', 'bind', '/', ['rbind']))), 'CreateContainer.mounts'],
      ['traversal out of the shared folder', () => a.createContainer(cri('h11', img, withMount('/etc/hosts', 'bind', `${SHARED}/../../../etc`, ['rbind']))), 'CreateContainer.mounts'],
      ['proc-typed mount with a bind option (runc binds it)', () => a.createContainer(cri('h12', img, withMount('/proc', 'proc', '/etc', ['rbind']))), 'CreateContainer.mounts'],
      ['tmpfs shadowing /etc', () => a.createContainer(cri('h13', img, withMount('/etc', 'tmpfs', 'tmpfs', ['nosuid']))), 'CreateContainer.mounts'],
      ['overlay mount over guest paths', () => a.createContainer(cri('h14', img, withMount('/data', 'overlay', 'overlay', ['lowerdir=/']))), 'CreateContainer.mounts'],
      ['devpts without noexec', () => a.createContainer(cri('h15', img, { Mounts: [{ destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid'] }] })), 'CreateContainer.mounts'],
      ['mount destination with ..', () => a.createContainer(cri('h16', img, withMount('/etc/../proc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev']))), 'CreateContainer.mounts'],
      ['/etc/hosts bind with suid', () => a.createContainer(cri('h17', img, withMount('/etc/hosts', 'bind', SHARED_FILE, ['rbind', 'suid']))), 'CreateContainer.mounts'],
      ['/etc/hosts bind with shared propagation', () => a.createContainer(cri('h18', img, withMount('/etc/hosts', 'bind', SHARED_FILE, ['rbind', 'rshared']))), 'CreateContainer.mounts'],
      ['service account folder read-write', () => a.createContainer(cri('h19', img, withMount('/var/run/secrets/kubernetes.io/serviceaccount', 'bind', SHARED_FILE, ['rbind', 'rw']))), 'CreateContainer.mounts'],
      ['Kata shared mounts', () => a.createContainer(cri('h20', img, {}, { sharedMounts: [{ srcCtr: 'victim', srcPath: '/', dstCtr: 'h20', dstPath: '/victim' }] })), 'CreateContainer.mounts'],
      ['CAP_SYS_ADMIN added', () => a.createContainer(cri('h21', img, capSet(['CAP_SYS_ADMIN']))), 'CreateContainer.capabilities'],
      ['CAP_SYS_MODULE in the ambient set only', () => a.createContainer(cri('h22', img, capSet(['CAP_SYS_MODULE'], 'Ambient'))), 'CreateContainer.capabilities'],
      ['CAP_SYS_PTRACE added', () => a.createContainer(cri('h23', img, capSet(['CAP_SYS_PTRACE']))), 'CreateContainer.capabilities'],
      ['OCI prestart hook', () => a.createContainer(cri('h24', img, { Hooks: { Prestart: [{ Path: '/bin/sh', Args: ['sh', '-c', 'id'] }] } })), 'CreateContainer.privileged'],
      ['apparmor unconfined', () => a.createContainer(cri('h25', img, { Process: { Args: ['/bin/true'], ApparmorProfile: 'unconfined' } })), 'CreateContainer.privileged'],
      ['join the guest network namespace by path', () => a.createContainer(cri('h26', img, { Linux: { Namespaces: [{ Type: 'network', Path: '/proc/1/ns/net' }] } })), 'CreateContainer.hostNamespaces'],
      ['join the guest pid namespace by path', () => a.createContainer(cri('h27', img, { Linux: { Namespaces: [{ Type: 'pid', Path: '/proc/1/ns/pid' }] } })), 'CreateContainer.hostNamespaces'],
      ['share the pod pid namespace', () => a.createContainer(cri('h28', img, {}, { sandboxPidns: true })), 'CreateContainer.podPidNamespace'],
      ['seccomp SCMP_ACT_NOTIFY (syscalls handed to a listener)', () => a.createContainer(cri('h40', img, filter('SCMP_ACT_ALLOW', [{ Names: ['openat'], Action: 'SCMP_ACT_NOTIFY' }]))), 'CreateContainer.seccomp'],
      ['seccomp SCMP_ACT_NOTIFY as the default action', () => a.createContainer(cri('h41', img, filter('SCMP_ACT_NOTIFY', []))), 'CreateContainer.seccomp'],
      ['seccomp SCMP_ACT_TRACE (syscalls handed to a tracer)', () => a.createContainer(cri('h42', img, filter('SCMP_ACT_ALLOW', [{ Names: ['execve'], Action: 'SCMP_ACT_TRACE' }]))), 'CreateContainer.seccomp'],
      ['seccomp errno 0 (setuid seems to succeed)', () => a.createContainer(cri('h43', img, filter('SCMP_ACT_ALLOW', [{ Names: ['setuid', 'setgid'], Action: 'SCMP_ACT_ERRNO', ErrnoRet: { case: 'errnoret', value: 0 } }]))), 'CreateContainer.seccomp'],
      ['seccomp flag SPEC_ALLOW (speculation mitigation off)', () => a.createContainer(cri('h44', img, filter('SCMP_ACT_ERRNO', [{ Names: ['read'], Action: 'SCMP_ACT_ALLOW' }], ['SECCOMP_FILTER_FLAG_SPEC_ALLOW']))), 'CreateContainer.seccomp'],
      ['seccomp flag WAIT_KILLABLE_RECV (a listener\'s)', () => a.createContainer(cri('h45', img, filter('SCMP_ACT_ALLOW', [], ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']))), 'CreateContainer.seccomp'],
      ['sysctl kernel.core_pattern', () => a.createContainer(cri('h29', img, { Linux: { Sysctl: { 'kernel.core_pattern': '|/bin/sh -c id' } } })), 'CreateContainer.sysctls'],
      ['sysctl net.ipv4.ip_forward', () => a.createContainer(cri('h30', img, { Linux: { Sysctl: { 'net.ipv4.ip_forward': '1' } } })), 'CreateContainer.sysctls'],
      ['device /dev/mem', () => a.createContainer(cri('h31', img, { Linux: { Devices: [{ Path: '/dev/mem', Type: 'c', Major: 1n, Minor: 1n }] } })), 'CreateContainer.devices'],
      ['host-attached block device', () => a.createContainer(cri('h32', img, {}, { devices: [{ id: 'd', type: 'blk', vmPath: '/dev/vdb', containerPath: '/dev/xvda' }] })), 'CreateContainer.devices'],
      ['host block storage', () => a.createContainer(cri('h33', img, {}, { storages: [{ driver: 'local', source: '/dev/vda', mountPoint: '/data' }] })), 'rules.CreateContainer.allowHostMounts'],
      ['uid mappings into the guest', () => a.createContainer(cri('h34', img, { Linux: { UIDMappings: [{ HostID: 0, ContainerID: 0, Size: 65536 }] } })), 'CreateContainer.user'],
      ['string_user lookup', () => a.createContainer(cri('h35', img, {}, { stringUser: { uid: '0', gid: '0' } })), 'CreateContainer.user'],
      ['ExecProcess into a running container', () => a.execProcess({ containerId: 'victim', execId: 'x', process: { Args: ['/bin/cat', '/proc/1/environ'] } }), 'rules.ExecProcess.allow'],
      ['ReadStdout of a container', () => a.readStdout({ containerId: 'victim', execId: '', len: 4096 }), 'rules.ReadStdout.allow'],
      ['ReadStderr of a container', () => a.readStderr({ containerId: 'victim', execId: '', len: 4096 }), 'rules.ReadStderr.allow'],
      ['WriteStdin to a container', () => a.writeStdin({ containerId: 'victim', execId: '', data: Buffer.from('id\n') }), 'rules.WriteStdin.allow'],
      ['CloseStdin of a container', () => a.closeStdin({ containerId: 'victim', execId: '' }), 'rules.CloseStdin.allow'],
      ['CopyFile to /etc/shadow', () => a.copyFile({ path: '/etc/shadow', data: Buffer.from('x'), fileSize: 1n, fileMode: 0o100644 }), 'rules.CopyFile.paths'],
      ['CopyFile out through ..', () => a.copyFile({ path: `${SHARED}/../../../../bin/sh`, data: Buffer.from('x'), fileSize: 1n, fileMode: 0o100755 }), 'rules.CopyFile.paths'],
      ['CopyFile into a nested folder of the shared folder', () => a.copyFile({ path: `${SHARED}/x/y/z`, data: Buffer.from('x'), fileSize: 1n, fileMode: 0o100644 }), 'rules.CopyFile.paths'],
      ['SetPolicy to a permissive one', () => a.setPolicy({ policy: JSON.stringify(PERMISSIVE_POLICY) }), 'rules.SetPolicy.allow'],
      ['UpdateContainer lifting limits', () => a.updateContainer({ containerId: 'victim', resources: { Pids: { Limit: 1_000_000n } } }), 'rules.UpdateContainer.allow'],
      ['PauseContainer', () => a.pauseContainer({ containerId: 'victim' }), 'rules.PauseContainer.allow'],
      ['ResumeContainer', () => a.resumeContainer({ containerId: 'victim' }), 'rules.ResumeContainer.allow'],
      ['GetMetrics', () => a.getMetrics({}), 'rules.GetMetrics.allow'],
      ['SIGSTOP to a container (a pause by another name)', () => a.signalProcess({ containerId: 'victim', execId: '', signal: 19 }), 'rules.SignalProcess.signals'],
      ['SIGUSR1 to a container', () => a.signalProcess({ containerId: 'victim', execId: '', signal: 10 }), 'rules.SignalProcess.signals'],
      ['SIGSEGV to a container', () => a.signalProcess({ containerId: 'victim', execId: '', signal: 11 }), 'rules.SignalProcess.signals'],
      ['CreateSandbox with guest hooks', () => a.createSandbox({ sandboxId: 'sb2', guestHookPath: '/usr/share/oci/hooks' }), 'rules.CreateSandbox.allowGuestHooks'],
      ['CreateSandbox loading kernel modules', () => a.createSandbox({ sandboxId: 'sb2', kernelModules: [{ name: 'evil', parameters: [] }] }), 'rules.CreateSandbox.allowGuestHooks'],
      ['CreateSandbox with host storage', () => a.createSandbox({ sandboxId: 'sb2', storages: [{ driver: 'local', source: '/dev/vdb', mountPoint: '/x' }] }), 'rules.CreateSandbox.allowHostMounts'],
      // The network RPCs are the host's to drive (pod networking), each request checked by its own guards.
      ['UpdateInterface naming no interface', () => a.updateInterface({}), 'UpdateInterface.interface'],
      ['SetIPTables', () => a.setIPTables({}), 'default'],
      ['AddSwap', () => a.addSwap({}), 'default'],
      ['SetGuestDateTime', () => a.setGuestDateTime({ Sec: 0n }), 'default'],
      ['MemHotplugByProbe', () => a.memHotplugByProbe({}), 'default'],
      ['GetDiagnosticData', () => a.getDiagnosticData({}), 'default'],
      ['UpdateEphemeralMounts', () => a.updateEphemeralMounts({}), 'default'],
    ];
    assert.ok(catalogue.length >= 40, `${catalogue.length} requests`);
    const wrong: string[] = [];
    for (const [name, send, rule] of catalogue) {
      const d = await denial(send());
      if (d.code !== ErrorCode.PermissionDenied || !d.message.includes(`blocked by policy: ${rule}`)) wrong.push(`${name}: ${d.code} ${d.message.slice(0, 200)}`);
    }
    assert.deepEqual(wrong, [], 'every request is denied naming its rule');
    // none of the denied containers reached runc: no bundle, no state, no runc container
    const ids = Array.from({ length: 35 }, (_, i) => `h${String(i + 1).padStart(2, '0')}`);
    assert.deepEqual(traces(join(base, 'conf'), ids), []);
    // the victim is untouched and still answers to the lifecycle the host may drive
    await a.signalProcess({ containerId: 'victim', execId: '', signal: 9 });
    assert.equal((await a.waitProcess({ containerId: 'victim', execId: '' })).status, 137);
    await a.removeContainer({ containerId: 'victim', timeout: 5 });
  });

  test('a denial names the rule in its message, as the review asked', async () => {
    const d = await denial(conf.agent.createContainer(cri('h90', reg.image, withMount('/hostproc', 'proc', 'proc', []))));
    assert.equal(d.code, ErrorCode.PermissionDenied);
    assert.match(d.message, /CreateContainer\.mounts: \/hostproc \(proc\) is not an allowed mount/);
  });

  test('a generated policy admits its pod\'s container, which runs; each step away from it is denied', async () => {
    const g = gen.agent;
    const app = (id: string, over: { image?: string; proc?: Init; name?: string; mounts?: unknown[] } = {}): CreateContainerRequest => cri(id, over.image ?? `${repo}@${digest}`, {
      Process: { Args: ['/bin/sh', '-c', 'grep -q 10.0.0.1 /etc/hosts && test "$MODE" = prod && test "$(id -u)" = 1000'], Env: ['PATH=/bin', 'MODE=prod', 'HOSTNAME=pod', 'KUBERNETES_SERVICE_HOST=10.96.0.1'], Cwd: '/', User: { UID: 1000, GID: 1000 }, ...over.proc },
      Mounts: over.mounts ?? [...CRI_DEFAULT_MOUNTS, { destination: '/etc/hosts', type: 'bind', source: SHARED_FILE, options: ['rbind', 'rprivate', 'rw'] }],
      Annotations: { 'io.kubernetes.cri.container-name': over.name ?? 'app' },
    });
    // the kubelet's /etc/hosts, copied in and bound over /etc/hosts: the allowed path
    await g.copyFile({ path: SHARED_FILE, data: Buffer.from('10.0.0.1 db\n'), fileSize: 12n, fileMode: 0o100644, dirMode: 0o40755, uid: 0, gid: 0 });
    await g.createContainer(app('ok'));
    await g.startContainer({ containerId: 'ok' });
    assert.equal((await g.waitProcess({ containerId: 'ok', execId: '' })).status, 0, 'the pod\'s container ran with its command, env, user and /etc/hosts');
    await g.removeContainer({ containerId: 'ok', timeout: 5 });
    // a container that leaves its argv, env and working dir to the image, pulled by tag
    // with a filter that only takes syscalls away (the kubelet's RuntimeDefault or a Localhost profile): admitted and applied
    await g.createContainer(cri('dflt', reg.image, { Process: { Args: ['/bin/sh', '-c', 'exit 4'], Env: ['PATH=/bin'], Cwd: '/' }, Linux: { Seccomp: { DefaultAction: 'SCMP_ACT_ALLOW', Syscalls: [{ Names: ['sethostname'], Action: 'SCMP_ACT_ERRNO' }] } }, Annotations: { 'io.kubernetes.cri.container-name': 'defaults' } }));
    await g.startContainer({ containerId: 'dflt' });
    assert.equal((await g.waitProcess({ containerId: 'dflt', execId: '' })).status, 4);
    await g.removeContainer({ containerId: 'dflt', timeout: 5 });

    const steps: [string, () => Promise<unknown>, string][] = [
      ['an unpinned image (other repository)', () => g.createContainer(app('g01', { image: `${reg.host}/cocolet/other:1` })), 'CreateContainer.image'],
      ['the same repository at another digest', () => g.createContainer(app('g02', { image: `${repo}@sha256:${'1'.repeat(64)}` })), 'CreateContainer.image'],
      ['a tag whose manifest is not the pinned digest', () => g.createContainer(cri('g03', reg.image, { Process: { Args: ['/bin/true'] }, Annotations: { 'io.kubernetes.cri.container-name': 'elsewhere' } })), 'CreateContainer.imageDigest'],
      ['another command', () => g.createContainer(app('g04', { proc: { Args: ['/bin/sh', '-c', 'cat /proc/1/environ'] } })), 'CreateContainer.command'],
      ['LD_PRELOAD in the environment', () => g.createContainer(app('g05', { proc: { Env: ['PATH=/bin', 'MODE=prod', 'LD_PRELOAD=/tmp/x.so'] } })), 'CreateContainer.env'],
      ['another value of a pinned variable', () => g.createContainer(app('g06', { proc: { Env: ['PATH=/bin', 'MODE=debug'] } })), 'CreateContainer.env'],
      ['root instead of the pod\'s user', () => g.createContainer(app('g07', { proc: { User: { UID: 0, GID: 0 } } })), 'CreateContainer.user'],
      ['another working directory', () => g.createContainer(app('g08', { proc: { Cwd: '/etc' } })), 'CreateContainer.workingDir'],
      ['a container the pod does not have', () => g.createContainer(app('g09', { name: 'debug' })), 'CreateContainer.containers'],
      ['PATH not the image\'s (checked after the pull)', () => g.createContainer(cri('g10', reg.image, { Process: { Args: ['/bin/sh', '-c', 'exit 4'], Env: ['PATH=/tmp:/bin'] }, Annotations: { 'io.kubernetes.cri.container-name': 'defaults' } })), 'CreateContainer.env'],
      ['the image\'s default command swapped (checked after the pull)', () => g.createContainer(cri('g11', reg.image, { Process: { Args: ['/bin/sh', '-c', 'exit 5'], Env: ['PATH=/bin'] }, Annotations: { 'io.kubernetes.cri.container-name': 'defaults' } })), 'CreateContainer.command'],
      ['the pod\'s container with an extra proc mount', () => g.createContainer(app('g12', { mounts: [...CRI_DEFAULT_MOUNTS, { destination: '/hostproc', type: 'proc', source: 'proc', options: [] }] })), 'CreateContainer.mounts'],
      ['a seccomp filter handing syscalls to a listener', () => g.createContainer(cri('g13', reg.image, { Process: { Args: ['/bin/sh', '-c', 'exit 4'], Env: ['PATH=/bin'] }, Linux: { Seccomp: { DefaultAction: 'SCMP_ACT_NOTIFY' } }, Annotations: { 'io.kubernetes.cri.container-name': 'defaults' } })), 'CreateContainer.seccomp'],
      ['ExecProcess (the pod has no exec probe)', () => g.execProcess({ containerId: 'ok', execId: 'x', process: { Args: ['/bin/sh'] } }), 'rules.ExecProcess.allow'],
    ];
    const wrong: string[] = [];
    for (const [name, send, rule] of steps) {
      const d = await denial(send());
      if (d.code !== ErrorCode.PermissionDenied || !d.message.includes(`blocked by policy: ${rule}`)) wrong.push(`${name}: ${d.code} ${d.message.slice(0, 200)}`);
    }
    assert.deepEqual(wrong, []);
    assert.deepEqual(traces(join(base, 'gen', 'agent', 'containers'), Array.from({ length: 13 }, (_, i) => `g${String(i + 1).padStart(2, '0')}`)), []);
  });
});
