// A confidential pod through containerd's CRI with runtime handler `cocolet`: the whole
// RunPodSandbox → … → RemovePodSandbox sequence, container output in the CRI log, exit codes in
// ContainerStatus, and nothing left behind (fake hypervisor: the agent as a local process).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import type { ContainerdFixture } from '../support/containerd.js';
import type { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { assertNoLeftovers, startShimContainerd, type ShimFixture } from './support.js';

const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let cri: CriClient;
let shim: ShimFixture;
let skip: string | undefined;

before(async () => {
  const rig = await startShimContainerd(h);
  ({ shim, containerd: c, skip } = rig);
  if (rig.cri) cri = rig.cri;
});

function podConfig(name: string, logDirectory: string) {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory,
    annotations: { 'io.katacontainers.config.hypervisor.default_memory': '256' },
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
}

test('CRI: a pod with runtime handler cocolet runs a container whose output and exit code come back', async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const logDir = h.tempDir('ccl-');
  const sandboxConfig = podConfig('shim-cri', logDir);
  const pod = await cri.runPodSandbox(sandboxConfig, 'cocolet');
  const one = await cri.createContainer(
    pod,
    { metadata: { name: 'once' }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sh', '-c', 'echo cri-says-hello; exit 5'], logPath: 'once.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } },
    sandboxConfig,
  );
  await cri.startContainer(one);
  const done = await waitFor(async () => {
    const st = await cri.containerStatus(one);
    return st?.state === ContainerState.CONTAINER_EXITED ? st : undefined;
  }, { what: 'the container to exit', timeoutMs: 60_000 });
  assert.equal(done.exitCode, 5);
  assert.match(readFileSync(join(logDir, 'once.log'), 'utf8'), /stdout F cri-says-hello/);

  const long = await cri.createContainer(
    pod,
    { metadata: { name: 'long' }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sleep', '300'], logPath: 'long.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } },
    sandboxConfig,
  );
  await cri.startContainer(long);
  assert.equal((await cri.containerStatus(long))?.state, ContainerState.CONTAINER_RUNNING);
  await cri.stopContainer(long, 2);
  const stopped = await cri.containerStatus(long);
  assert.equal(stopped?.state, ContainerState.CONTAINER_EXITED);
  assert.equal(stopped?.exitCode, 143, 'sleep dies on SIGTERM');
  await cri.removeContainer(long);
  await cri.removeContainer(one);
  await cri.stopPodSandbox(pod);
  await cri.removePodSandbox(pod);
  await assertNoLeftovers(shim, c.dir);
});
