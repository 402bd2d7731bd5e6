/**
 * The task Stats answer: the guest agent's StatsContainer reply mapped onto containerd's cgroup v1
 * `Metrics` (what Kata's shim sends too), packed in an Any with the bare type URL containerd's
 * typeurl registry knows. containerd's CRI reads CPU usage and the memory working set
 * (usage − total_inactive_file) from it for ContainerStats and `kubectl top`.
 */
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { MetricsSchema, type MemoryEntrySchema } from '../../shared/gen/containerd/cgroups/v1/metrics_pb.js';
import type { MemoryData, StatsContainerResponse } from '../../shared/gen/kata/agent_pb.js';

export const CGROUP_V1_METRICS_TYPE_URL = 'io.containerd.cgroups.v1.Metrics';

function entry(d: MemoryData | undefined): MessageInitShape<typeof MemoryEntrySchema> | undefined {
  return d ? { usage: d.usage, max: d.maxUsage, failcnt: d.failcnt, limit: d.limit } : undefined;
}

/** Maps the agent's cgroup statistics; absent sections stay absent. */
export function metricsFromAgentStats(r: StatsContainerResponse): Any {
  const cg = r.cgroupStats;
  const cpu = cg?.cpuStats;
  const mem = cg?.memoryStats;
  const raw = mem?.stats ?? {};
  // cgroup v1 names its hierarchical counters total_*, cgroup v2 has only the plain ones.
  const inactiveFile = raw['total_inactive_file'] ?? raw['inactive_file'] ?? 0n;
  const metrics = create(MetricsSchema, {
    ...(cg?.pidsStats ? { pids: { current: cg.pidsStats.current, limit: cg.pidsStats.limit } } : {}),
    ...(cpu
      ? {
          cpu: {
            ...(cpu.cpuUsage ? { usage: { total: cpu.cpuUsage.totalUsage, kernel: cpu.cpuUsage.usageInKernelmode, user: cpu.cpuUsage.usageInUsermode, perCpu: cpu.cpuUsage.percpuUsage } } : {}),
            ...(cpu.throttlingData ? { throttling: { periods: cpu.throttlingData.periods, throttledPeriods: cpu.throttlingData.throttledPeriods, throttledTime: cpu.throttlingData.throttledTime } } : {}),
          },
        }
      : {}),
    ...(mem
      ? {
          memory: {
            cache: mem.cache,
            rss: raw['total_rss'] ?? raw['rss'] ?? raw['anon'] ?? 0n,
            mappedFile: raw['mapped_file'] ?? raw['file_mapped'] ?? 0n,
            inactiveFile: raw['inactive_file'] ?? 0n,
            activeFile: raw['active_file'] ?? 0n,
            totalCache: raw['total_cache'] ?? mem.cache,
            totalRss: raw['total_rss'] ?? raw['rss'] ?? raw['anon'] ?? 0n,
            totalInactiveFile: inactiveFile,
            ...(mem.usage ? { usage: entry(mem.usage) } : {}),
            ...(mem.swapUsage ? { swap: entry(mem.swapUsage) } : {}),
            ...(mem.kernelUsage ? { kernel: entry(mem.kernelUsage) } : {}),
          },
        }
      : {}),
  });
  return create(AnySchema, { typeUrl: CGROUP_V1_METRICS_TYPE_URL, value: toBinary(MetricsSchema, metrics) });
}
