/**
 * Safety net for the `process` hypervisor: when the agent process dies abruptly (SIGKILL), the
 * runc containers it started (own pid namespaces, not in its process group) and its overlay
 * mounts (and its parent cgroup) outlive it. The agent keeps runc's state under `<workDir>/agent/runc`; this kills and
 * deletes every container there and unmounts whatever is still mounted under the work dir, so the
 * work dir can be removed. A no-op for a VM (nothing of the guest is on the host).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** runc's state root used by cocolet-agent in process mode. */
export function agentRuncRoot(workDir: string): string {
  return join(workDir, 'agent', 'runc');
}

function runc(root: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('runc', ['--root', root, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { ok: r.status === 0, out: r.stdout ?? '' };
}

/** Mount points at or below `dir`, deepest first. */
export function mountsBelow(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Returns what was cleaned (container ids and mount points), for the log. */
export function reapLocalAgent(workDir: string): { containers: string[]; mounts: string[] } {
  const containers: string[] = [];
  const root = agentRuncRoot(workDir);
  if (existsSync(root)) {
    const list = runc(root, ['list', '-q']);
    for (const id of list.out.split('\n').map((s) => s.trim()).filter(Boolean)) {
      runc(root, ['kill', id, 'KILL']);
      runc(root, ['delete', '-f', id]);
      containers.push(id);
    }
  }
  const mounts = mountsBelow(workDir);
  for (const m of mounts) {
    if (spawnSync('umount', [m], { timeout: 20_000 }).status !== 0) spawnSync('umount', ['-l', m], { timeout: 20_000 });
  }
  removeAgentCgroups(workDir);
  return { containers, mounts };
}

/** The agent's parent cgroup (`/cocolet-<sha256(agent state dir)[:8]>`) in every hierarchy, once empty. */
function removeAgentCgroups(workDir: string): void {
  const name = `cocolet-${createHash('sha256').update(join(workDir, 'agent')).digest('hex').slice(0, 8)}`;
  let hierarchies: string[] = [];
  try {
    hierarchies = readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d));
  } catch {
    return;
  }
  for (const dir of [join('/sys/fs/cgroup', name), ...hierarchies.map((hdir) => join(hdir, name))]) {
    try {
      rmdirSync(dir);
    } catch {
      /* absent, or still in use */
    }
  }
}
