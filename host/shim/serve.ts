/**
 * The long-running shim daemon (`serve`, forked by `start`): one per sandbox, serving the task
 * API on the socket `start` chose, publishing events to containerd, and exiting after Shutdown
 * once nothing is left (or on SIGTERM), removing everything it made.
 */
import { chmodSync, closeSync, mkdirSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { join } from 'node:path';
import type { Logger } from '../../shared/log/logger.js';
import { delay } from '../../shared/lifecycle/disposables.js';
import type { ShimFlags } from './flags.js';
import { loadShimConfig } from './config.js';
import { hypervisorOf } from './hypervisors.js';
import { readSpec, writeRecord, type ShimRecord } from './bundle.js';
import { probeSocket, CONFIG_ENV } from './start.js';
import { prebootVm } from './preboot.js';
import { START_TRACE_ENV, StartupPhases } from './phases.js';
import { LAUNCHED_AGENT_ENV, decodeLaunchedAgent } from './early-agent.js';

/** The daemon's heavy modules (also what its startup snapshot holds loaded, see snapshot.ts). */
export function loadTaskService(): Promise<[typeof import('../../shared/ttrpc/index.js'), typeof import('./events.js'), typeof import('./sandbox.js'), typeof import('./service.js')]> {
  return Promise.all([import('../../shared/ttrpc/index.js'), import('./events.js'), import('./sandbox.js'), import('./service.js')]);
}

/** fd on which `start` waits for "ok\n". */
export const READY_FD = 3;

export async function serveShim(flags: ShimFlags, logger: Logger): Promise<void> {
  const bundle = resolve(flags.bundle || process.cwd());
  const sock = flags.socket;
  const report = (msg: string): void => {
    try {
      writeSync(READY_FD, `${msg}\n`);
      closeSync(READY_FD);
    } catch {
      /* start is gone */
    }
  };
  let preboot: ReturnType<typeof prebootVm>;
  const phases = new StartupPhases(process.env[START_TRACE_ENV]);
  const launched = decodeLaunchedAgent(process.env[LAUNCHED_AGENT_ENV]);
  delete process.env[START_TRACE_ENV]; // (neither is for an agent this daemon starts)
  delete process.env[LAUNCHED_AGENT_ENV];
  try {
    const cfg = loadShimConfig(process.env[CONFIG_ENV] ?? '');
    phases.mark('configRead');
    if (await probeSocket(sock)) throw new Error(`another shim already listens on ${sock}`);
    const hypervisor = await hypervisorOf(cfg);
    // Boot first, then load the task service: the two overlap. The heavy imports wait until the VM
    // (or agent process) is spawned, or their loading would hold the spawn back (~190 ms measured).
    preboot = prebootVm({ config: cfg, hypervisor, id: flags.id, workDir: join(cfg.runtime.stateDir, flags.id), spec: readSpec(bundle), logger, ...(launched ? { launched } : {}) });
    await preboot?.launched;
    if (preboot) phases.mark(launched ? 'agentAdopted' : 'agentSpawned');
    const agentUp = preboot?.vm.then(() => phases.mark('agentUp'), () => undefined);
    // (the record below names the work dir at once, so `delete` finds an early VM even before Create)
    const [{ TtrpcServer }, { ForwardPublisher }, { Sandbox }, { registerTaskService, taskService }] = await loadTaskService();
    phases.mark('modulesLoaded');
    const events = new ForwardPublisher({ ttrpcAddress: process.env.TTRPC_ADDRESS || `${flags.address}.ttrpc`, namespace: flags.namespace, logger });
    const workDir = join(cfg.runtime.stateDir, flags.id);
    const record: ShimRecord = { version: 1, id: flags.id, group: flags.id, socket: sock, daemonPid: process.pid, ...(preboot ? { workDir } : {}) };
    const sandbox = new Sandbox({
      id: flags.id,
      config: cfg,
      hypervisor,
      events,
      logger,
      ...(preboot ? { preboot } : {}),
      onVmStarted: (vm, workDir) => {
        Object.assign(record, { vmPid: vm.pid, workDir, ...(vm.pgid ? { vmPgid: vm.pgid } : {}) });
        writeRecord(bundle, record);
      },
    });
    let exiting = false;
    const exit = async (why: string): Promise<void> => {
      if (exiting) return;
      exiting = true;
      logger.info({ why }, 'shim exiting');
      await delay(50); // let the Shutdown answer leave
      await Promise.race([events.flush(), delay(3000)]);
      await sandbox.teardown().catch(() => {});
      events.close();
      rmSync(sock, { force: true });
      process.exit(0);
    };
    const server = new TtrpcServer({ logger });
    registerTaskService(server, taskService({ sandbox, logger, onShutdown: () => void exit('shutdown') }));
    mkdirSync(dirname(sock), { recursive: true, mode: 0o700 });
    rmSync(sock, { force: true });
    await server.listen(sock);
    phases.mark('listening');
    chmodSync(sock, 0o600);
    writeRecord(bundle, record);
    process.on('SIGTERM', () => void exit('SIGTERM'));
    process.on('SIGINT', () => void exit('SIGINT'));
    process.on('SIGPIPE', () => {});
    logger.info({ socket: sock, kind: cfg.hypervisor.kind }, 'shim serving');
    report('ok');
    void Promise.resolve(agentUp).then(() => logger.info({ phases }, 'shim start-up'));
  } catch (e) {
    logger.error({ err: (e as Error).message }, 'shim daemon failed to start');
    report(`error: ${(e as Error).message}`);
    await preboot?.vm.then((vm) => vm.stop()).catch(() => {});
    process.exit(1);
  }
}
