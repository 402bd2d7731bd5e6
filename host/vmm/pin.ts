/**
 * vCPU threads of a QEMU process and their pinning to host CPUs (sched_setaffinity through
 * util-linux `taskset`). QEMU names its vCPU threads `CPU <n>/KVM` (or `CPU <n>/TCG`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { VcpuThread } from './hypervisor.js';

/** vCPU threads of a QEMU process, by vCPU index (empty if the process is gone or has none). */
export function vcpuThreads(pid: number): VcpuThread[] {
  const out: VcpuThread[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const m = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').match(/^CPU (\d+)\//);
      if (m) out.push({ index: Number(m[1]), tid: Number(t) });
    } catch {
      /* thread ended */
    }
  }
  return out.sort((x, y) => x.index - y.index);
}

/** Pins vCPU i to cpus[i % cpus.length]. */
export function pinThreads(threads: readonly VcpuThread[], cpus: readonly number[]): void {
  if (cpus.length === 0) return;
  for (const t of threads) {
    execFileSync('taskset', ['-p', '-c', String(cpus[t.index % cpus.length]), String(t.tid)], { stdio: 'ignore' });
  }
}

/** Sets one thread's CPU affinity to a Linux CPU list (`2,8` or `0-3`). */
export function setThreadAffinity(tid: number, cpuList: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('taskset', ['-p', '-c', cpuList, String(tid)], (err, _out, stderr) => {
      if (err) reject(new Error(`taskset -p -c ${cpuList} ${tid}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/** A thread's current CPU affinity as a Linux CPU list, from /proc (Cpus_allowed_list). */
export function threadAffinity(pid: number, tid: number): string | undefined {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}
