/**
 * `node dist/bench/guest/profile.js [out.cpuprofile]` (default `.cache/agent-in-vm.cpuprofile`): a CPU profile of the agent's start inside the
 * VM (TCG), the measurement behind the start-path work (see guest/README.md, Boot time). Boots the
 * guest image with `cocolet_mode=profile` (image/init.ts), waits for Health, sends one
 * CreateSandbox, then reads the profile the guest writes on its console and prints where the
 * time went: self time per source (bundle file or Node internal) and per function.
 * Env: COCOLET_PROFILE_S (seconds the agent runs after ready, default 3).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { QemuHypervisor } from '../../host/vmm/qemu.js';
import { CONSOLE_MARKERS } from '../../guest/image/init.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { connectAgent } from '../../e2e/guest/agent-client.js';
import { Harness, readIfExists, waitFor } from '../../shared/testing/harness.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time (ms) per key, largest first. */
export function selfTimes(p: CpuProfile, key: (frame: CpuProfile['nodes'][number]['callFrame']) => string): [string, number][] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n) return;
    const k = key(n.callFrame);
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return [...out].sort((a, b) => b[1] - a[1]);
}

const source = (f: CpuProfile['nodes'][number]['callFrame']): string => (f.url ? f.url.replace(/^.*\/agent\//, 'agent/').replace(/^node:internal\//, 'node:') : f.functionName);

async function main(): Promise<void> {
  const out = process.argv[2] ?? '.cache/agent-in-vm.cpuprofile';
  const h = new Harness();
  try {
    await buildGuestImage({});
    const seconds = process.env.COCOLET_PROFILE_S ?? '3';
    const vm = await new QemuHypervisor({ extraCmdline: ['cocolet_mode=profile', `cocolet_profile_s=${seconds}`] })
      .start({ id: 'profile', stateDir: join(h.tempDir('cocolet-profile-vm-'), 'vm') });
    h.defer('profile vm', () => vm.stop());
    const c = await connectAgent(vm.agentSocketPath, 120_000);
    const t0 = performance.now();
    await waitFor(() => c.health.check({ service: '' }, { timeoutMs: 100 }).then(() => true, () => false), { what: 'agent ready', timeoutMs: 120_000, intervalMs: 5 });
    const t1 = performance.now();
    await c.agent.createSandbox({ hostname: 'profile', sandboxId: 'profile' }, { timeoutMs: 60_000 });
    console.log(`first CreateSandbox answered ${Math.round(performance.now() - t1)} ms after Health (waited ${Math.round(t1 - t0)} ms for Health)`);
    c.conn.close();
    const log = await waitFor(() => {
      const l = readIfExists(vm.consoleLogPath);
      return l.includes(CONSOLE_MARKERS.profileEnd) ? l : undefined;
    }, { what: 'profile on the console', timeoutMs: 180_000, intervalMs: 100 });
    const b64 = log.slice(log.indexOf(CONSOLE_MARKERS.profileBegin) + CONSOLE_MARKERS.profileBegin.length, log.indexOf(CONSOLE_MARKERS.profileEnd)).replace(/\s+/g, '');
    const raw = gunzipSync(Buffer.from(b64, 'base64'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, raw);
    const p = JSON.parse(raw.toString('utf8')) as CpuProfile;
    const ready = log.match(/"processUptimeMs":(\d+),"msg":"agent ready"/);
    console.log(`profile: ${out}; agent ready at process uptime ${ready?.[1] ?? '?'} ms (under the profiler)`);
    const total = selfTimes(p, () => 'all')[0]?.[1] ?? 0;
    console.log(`sampled ${Math.round(total)} ms; self time by source:`);
    for (const [k, ms] of selfTimes(p, source).slice(0, 20)) console.log(`${ms.toFixed(0).padStart(7)}  ${k}`);
    console.log('self time by function:');
    for (const [k, ms] of selfTimes(p, (f) => `${f.functionName || '(anonymous)'} ${source(f)}:${f.lineNumber + 1}:${f.columnNumber + 1}`).slice(0, 30)) console.log(`${ms.toFixed(0).padStart(7)}  ${k}`);
  } finally {
    await h.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
