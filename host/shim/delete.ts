/**
 * `delete`: containerd's cleanup when it cannot (or no longer needs to) talk to the shim — after
 * every closed connection, after the daemon died, after a restart with a stale bundle. Stops what
 * the sandbox left running (daemon, VM), unmounts the rootfs, removes the shim's files and prints
 * a DeleteResponse (exit 137, now) on stdout.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { DeleteResponseSchema } from '../../shared/gen/containerd/task/v2/shim_pb.js';
import type { Logger } from '../../shared/log/logger.js';
import type { ShimFlags } from './flags.js';
import { readRecord, removeRecord } from './bundle.js';
import { unmountRootfs } from './rootfs.js';
import { reapLocalAgent } from './reap.js';

export const DELETE_EXIT_STATUS = 137;

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Pids whose command line contains `needle`. */
function pidsNaming(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (Number.isInteger(pid) && pid !== process.pid && cmdline(pid).includes(needle)) out.push(pid);
  }
  return out;
}

/** Kills a process group, but only if its leader is still the process we recorded. */
function killGroupIf(pid: number | undefined, mustContain: string, log: Logger, what: string): void {
  if (!pid || !mustContain || !cmdline(pid).includes(mustContain)) return;
  try {
    process.kill(-pid, 'SIGKILL');
    log.info({ pid, what }, 'killed leftover process group');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function deleteShim(flags: ShimFlags, logger: Logger): Uint8Array {
  const bundle = resolve(flags.bundle || process.cwd());
  const rec = readRecord(bundle);
  if (rec && rec.group === flags.id) {
    if (rec.daemonPid !== process.pid) killGroupIf(rec.daemonPid, `-id ${flags.id}`, logger, 'shim daemon');
    killGroupIf(rec.vmPgid ?? rec.vmPid, rec.workDir ?? '', logger, 'vm');
    // Helpers the VM started in other groups (swtpm, the agent's runc) name the work dir too.
    if (rec.workDir) for (const pid of pidsNaming(rec.workDir)) killGroupIf(pid, rec.workDir, logger, 'vm helper');
    rmSync(rec.socket, { force: true });
    if (rec.workDir) {
      reapLocalAgent(rec.workDir);
      rmSync(rec.workDir, { recursive: true, force: true });
    }
  }
  unmountRootfs(bundle);
  removeRecord(bundle);
  rmSync(join(bundle, 'address'), { force: true });
  logger.info({ container: flags.id }, 'bundle cleaned up');
  return toBinary(DeleteResponseSchema, create(DeleteResponseSchema, { pid: 0, exitStatus: DELETE_EXIT_STATUS, exitedAt: timestampFromDate(new Date()) }));
}
