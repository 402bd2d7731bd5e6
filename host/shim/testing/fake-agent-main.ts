#!/usr/bin/env node
/**
 * Runs the fake agent on a unix socket: `fake-agent-main.js --socket PATH [--deny-stdout]`.
 * Used by the `fake` hypervisor kind (tests only). Exits on SIGTERM, killing its processes.
 */
import { TtrpcServer } from '../../../shared/ttrpc/index.js';
import { AgentService } from '../../../shared/gen/kata/agent_pb.js';
import { createLogger } from '../../../shared/log/logger.js';
import { FakeAgent } from './fake-agent.js';

const argv = process.argv.slice(2);
const at = argv.indexOf('--socket');
const socket = at >= 0 ? argv[at + 1] : undefined;
if (!socket) {
  process.stderr.write('usage: fake-agent-main --socket PATH [--deny-stdout]\n');
  process.exit(2);
}
const logger = createLogger({ component: 'fake-agent' });
const agent = new FakeAgent({ denyStdout: argv.includes('--deny-stdout') });
const server = new TtrpcServer({ logger });
server.register(AgentService, agent.service());
await server.listen(socket);
logger.warn({ socket }, 'fake agent serving: NOT a VM and NOT confidential (tests only)');
const stop = (): void => {
  agent.killAll();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
