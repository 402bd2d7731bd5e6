// Two cocolet runtime handlers on one containerd, `process` hypervisor (the real agent): `cocolet`
// (strict: no default init-data, the guest's built-in confidential policy) and `cocolet-dev`
// (its shim config names a permissive default init-data). The same pod without an init-data
// annotation may exec and show its logs under the dev handler and is refused both under the strict
// one. A hostNetwork pod is refused by the shim with a clear RunPodSandbox error (issue 14).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import type { ContainerdFixture } from '../support/containerd.js';
import type { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { initdataToml } from '../guest/agent-client.js';
import { assertNoLeftovers, RUNTIME_TYPE, startShimContainerd, type ShimFixture } from './support.js';

const AGENT = fileURLToPath(new URL('../../guest/cmd/cocolet-agent.js', import.meta.url));

const h = new Harness();
after(() => h.dispose());
let c: ContainerdFixture | undefined;
let cri: CriClient;
let shim: ShimFixture;
let skip: string | undefined;

before(async () => {
  if (!existsSync(AGENT)) skip = 'cocolet-agent is not built';
  if (skip) return;
  const rig = await startShimContainerd(h, {
    kind: 'process',
    containerd: (s) => {
      // the dev handler: the same shim config plus a permissive default init-data
      const devInitData = join(h.tempDir('cci-'), 'dev-initdata.toml');
      writeFileSync(devInitData, initdataToml({ policy: PERMISSIVE_POLICY }));
      const devConfig = join(h.tempDir('cci-'), 'shim-dev.toml');
      writeFileSync(devConfig, `${readFileSync(s.configPath, 'utf8').replace('[hypervisor]\n', `[hypervisor]\ndefault_init_data = "${devInitData}"\n`)}`);
      return {
        cocoletConfigPath: s.configPath,
        extraRuntimes: { 'cocolet-dev': { runtimeType: RUNTIME_TYPE, podAnnotations: ['io.katacontainers.*'], configPath: devConfig } },
      };
    },
  });
  ({ shim, containerd: c, skip } = rig);
  if (rig.cri) cri = rig.cri;
});

async function podWithoutInitData(name: string, handler: string): Promise<{ pod: string; ctr: string; logDir: string; remove(): Promise<void> }> {
  const logDir = h.tempDir('ccl-');
  const sandboxConfig = { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 }, hostname: name, logDirectory: logDir, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
  const pod = await cri.runPodSandbox(sandboxConfig, handler);
  const remove = async (): Promise<void> => {
    await cri.stopPodSandbox(pod).catch(() => undefined);
    await cri.removePodSandbox(pod).catch(() => undefined);
  };
  h.defer(`pod ${name}`, remove);
  const ctr = await cri.createContainer(pod, { metadata: { name: 'main' }, image: { image: BUSYBOX_IMAGE }, command: ['/bin/sh', '-c', 'echo log-line-from-the-pod; exec sleep 300'], logPath: 'main.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, sandboxConfig);
  await cri.startContainer(ctr);
  await waitFor(async () => (await cri.containerStatus(ctr))?.state === ContainerState.CONTAINER_RUNNING, { what: 'the container to run', timeoutMs: 60_000 });
  return { pod, ctr, logDir, remove };
}

test('a pod without init-data: the dev handler\'s permissive default lets it exec and show logs; the strict handler refuses both', { timeout: 240_000 }, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const dev = await podWithoutInitData('dev-pod', 'cocolet-dev');
  const r = await cri.execSync(dev.ctr, ['sh', '-c', 'echo exec-allowed; exit 3'], 20);
  assert.equal(r.exitCode, 3);
  assert.equal(Buffer.from(r.stdout).toString(), 'exec-allowed\n');
  await waitFor(() => existsSync(join(dev.logDir, 'main.log')) && /stdout F log-line-from-the-pod/.test(readFileSync(join(dev.logDir, 'main.log'), 'utf8')), { what: 'the dev pod\'s log line', timeoutMs: 30_000 });

  const strict = await podWithoutInitData('strict-pod', 'cocolet');
  await assert.rejects(cri.execSync(strict.ctr, ['sh', '-c', 'echo exec-allowed'], 20), (e: Error) => /polic|denied|not allowed/i.test(e.message));
  const strictLog = existsSync(join(strict.logDir, 'main.log')) ? readFileSync(join(strict.logDir, 'main.log'), 'utf8') : '';
  assert.doesNotMatch(strictLog, /log-line-from-the-pod/);

  for (const p of [dev, strict]) {
    await cri.removeContainer(p.ctr).catch(() => undefined);
    await p.remove();
  }
  await assertNoLeftovers(shim, c.dir);
});

test('a hostNetwork pod under a cocolet handler is refused with a clear RunPodSandbox error; nothing is left', { timeout: 120_000 }, async (t) => {
  if (!c) return t.skip(skip ?? 'containerd is not available');
  const sandboxConfig = { metadata: { name: 'hostnet', namespace: 'default', uid: 'uid-hostnet', attempt: 0 }, hostname: '', logDirectory: h.tempDir('ccl-'), linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } };
  await assert.rejects(cri.runPodSandbox(sandboxConfig, 'cocolet-dev'), (e: Error) => e.message.includes("a confidential pod cannot share the host's network namespace"));
  assert.deepEqual((await cri.listPodSandbox()).filter((p) => p.metadata?.name === 'hostnet'), [], 'containerd keeps no refused sandbox');
  await assertNoLeftovers(shim, c.dir);
});
