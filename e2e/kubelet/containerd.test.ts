// The containerd fixture against real containerd + runc + CNI: readiness, one CRI pod with a
// busybox container, and a clean stop (no bridge, no mounts left under the dir).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Harness } from '../../shared/testing/harness.js';
import { startContainerd } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { mountsUnder } from '../../host/containerd/launcher.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { isCocoletError } from '../../shared/errors/errors.js';

const h = new Harness();
after(() => h.dispose());

test('containerd fixture runs a CRI pod and cleans up after itself', async (t) => {
  const c = await startContainerd(h, t);
  if (!c) return;
  const cri = new CriClient({ endpoint: c.address });
  t.after(() => cri.close());
  const v = await cri.version();
  assert.equal(v.runtimeName, 'containerd');
  assert.ok(await cri.imageStatus(BUSYBOX_IMAGE), 'busybox image imported');
  assert.equal(await cri.imageStatus('localhost/cocolet/absent:1'), undefined);

  const logDir = h.tempDir('ccl-logs-');
  const sandboxConfig = {
    metadata: { name: 'fixture', namespace: 'default', uid: 'uid-fixture', attempt: 0 },
    hostname: 'fixture',
    logDirectory: logDir,
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
  const pod = await cri.runPodSandbox(sandboxConfig, '');
  const st = await cri.podSandboxStatus(pod);
  assert.match(st?.network?.ip ?? '', new RegExp(`^${c.containerd.subnet.split('.').slice(0, 3).join('\\.')}\\.`));
  const ctr = await cri.createContainer(
    pod,
    { metadata: { name: 'c1' }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sh', '-c', 'echo hi; exec sleep 60'], logPath: 'c1.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } },
    sandboxConfig,
  );
  await cri.startContainer(ctr);
  assert.equal((await cri.containerStatus(ctr))?.state, ContainerState.CONTAINER_RUNNING);
  const ex = await cri.execSync(ctr, ['/bin/sh', '-c', 'echo $((1+2))'], 5);
  assert.equal(Buffer.from(ex.stdout).toString().trim(), '3');

  await assert.rejects(cri.startContainer('no-such-container', { context: { pod: 'default/fixture' } }), (e) => {
    assert.ok(isCocoletError(e));
    assert.equal(e.context.rpc, 'StartContainer');
    assert.equal(e.context.pod, 'default/fixture');
    return true;
  });

  await c.stop();
  assert.equal(spawnSync('ip', ['link', 'show', c.containerd.bridge]).status !== 0, true, 'bridge removed');
  assert.deepEqual(mountsUnder(c.dir), []);
});
