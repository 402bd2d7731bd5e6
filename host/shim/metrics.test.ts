import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary } from '@bufbuild/protobuf';
import { MetricsSchema } from '../../shared/gen/containerd/cgroups/v1/metrics_pb.js';
import { StatsContainerResponseSchema } from '../../shared/gen/kata/agent_pb.js';
import { CGROUP_V1_METRICS_TYPE_URL, metricsFromAgentStats } from './metrics.js';

test('agent stats become cgroup v1 Metrics with the bare type URL containerd resolves', () => {
  const any = metricsFromAgentStats(create(StatsContainerResponseSchema, {
    cgroupStats: {
      cpuStats: { cpuUsage: { totalUsage: 5_000_000n, usageInKernelmode: 1_000n, usageInUsermode: 4_000n, percpuUsage: [2n, 3n] }, throttlingData: { periods: 7n, throttledPeriods: 1n, throttledTime: 9n } },
      memoryStats: { cache: 40n, usage: { usage: 1_000n, maxUsage: 2_000n, failcnt: 0n, limit: 4_096n }, stats: { inactive_file: 300n, anon: 600n } },
      pidsStats: { current: 3n, limit: 64n },
    },
  }));
  assert.equal(any.typeUrl, CGROUP_V1_METRICS_TYPE_URL);
  const m = fromBinary(MetricsSchema, any.value);
  assert.equal(m.cpu?.usage?.total, 5_000_000n);
  assert.deepEqual(m.cpu?.usage?.perCpu, [2n, 3n]);
  assert.equal(m.cpu?.throttling?.throttledTime, 9n);
  assert.equal(m.memory?.usage?.usage, 1_000n);
  assert.equal(m.memory?.usage?.limit, 4_096n);
  // cgroup v2 names (no total_*): working set = usage − inactive_file = 700
  assert.equal(m.memory?.totalInactiveFile, 300n);
  assert.equal(m.memory?.totalRss, 600n);
  assert.equal(m.pids?.limit, 64n);
});

test('cgroup v1 hierarchical counters win over the plain ones', () => {
  const any = metricsFromAgentStats(create(StatsContainerResponseSchema, {
    cgroupStats: { memoryStats: { usage: { usage: 10n }, stats: { inactive_file: 1n, total_inactive_file: 4n } } },
  }));
  assert.equal(fromBinary(MetricsSchema, any.value).memory?.totalInactiveFile, 4n);
});

test('an empty answer maps to empty Metrics, not an error', () => {
  const m = fromBinary(MetricsSchema, metricsFromAgentStats(create(StatsContainerResponseSchema, {})).value);
  assert.equal(m.cpu, undefined);
  assert.equal(m.memory, undefined);
});
