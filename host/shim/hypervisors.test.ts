import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { isCocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { silentLogger } from '../../shared/log/logger.js';
import { defaultShimConfig, parseShimConfig } from './config.js';
import { hypervisorOf } from './hypervisors.js';
import { guestPulledRootfs, hostOrGuestPulledRootfs, hostRootfs } from './rootfs.js';

const FAKE_MODULE = fileURLToPath(new URL('./testing/fake-hypervisor.js', import.meta.url));

const cases: { name: string; kind: string; module?: string; rootfs?: unknown; network?: string; agentOnHost?: boolean; error?: RegExp }[] = [
  { name: 'qemu: the guest pulls, a tap is its NIC, no agent on the host', kind: 'qemu', rootfs: guestPulledRootfs, network: 'tap', agentOnHost: false },
  { name: 'process: the host rootfs when containerd gives one, the agent on the host in the pod namespace', kind: 'process', rootfs: hostOrGuestPulledRootfs, network: 'namespace', agentOnHost: true },
  { name: 'a module registers one more by its name', kind: 'fake', module: FAKE_MODULE, rootfs: hostRootfs, network: 'none', agentOnHost: false },
  { name: 'a name nobody registered is refused naming the known ones', kind: 'firecracker', error: /no hypervisor "firecracker" \(known: qemu, process/ },
  { name: 'a module providing another name is refused', kind: 'other', module: FAKE_MODULE, error: /provides "fake", not hypervisor.kind "other"/ },
];

for (const tc of cases) {
  test(`registry: ${tc.name}`, async () => {
    const cfg = defaultShimConfig();
    cfg.hypervisor.kind = tc.kind;
    if (tc.module) cfg.hypervisor.module = tc.module;
    if (tc.error) {
      await assert.rejects(hypervisorOf(cfg), (e) => isCocoletError(e, ErrorCode.ConfigInvalid) && tc.error!.test((e as Error).message));
      return;
    }
    const h = await hypervisorOf(cfg);
    assert.equal(h.name, tc.kind);
    assert.equal(h.rootfs, tc.rootfs);
    assert.equal(h.agentOnHost, tc.agentOnHost);
    assert.equal(h.network, tc.network);
    assert.equal(typeof (await h.launcher(cfg, silentLogger())).start, 'function');
  });
}

test('config: a kind outside the built-in ones needs a module', () => {
  assert.throws(() => parseShimConfig('[hypervisor]\nkind = "fake"\n'), /hypervisor.kind.*must be "qemu" or "process"/);
  assert.equal(parseShimConfig(`[hypervisor]\nkind = "fake"\nmodule = ${JSON.stringify(FAKE_MODULE)}\n`).hypervisor.module, FAKE_MODULE);
  assert.throws(() => parseShimConfig('[hypervisor]\nkind = "fake"\nmodule = "rel/x.js"\n'), /hypervisor.module.*absolute/);
});

test('rootfs: in a VM the guest needs the image name, and the error names the hypervisor', () => {
  assert.throws(() => guestPulledRootfs({ containerId: 'c1', bundle: '/nonexistent', mounts: [], spec: {}, hypervisor: 'qemu' }), /with the qemu hypervisor the guest pulls the image itself/);
  const plan = guestPulledRootfs({ containerId: 'c1', bundle: '/nonexistent', mounts: [], spec: { annotations: { 'io.kubernetes.cri.image-name': 'busybox:1' } }, hypervisor: 'qemu' });
  assert.equal(plan.rootPath, '/run/kata-containers/c1/rootfs');
  assert.equal(plan.mounted, false);
  assert.deepEqual(plan.storages.map((s) => [s.driver, s.source]), [['image_guest_pull', 'busybox:1']]);
  assert.deepEqual(hostRootfs({ containerId: 'c1', bundle: '/b', mounts: [], spec: { root: { path: 'r' } }, hypervisor: 'fake' }), { rootPath: '/b/r', storages: [], mounted: false });
});
