/**
 * `npm run bench -- vm-overhead [seconds]`: what one confidential pod's VM costs the host beyond
 * its containers, beside the RuntimeClass `cocolet` default `overhead.podFixed`
 * (host/shim/overhead.ts) it must cover. One VM of the default shim config (guest RAM =
 * default_memory + the guest's fixed part, swtpm) boots until its agent answers; then, idle for
 * the sampling window: QEMU's own RSS (its RSS minus the resident guest RAM, found as the one
 * mapping bound to NUMA node 0), swtpm's RSS, and the CPU of QEMU's non-vCPU threads (main loop,
 * I/O, RCU) — the vCPU threads run the containers, whose CPU requests count that.
 */
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { GUEST_MEMORY_OVERHEAD_MIB } from '../../host/vmm/hypervisor.js';
import { connectAgent } from '../../host/vmm/agent-connect.js';
import { defaultShimConfig } from '../../host/shim/config.js';
import { vmPodOverhead, VMM_OWN_MEMORY_MIB, VMM_CPU_MILLI } from '../../host/shim/overhead.js';
import { parseQuantity } from '../../host/kubelet/config/kubeletconfig.js';
import { BenchReport } from '../report.js';

const MiB = 1024 * 1024;
const TICK = 100; // USER_HZ

function statusKiB(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Resident KiB of the guest RAM: the smaps entry of the mapping numa_maps shows bound. */
function guestResidentKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/numa_maps`, 'utf8').split('\n').find((l) => / bind:/.test(l));
  if (!line) return 0;
  const start = line.split(' ')[0]!;
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const at = smaps.indexOf(`\n${start}-`);
  const block = smaps.slice(at + 1, smaps.indexOf('\nVmFlags', at));
  return Number(/^Rss:\s+(\d+) kB/m.exec(block)?.[1] ?? 0);
}

/** CPU ticks (utime + stime) of a process's threads, split into vCPU threads and the rest. */
function threadTicks(pid: number): { vcpu: number; other: number } {
  const out = { vcpu: 0, other: 0 };
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8');
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(f[11]) + Number(f[12]);
      if (/^CPU \d+\//.test(comm)) out.vcpu += ticks;
      else out.other += ticks;
    } catch {
      /* thread ended */
    }
  }
  return out;
}

function swtpmPid(stateDir: string): number | undefined {
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.startsWith('swtpm') && cmd.includes(stateDir)) return Number(p);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 20);
  const cfg = defaultShimConfig();
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-bench-vmo-'));
  const stateDir = join(dir, 'vm');
  const vm = await new QemuHypervisor().start({ id: 'bench-vmo', stateDir, vcpus: cfg.hypervisor.defaultVcpus, memoryMiB: cfg.hypervisor.defaultMemoryMiB, numaNodes: [0], egress: false });
  try {
    const conn = await connectAgent(vm, { timeoutMs: 300_000 });
    conn.close();
    const t0 = threadTicks(vm.pid);
    const start = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const t1 = threadTicks(vm.pid);
    const elapsed = (Date.now() - start) / 1000;
    const rssKiB = statusKiB(vm.pid, 'VmRSS');
    const guestKiB = guestResidentKiB(vm.pid);
    const tpm = swtpmPid(stateDir);
    const swtpmKiB = tpm ? statusKiB(tpm, 'VmRSS') : 0;
    const guestRamMiB = cfg.hypervisor.defaultMemoryMiB + GUEST_MEMORY_OVERHEAD_MIB;
    const ownMiB = (rssKiB - guestKiB) / 1024;
    const otherMilli = ((t1.other - t0.other) / TICK / elapsed) * 1000;
    const vcpuMilli = ((t1.vcpu - t0.vcpu) / TICK / elapsed) * 1000;
    const o = vmPodOverhead(cfg);
    const r = new BenchReport('vm-overhead');
    r.add({ figure: 'vm_memory_cost', unit: 'MiB', value: guestRamMiB + ownMiB + swtpmKiB / 1024, peer: 'runtimeclass_podFixed_memory', peer_value: (parseQuantity(o.memory) ?? 0) / MiB, better: 'lower' });
    r.add({ figure: 'qemu_own_rss', unit: 'MiB', value: ownMiB, peer: 'VMM_OWN_MEMORY_MIB (qemu + swtpm)', peer_value: VMM_OWN_MEMORY_MIB, better: 'lower' });
    r.add({ figure: 'qemu_io_threads_cpu_idle', unit: 'millicores', value: otherMilli, peer: 'runtimeclass_podFixed_cpu', peer_value: VMM_CPU_MILLI, better: 'lower' });
    r.note(`guest RAM ${guestRamMiB} MiB configured (default_memory ${cfg.hypervisor.defaultMemoryMiB} + ${GUEST_MEMORY_OVERHEAD_MIB}), ${(guestKiB / 1024).toFixed(0)} MiB resident after boot; QEMU RSS ${(rssKiB / 1024).toFixed(0)} MiB; swtpm RSS ${(swtpmKiB / 1024).toFixed(1)} MiB`);
    r.note(`idle vCPU threads: ${vcpuMilli.toFixed(0)} millicores (TCG here; the containers' CPU requests cover the vCPUs); window ${elapsed.toFixed(1)} s`);
    r.print();
  } finally {
    await vm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
