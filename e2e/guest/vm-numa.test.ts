/**
 * Guest RAM bound to a NUMA node, on the real QEMU: the VM started with `numaNodes: [0]` has its
 * guest RAM as one mapping whose memory policy is `bind:0` in /proc/<qemu pid>/numa_maps, as large
 * as the guest's RAM, and the pages the booting guest touches are on node 0. A node the host does
 * not have is refused before QEMU runs, naming the node. ONE VM boot.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Harness, have, isRoot, processesMatching, waitFor } from '../../shared/testing/harness.js';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { GUEST_MEMORY_OVERHEAD_MIB } from '../../host/vmm/hypervisor.js';
import { hostMemoryNodes } from '../../host/vmm/numa.js';
import { buildGuestImage } from '../../guest/image/build.js';

const need = ['qemu-system-x86_64'].find((c) => !have(c));
const skip = !isRoot() ? 'needs root (image build reads the kernel package)' : need ? `needs ${need} (scripts/setup installs it)` : false;

/** The numa_maps line of the mapping with a bind policy, and that mapping's size from /proc/<pid>/maps. */
function boundMapping(pid: number): { line: string; bytes: number } | undefined {
  const line = readFileSync(`/proc/${pid}/numa_maps`, 'utf8').split('\n').find((l) => / bind:/.test(l));
  if (!line) return undefined;
  const start = line.split(' ')[0]!;
  const m = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').find((l) => l.startsWith(`${start}-`));
  const [lo, hi] = (m?.split(' ')[0] ?? '0-0').split('-').map((x) => BigInt(`0x${x}`));
  return { line, bytes: Number(hi! - lo!) };
}

describe('guest RAM bound to the pod\'s NUMA nodes (QEMU host-nodes, policy=bind)', { skip, timeout: 300_000 }, () => {
  const h = new Harness();
  after(() => h.dispose());

  test('a VM bound to node 0: numa_maps shows bind:0 on the guest RAM mapping and its pages on node 0', async (t) => {
    await buildGuestImage({});
    const stateDir = join(h.tempDir('cocolet-vm-numa-'), 'vm');
    const workloadMiB = 64;
    const vm = await new QemuHypervisor({ tpm: false }).start({ id: 'numa', stateDir, vcpus: 1, memoryMiB: workloadMiB, numaNodes: [0], egress: false });
    h.defer('vm', () => vm.stop());
    // the guest touches its RAM as it boots: wait until some of the bound mapping is populated
    const bound = await waitFor(() => {
      const b = boundMapping(vm.pid);
      return b && /\bN0=\d+/.test(b.line) ? b : undefined;
    }, { what: 'guest RAM pages in the bound mapping', timeoutMs: 120_000 });
    t.diagnostic(bound.line);
    assert.match(bound.line, /^[0-9a-f]+ bind:0 /);
    assert.equal(bound.bytes, (workloadMiB + GUEST_MEMORY_OVERHEAD_MIB) * 1024 * 1024, 'the bound mapping is the guest RAM');
    const nodesWithPages = [...bound.line.matchAll(/\bN(\d+)=\d+/g)].map((x) => Number(x[1]));
    assert.deepEqual(nodesWithPages, [0]);
    await vm.stop();
    assert.deepEqual(processesMatching(stateDir), []);
  });

  test('a node the host does not have is refused before QEMU runs, naming the node', async () => {
    const missing = Math.max(...hostMemoryNodes()) + 1;
    const stateDir = join(h.tempDir('cocolet-vm-numa-bad-'), 'vm');
    await assert.rejects(
      new QemuHypervisor({ tpm: false }).start({ id: 'numa-bad', stateDir, vcpus: 1, numaNodes: [0, missing], egress: false }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`cannot be bound to NUMA node ${missing}: this host has no such node`));
        return true;
      },
    );
    assert.deepEqual(processesMatching(stateDir), []);
  });
});
