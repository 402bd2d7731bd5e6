/**
 * What one sandbox VM costs the host beyond its containers' requests: the RuntimeClass
 * `overhead.podFixed` of the cocolet handler (the API server's RuntimeClass admission copies it
 * into `pod.spec.overhead`; the kubelet adds it to the pod's requests for admission, eviction
 * ranking and the sandbox's CRI overhead, never to exclusive CPUs).
 *
 * memory = the guest's RAM (default_memory + the guest's fixed part, GUEST_MEMORY_OVERHEAD_MIB):
 * a guest keeps what it touches and its page cache fills the rest, so in the long run the VM holds
 * all of it, whatever its containers request; plus QEMU's and swtpm's own memory.
 * cpu = QEMU's threads that are not vCPUs (main loop, I/O, RCU); the vCPUs run the containers,
 * whose CPU requests count them. Both measured with `npm run bench -- vm-overhead`
 * (host/vmm/README.md has the figures).
 */
import { GUEST_MEMORY_OVERHEAD_MIB } from '../vmm/hypervisor.js';
import { defaultShimConfig, type ShimConfig } from './config.js';

/**
 * QEMU's own RSS (guest RAM excluded) plus swtpm's, rounded up. Measured under TCG (no KVM on the
 * build machine): 270 MiB for QEMU once booted, most of it TCG's translation buffer, and 7 MiB for
 * swtpm. A KVM host has no translation buffer and needs less; this covers the worse case.
 */
export const VMM_OWN_MEMORY_MIB = 288;
/**
 * Millicores: QEMU's non-vCPU threads idle (14m measured) plus an idle emulated vCPU under TCG
 * (103m measured: an idle guest still costs a TCG host CPU time nobody requested), rounded up.
 */
export const VMM_CPU_MILLI = 150;

/** The RuntimeClass `overhead.podFixed` for VMs of this shim configuration (API quantities). */
export function vmPodOverhead(cfg: ShimConfig = defaultShimConfig()): { memory: string; cpu: string } {
  const guestRam = cfg.hypervisor.kind === 'qemu' ? cfg.hypervisor.defaultMemoryMiB + GUEST_MEMORY_OVERHEAD_MIB : 0;
  return { memory: `${guestRam + VMM_OWN_MEMORY_MIB}Mi`, cpu: `${VMM_CPU_MILLI}m` };
}
