#!/usr/bin/env node
/**
 * cocolet-agent — the guest agent. Serves grpc.AgentService and grpc.Health over ttrpc.
 *
 *   cocolet-agent [--transport=auto|virtio[:name]|tcp:host:port|unix:path]... [--state-dir=DIR]
 *                 [--initdata=FILE] [--runc=PATH]
 *
 * In the VM, /init starts it with `--transport=auto` (the virtio-serial port, its only way in);
 * the process hypervisor starts it with a unix socket and COCOLET_AGENT_INSECURE_PROCESS=1 (NOT
 * confidential). When init-data cannot be measured the agent stops: the reason is its last line
 * (level fatal) and it exits 1.
 */
import { startupSnapshot } from 'node:v8';
import { createLogger } from '../../shared/log/logger.js';
import { Agent } from '../agent/agent.js';

function arg(name: string): string[] {
  return process.argv.slice(2).filter((a) => a.startsWith(`--${name}=`)).flatMap((a) => a.slice(name.length + 3).split(',')).filter(Boolean);
}

async function main(): Promise<void> {
  const logger = createLogger({ component: 'agent' });
  const processMode = process.env.COCOLET_AGENT_INSECURE_PROCESS === '1';
  const agent = new Agent({
    transports: arg('transport').length > 0 ? arg('transport') : ['auto'],
    stateDir: arg('state-dir')[0] ?? '/run/cocolet-agent',
    initdataFile: arg('initdata')[0],
    runcBinary: arg('runc')[0],
    processMode,
    logger,
  });
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: sig }, 'agent stopping');
    void agent.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await agent.start();
  } catch (e) {
    logger.fatal({ err: e instanceof Error ? e.message : String(e), code: (e as { code?: string }).code }, 'agent failed to start');
    process.exit(1);
  }
}

// Under `node --build-snapshot` (the process hypervisor's agent snapshot, guest/image/agent-snapshot.ts)
// the modules are initialized and main waits for the snapshot to be deserialized. (node:v8 is lazy in
// the bundle: the VM's agent never loads it.)
if (process.execArgv.includes('--build-snapshot')) startupSnapshot.setDeserializeMainFunction(() => void main());
else void main();
