/** Pins threads to host CPUs (the vCPU pinning hook) with `taskset`. */
import { execFileSync } from 'node:child_process';
import type { VcpuThread } from './hypervisor.js';

/** Pins vCPU i to cpus[i % cpus.length]. */
export function pinThreads(threads: readonly VcpuThread[], cpus: readonly number[]): void {
  if (cpus.length === 0) return;
  for (const t of threads) {
    execFileSync('taskset', ['-p', '-c', String(cpus[t.index % cpus.length]), String(t.tid)], { stdio: 'ignore' });
  }
}
