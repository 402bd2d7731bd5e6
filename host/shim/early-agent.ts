/**
 * The `process` sandbox's agent, launched by `start` itself: it then boots beside the daemon
 * instead of after the daemon's own Node start-up, and the daemon adopts it (its pid and entry
 * come in LAUNCHED_AGENT_ENV). Only the process hypervisor's agent is independent of the daemon;
 * a QEMU VM is still started by the daemon. Anything that stops the early launch (an annotation the
 * config refuses, a bad default init-data) is left to the daemon, which reports it at Create.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ShimConfig } from './config.js';
import { sandboxSettings } from './config.js';
import { sharesHostNetwork, taskRole, type OciSpec } from './bundle.js';
import { decodeInitData } from './initdata.js';
import { podNetnsPath } from './network/index.js';
import type { LaunchedAgent } from '../vmm/process-launch.js';

/** `<pid>:<entry>` of the agent `start` launched for the daemon to adopt. */
export const LAUNCHED_AGENT_ENV = 'COCOLET_SHIM_AGENT';

/** Launches the sandbox's agent when this task boots a `process` sandbox; undefined otherwise. */
export async function launchEarlyAgent(cfg: ShimConfig, id: string, spec: OciSpec): Promise<LaunchedAgent | undefined> {
  if (cfg.hypervisor.kind !== 'process' || taskRole(spec) === 'container' || sharesHostNetwork(spec)) return undefined;
  let initData: string | undefined;
  let netns: string | undefined;
  try {
    initData = sandboxSettings(cfg, spec.annotations ?? {}).initData;
    netns = podNetnsPath(spec);
  } catch {
    return undefined; // the daemon fails the Create with this error
  }
  const { launchAgentProcess, quickAgentEntry } = await import('../vmm/process-launch.js');
  const stateDir = join(cfg.runtime.stateDir, id);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const a = launchAgentProcess(
    { id, stateDir, ...(netns ? { netns } : {}), ...(initData !== undefined ? { initdata: decodeInitData(initData) } : {}) },
    { agentEntry: quickAgentEntry() },
  );
  a.unref?.(); // `start` exits at once; the daemon takes the agent over
  return a.pid > 0 ? { pid: a.pid, entry: a.entry } : undefined;
}

export function encodeLaunchedAgent(a: LaunchedAgent): string {
  return `${a.pid}:${a.entry}`;
}

/** The adopted agent from the daemon's environment; undefined when absent or malformed. */
export function decodeLaunchedAgent(v: string | undefined): LaunchedAgent | undefined {
  const m = /^(\d+):(\/.+)$/.exec(v ?? '');
  return m ? { pid: Number(m[1]), entry: m[2]! } : undefined;
}
