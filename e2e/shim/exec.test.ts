// Exec through the cocolet shim (fake hypervisor: the agent as a local process) via containerd's
// CRI, as crictl and the kubelet use it: ExecSync returns with the exit code and output although
// the command writes no stderr, and a streaming exec through containerd's streaming server
// (WebSocket, v4.channel.k8s.io) carries stdin in and stdout and the exit status out (issue 14).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../shared/testing/harness.js';
import type { ContainerdFixture } from '../support/containerd.js';
import { channelText, wsConnect } from '../support/wsclient.js';
import type { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { startShimContainerd } from './support.js';
import { NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';

const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let cri: CriClient;
let skip: string | undefined;
let container = '';

before(async () => {
  const rig = await startShimContainerd(h);
  ({ containerd: c, skip } = rig);
  if (!rig.cri) return;
  cri = rig.cri;
  const logDir = h.tempDir('ccl-');
  const sandboxConfig = { metadata: { name: 'ex', namespace: 'default', uid: 'uid-ex', attempt: 0 }, hostname: 'ex', logDirectory: logDir, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet');
  h.defer('pod', async () => {
    await cri.stopPodSandbox(pod).catch(() => undefined);
    await cri.removePodSandbox(pod).catch(() => undefined);
  });
  container = await cri.createContainer(pod, { metadata: { name: 'long' }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sleep', '300'], logPath: 'long.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, sandboxConfig);
  await cri.startContainer(container);
});

test('ExecSync through the shim returns the exit code and output, with and without stderr', { timeout: 60_000 }, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const r = await cri.execSync(container, ['sh', '-c', 'echo hi; exit 3'], 10);
  assert.equal(r.exitCode, 3);
  assert.equal(Buffer.from(r.stdout).toString(), 'hi\n');
  assert.equal(r.stderr.length, 0);
  const both = await cri.execSync(container, ['sh', '-c', 'echo out; echo err >&2'], 10);
  assert.equal(both.exitCode, 0);
  assert.equal(Buffer.from(both.stdout).toString(), 'out\n');
  assert.equal(Buffer.from(both.stderr).toString(), 'err\n');
});

test('streaming exec through the shim: stdin in, stdout and the exit status out', { timeout: 60_000 }, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const url = new URL(await cri.exec({ containerId: container, cmd: ['sh', '-c', 'head -n1; exit 4'], stdin: true, stdout: true, stderr: true, tty: false }));
  const ws = await wsConnect({ host: url.hostname, port: Number(url.port), path: url.pathname, protocol: 'v4.channel.k8s.io' });
  assert.equal(ws.status, 101, ws.body);
  ws.send(0, Buffer.from('to-the-shim\n'));
  const ms = await ws.until((m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
  assert.equal(channelText(ms, 1), 'to-the-shim\n');
  const st = JSON.parse(channelText(ms, 3)) as { reason?: string; details?: { causes?: { reason: string; message: string }[] } };
  assert.equal(st.reason, 'NonZeroExitCode');
  assert.equal(st.details?.causes?.find((x) => x.reason === 'ExitCode')?.message, '4');
  ws.close();
});
