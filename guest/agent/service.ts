/**
 * grpc.AgentService and grpc.Health handlers. Each handler only does its job: the policy gate
 * (an interceptor) has already checked the request, and errors are mapped in one place.
 *
 * Boot time: nothing here may pull the container runtime, the image puller, CopyFile or metrics
 * into the agent's start path; those modules are imported on first use (the guest bundle puts
 * their code in init functions that run only then), so Health answers after the least code is loaded.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../shared/gen/kata/health_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { ServiceImpl } from '../../shared/ttrpc/index.js';
import { parsePolicy } from '../policy/document.js';
import type { PolicyGate } from '../policy/gate.js';
import type { ContainerManager } from '../runtime/containers.js';
import type { GuestNetwork } from './network/network.js';

export const AGENT_VERSION = '0.1.0';

export interface AgentServiceDeps {
  /** The container manager, created (and its modules loaded) on the first request that needs it. */
  containers: () => Promise<ContainerManager>;
  /** Containers managed so far (0 while the manager has not been created). */
  containerCount: () => number;
  gate: PolicyGate;
  logger: Logger;
  /** Where the guest's `/` is for CopyFile (`/` in a VM, a state folder in process mode). */
  copyRoot: string;
  /** The agent is its VM's init (false: started by /init or as a host process). */
  initDaemon: boolean;
  /** TEE and init-data measurement labels for GetGuestDetails (`tee:dev (not confidential)`, `initdata:PCR8`, …). */
  features?: () => string[];
  /** The guest's network (pod interface, routes, neighbours), loaded on the first network request. */
  network?: () => Promise<GuestNetwork>;
  /** Bytes of container output drained and discarded because the policy forbids the host to read it. */
  outputDiscarded?: () => { stdout: number; stderr: number };
}

