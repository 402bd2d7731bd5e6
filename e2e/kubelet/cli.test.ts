// `cocolet kubelet` with upstream flags as a real process against the containerd fixture, read
// back with `cocolet status --json` and `cocolet logs`; stopping the agent leaves the pod running.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { startContainerd } from '../support/containerd.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { CriClient } from '../../host/cri/client.js';
import type { StatusFile } from '../../host/kubelet/status/manager.js';

const h = new Harness();
after(() => h.dispose());
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cmd', 'cocolet.js');

test('cocolet kubelet with upstream flags runs a static pod; status and logs read it back', { timeout: 120_000 }, async (t) => {
  const c = await startContainerd(h, t);
  if (!c) return;
  const dir = h.tempDir('ccl-cli-');
  const manifests = join(dir, 'manifests');
  const root = join(dir, 'root');
  mkdirSync(manifests);
  writeFileSync(join(dir, 'config.yaml'), `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\npodLogsDir: ${join(dir, 'logs')}\nfileCheckFrequency: 5s\n`);
  writeFileSync(
    join(manifests, 'hello.yaml'),
    `apiVersion: v1\nkind: Pod\nmetadata: {name: hello}\nspec:\n  containers:\n  - name: main\n    image: ${BUSYBOX_IMAGE}\n    command: ["/bin/sh", "-c", "echo hello world; exec sleep 3600"]\n`,
  );
  const bad = spawnSync(process.execPath, [cli, 'kubelet', '--pod-manifest-pth', manifests], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /pod-manifest-pth/);

  const port = await new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  const k = h.start(process.execPath, [
    cli, 'kubelet', `--config=${join(dir, 'config.yaml')}`, '--pod-manifest-path', manifests,
    '--container-runtime-endpoint', `unix://${c.address}`, '--root-dir', root, '--node-name', 'cli', `--healthz-port=${port}`,
  ], { env: { ...process.env, COCOLET_LOG_LEVEL: 'error' } });
  const status = (): StatusFile | undefined => {
    const r = spawnSync(process.execPath, [cli, 'status', '--root-dir', root, '--json'], { encoding: 'utf8' });
    return r.status === 0 ? (JSON.parse(r.stdout) as StatusFile) : undefined;
  };
  await waitFor(() => status()?.pods.find((p) => p.metadata.name === 'hello-cli')?.status.phase === 'Running', { what: 'hello Running', timeoutMs: 60_000, intervalMs: 200 });
  await waitFor(
    () => spawnSync(process.execPath, [cli, 'logs', '--root-dir', root, 'hello', 'main'], { encoding: 'utf8' }).stdout.includes('hello world'),
    { what: 'logs', timeoutMs: 30_000, intervalMs: 200 },
  );
  const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(healthz.status, 200);
  assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /kubelet_pod_start_duration_seconds_count 1/);
  await k.stop();
  const cri = new CriClient({ endpoint: c.address });
  try {
    const running = await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'main' } });
    assert.equal(running.length, 1, 'stopping the agent leaves its pods running');
  } finally {
    cri.close();
  }
});
