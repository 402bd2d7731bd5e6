/**
 * The server process the ttrpc fuzzer attacks: the Echo test service with bounded work per call.
 * Prints READY, then its RSS in bytes whenever it receives a line on stdin.
 */
import { createInterface } from 'node:readline';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { TtrpcServer } from '../../shared/ttrpc/index.js';
import { EchoService, echoImpl } from '../../shared/ttrpc/testing/echo-service.js';

const sock = process.argv[2];
if (!sock) throw new Error('usage: fuzz-server <socket>');

const limit = (what: string, v: number | bigint, max: number): void => {
  if (Number(v) > max) throw new CocoletError(ErrorCode.InvalidArgument, `${what} too large for the fuzz server`);
};

const server = new TtrpcServer();
server.register(EchoService, {
  ...echoImpl,
  big: (req) => {
    limit('size', req.value, (4 << 20) + 1);
    return echoImpl.big!(req, undefined as never);
  },
  sleep: (req, ctx) => {
    limit('sleep', req.value, 20);
    return echoImpl.sleep!(req, ctx);
  },
  count: (req, ctx) => {
    limit('count', req.value, 256);
    return echoImpl.count!(req, ctx);
  },
});
await server.listen(sock);
process.stdout.write('READY\n');
const rl = createInterface({ input: process.stdin });
rl.on('line', () => {
  if (globalThis.gc) globalThis.gc();
  process.stdout.write(`RSS ${process.memoryUsage().rss} ${server.activeCalls}\n`);
});
rl.on('close', () => void server.shutdown({ graceMs: 0 }).then(() => process.exit(0)));