interface SandboxState {
  id: string;
  hostname: string;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** A counter from runc's JSON as uint64; "no limit" (2^64−1, a float 2^64 once parsed) stays the maximum. */
export function u64(n: number | undefined): bigint {
  const v = BigInt(Math.max(0, Math.trunc(n ?? 0)));
  return v > U64_MAX ? U64_MAX : v;
}

export function createAgentService(d: AgentServiceDeps): ServiceImpl<typeof AgentService> {
  let sandbox: SandboxState | undefined;
  const net = async (): Promise<GuestNetwork> => {
    if (!d.network) throw new CocoletError(ErrorCode.Unimplemented, 'this agent has no network support', { context: { rpc: 'network' } });
    return d.network();
  };
  const impl: ServiceImpl<typeof AgentService> = {
    async createSandbox(req) {
      const { checkId } = await import('../runtime/containers.js');
      checkId('sandbox_id', req.sandboxId, true);
      if (sandbox) throw new CocoletError(ErrorCode.AlreadyExists, `sandbox ${sandbox.id} already exists`, { context: { sandbox: sandbox.id } });
      sandbox = { id: req.sandboxId, hostname: req.hostname };
      d.logger.info({ sandbox: req.sandboxId }, 'sandbox created');
      return {};
    },
    async destroySandbox() {
      await (await d.containers()).removeAll();
      d.logger.info({ sandbox: sandbox?.id }, 'sandbox destroyed');
      sandbox = undefined;
      return {};
    },
    async createContainer(req) {
      // A pod's containers share its hostname (the sandbox's UTS namespace under runc): the host
      // sends it once, in CreateSandbox, and a container's spec carries none of its own.
      if (req.OCI && !req.OCI.Hostname && sandbox?.hostname) req.OCI.Hostname = sandbox.hostname;
      await (await d.containers()).create(req);
      return {};
    },
    async startContainer(req) {
      await (await d.containers()).start(req.containerId);
      return {};
    },
    async removeContainer(req) {
      await (await d.containers()).remove(req.containerId, req.timeout);
      return {};
    },
    async execProcess(req) {
      await (await d.containers()).exec(req);
      return {};
    },
    async signalProcess(req) {
      await (await d.containers()).signal(req.containerId, req.execId, req.signal);
      return {};
    },
    async waitProcess(req, ctx) {
      return { status: await (await d.containers()).wait(req.containerId, req.execId, ctx.signal) };
    },
    async readStdout(req, ctx) {
      return { data: await (await d.containers()).read(req.containerId, req.execId, 'stdout', req.len, ctx.signal) };
    },
    async readStderr(req, ctx) {
      return { data: await (await d.containers()).read(req.containerId, req.execId, 'stderr', req.len, ctx.signal) };
    },
    async writeStdin(req) {
      return { len: await (await d.containers()).writeStdin(req.containerId, req.execId, req.data) };
    },
    async closeStdin(req) {
      (await d.containers()).closeStdin(req.containerId, req.execId);
      return {};
    },
    async ttyWinResize(req) {
      await (await d.containers()).ttyResize(req.containerId, req.execId, req.row, req.column);
      return {};
    },
    async pauseContainer(req) {
      await (await d.containers()).pause(req.containerId);
      return {};
    },
    async resumeContainer(req) {
      await (await d.containers()).resume(req.containerId);
      return {};
    },
    async updateContainer(req) {
      await (await d.containers()).update(req.containerId, req.resources);
      return {};
    },
    async statsContainer(req) {
      const s = await (await d.containers()).stats(req.containerId);
      return {
        cgroupStats: {
          cpuStats: {
            cpuUsage: { totalUsage: u64(s.cpu?.usage?.total), percpuUsage: (s.cpu?.usage?.percpu ?? []).map(u64), usageInKernelmode: u64(s.cpu?.usage?.kernel), usageInUsermode: u64(s.cpu?.usage?.user) },
            throttlingData: { periods: u64(s.cpu?.throttling?.periods), throttledPeriods: u64(s.cpu?.throttling?.throttledPeriods), throttledTime: u64(s.cpu?.throttling?.throttledTime) },
          },
          memoryStats: {
            cache: u64(s.memory?.cache),
            usage: { usage: u64(s.memory?.usage?.usage), maxUsage: u64(s.memory?.usage?.max), failcnt: u64(s.memory?.usage?.failcnt), limit: u64(s.memory?.usage?.limit) },
            // the cgroup's own counters (inactive_file, anon, …): the host derives the working set
            stats: Object.fromEntries(Object.entries(s.memory?.raw ?? {}).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, u64(v)])),
          },
          pidsStats: { current: u64(s.pids?.current), limit: u64(s.pids?.limit) },
        },
        networkStats: [],
      };
    },
    async getOOMEvent(_req, ctx) {
      return { containerId: await (await d.containers()).nextOom(ctx.signal) };
    },
    async getGuestDetails(req) {
      let block = 0n;
      if (req.memBlockSize) {
        try {
          block = BigInt('0x' + readFileSync('/sys/devices/system/memory/block_size_bytes', 'utf8').trim());
        } catch {
          /* no memory hotplug info */
        }
      }
      return {
        memBlockSizeBytes: block,
        supportMemHotplugProbe: false,
        agentDetails: {
          version: AGENT_VERSION,
          initDaemon: d.initDaemon,
          deviceHandlers: [],
          storageHandlers: ['image_guest_pull'],
          supportsSeccomp: true,
          extraFeatures: [`policy:${d.gate.policyName}`, ...(d.features?.() ?? [])],
        },
      };
    },
    async updateInterface(req) {
      return (await net()).updateInterface(req);
    },
    async updateRoutes(req) {
      const { routeMessage } = await import('./network/network.js');
      return { Routes: (await (await net()).updateRoutes(req)).map(routeMessage) };
    },
    async addARPNeighbors(req) {
      await (await net()).addArpNeighbors(req);
      return {};
    },
    async listInterfaces() {
      return { Interfaces: await (await net()).listInterfaces() };
    },
    async listRoutes() {
      const { routeMessage } = await import('./network/network.js');
      return { Routes: (await (await net()).listRoutes()).map(routeMessage) };
    },
    async copyFile(req) {
      const { copyFile } = await import('./copyfile.js');
      copyFile(req, d.copyRoot);
      return {};
    },
    async setPolicy(req) {
      d.gate.replace(parsePolicy(req.policy));
      return {};
    },
    async getMetrics() {
      const { renderMetrics } = await import('./metrics.js');
      return { metrics: renderMetrics(d.gate.decisionCounts(), d.containerCount(), d.outputDiscarded?.()) };
    },
  };
  // Every RPC cocolet does not implement answers UNIMPLEMENTED naming it (after the policy gate).
  const table = impl as Record<string, unknown>;
  for (const m of AgentService.methods) {
    if (!table[m.localName]) {
      table[m.localName] = () => {
        throw new CocoletError(ErrorCode.Unimplemented, `${m.name} is not implemented by cocolet-agent`, { context: { rpc: m.name } });
      };
    }
  }
  return impl;
}

export function createHealthService(): ServiceImpl<typeof Health> {
  return {
    check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }),
    version: () => ({ grpcVersion: 'ttrpc', agentVersion: AGENT_VERSION }),
  };
}
