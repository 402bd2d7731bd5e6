/**
 * Shim test fixture: a directory on containerd's PATH holding `containerd-shim-cocolet-v2`
 * (a two-line wrapper that runs the shim bundle built next to these tests), a shim config file
 * whose sockets and sandbox state live in the test's temp dir, and the leftover checks every
 * shim test ends with (no shim or agent process, no socket, no mount, no state).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import type { Harness } from '../../shared/testing/harness.js';
import { have, processesMatching, waitFor } from '../../shared/testing/harness.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { mountsUnder } from '../../host/containerd/launcher.js';
import { shimBundlePath } from '../../host/shim/pack.js';
import { CriClient } from '../../host/cri/client.js';
import { startContainerd, type ContainerdFixture, type FixtureOptions } from '../support/containerd.js';

/** The installed shim: the one-file bundle `npm run build` makes (host/shim/pack.ts). */
export const SHIM_ENTRY = shimBundlePath();
export const RUNTIME_TYPE = 'io.containerd.cocolet.v2';
export const FAKE_HYPERVISOR_MODULE = fileURLToPath(new URL('../../host/shim/testing/fake-hypervisor.js', import.meta.url));

export interface ShimFixture {
  shimDir: string;
  configPath: string;
  socketDir: string;
  stateDir: string;
  /** Everything a finished test must not leave behind; empty when clean. */
  leftovers(containerdDir: string): string[];
}

export function prepareShim(h: Harness, opts: { kind?: string; extraAgentArgs?: string[] } = {}): ShimFixture {
  const dir = h.tempDir('ccs-');
  const shimDir = join(dir, 'bin');
  const socketDir = join(dir, 's');
  const stateDir = join(dir, 'state');
  mkdirSync(shimDir);
  const wrapper = join(shimDir, 'containerd-shim-cocolet-v2');
  // (the installed binary itself, as `cocolet up` links it: its sh header keeps NODE_EXTRA_CA_CERTS out of Node's boot)
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(SHIM_ENTRY)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const configPath = join(dir, 'shim.toml');
  const command = opts.extraAgentArgs?.length
    ? `command = ${JSON.stringify([process.execPath, fileURLToPath(new URL('../../host/shim/testing/fake-agent-main.js', import.meta.url)), ...opts.extraAgentArgs])}\n`
    : '';
  const kind = opts.kind ?? 'fake';
  // The tests' fake hypervisor is no part of the shim: the configuration brings its module in.
  const module = kind === 'fake' ? `module = ${JSON.stringify(FAKE_HYPERVISOR_MODULE)}\n` : '';
  // A QEMU guest under TCG on the loaded test machine can take over a minute to measure its init-data and answer
  // CreateSandbox (the agent's measurement lock holds the call): give its RPCs the time a real boot takes here.
  const slow = kind === 'qemu' ? 'create_container_timeout = 300\n' : '';
  writeFileSync(configPath, `[hypervisor]\nkind = "${kind}"\n${module}[agent]\ndial_timeout = ${kind === 'qemu' ? 300 : 30}\n${slow}${command}[runtime]\nsocket_dir = "${socketDir}"\nstate_dir = "${stateDir}"\n`);
  return {
    shimDir,
    configPath,
    socketDir,
    stateDir,
    leftovers(containerdDir: string): string[] {
      const out: string[] = [];
      for (const pid of processesMatching(socketDir)) out.push(`shim process ${pid}`);
      for (const pid of processesMatching(stateDir)) out.push(`agent/VM process ${pid}`);
      if (existsSync(socketDir)) for (const f of readdirSync(socketDir)) out.push(`socket ${f}`);
      if (existsSync(stateDir)) for (const f of readdirSync(stateDir)) out.push(`sandbox state ${f}`);
      for (const m of mountsUnder(containerdDir)) out.push(`mount ${m}`);
      return out;
    },
  };
}

export interface ShimContainerd {
  shim: ShimFixture;
  /** undefined when containerd cannot run here (`skip` says why). */
  containerd?: ContainerdFixture;
  cri?: CriClient;
  skip?: string;
}

/**
 * The shim fixture (its config as COCOLET_SHIM_CONFIG) on a containerd of the test's own that
 * finds it on its PATH, and a CRI client to it; everything is torn down with `h`.
 * `containerd` adds launch options once the shim fixture exists (extra runtime handlers, say).
 */
export async function startShimContainerd(h: Harness, o: { kind?: string; containerd?: (shim: ShimFixture) => FixtureOptions } = {}): Promise<ShimContainerd> {
  const shim = prepareShim(h, o.kind ? { kind: o.kind } : {});
  process.env.COCOLET_SHIM_CONFIG = shim.configPath;
  let skip: string | undefined;
  const containerd = await startContainerd(h, { skip: (why) => (skip = why) }, { shimDir: shim.shimDir, ...o.containerd?.(shim) });
  if (!containerd) return { shim, skip: skip ?? 'containerd is not available' };
  const cri = new CriClient({ endpoint: containerd.address });
  h.defer('cri client', () => cri.close());
  return { shim, containerd, cri };
}

/** Waits (bounded) until the fixture is clean; throws naming what is left. */
export async function assertNoLeftovers(shim: ShimFixture, containerdDir: string): Promise<void> {
  await waitFor(() => shim.leftovers(containerdDir).length === 0, { what: 'no leftovers', timeoutMs: 15_000 }).catch(() => {
    throw new Error(`left behind: ${shim.leftovers(containerdDir).join(', ')}`);
  });
}

export interface CmdResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Why the `qemu` hypervisor's e2e tests cannot run here, or undefined when they can. */
export function qemuSkipReason(): string | undefined {
  if (!have('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed';
  if (!have('swtpm')) return 'swtpm is not installed';
  if (!existsSync(join(guestImageDir(), 'manifest.json'))) return 'guest image not built (npm run guest-image)';
  return undefined;
}
