/**
 * Benchmark processes: `node worker.js <role> <sock> [secs size conc warmup]`.
 *   ts-server / grpc-server   serve peers.echo.v1.Echo/Echo on a unix socket, print READY
 *   ts-client / grpc-client   unary Echo load, print one JSON line {rps,p50_us,p99_us,calls}
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { toBinary, fromBinary, create } from '@bufbuild/protobuf';
import { BytesValueSchema } from '@bufbuild/protobuf/wkt';
import { TtrpcClient, TtrpcServer, createClient } from '../../shared/ttrpc/index.js';
import { EchoService, echoImpl } from '../../shared/ttrpc/testing/echo-service.js';
import { percentile } from '../report.js';

const [role, sock, secsArg, sizeArg, concArg, warmArg] = process.argv.slice(2);
const secs = Number(secsArg ?? 2);
const size = Number(sizeArg ?? 16);
const conc = Number(concArg ?? 1);
const warmup = Number(warmArg ?? 1000);
/** COCOLET_TTRPC_COALESCE=0 turns write coalescing off (to measure what it buys). */
const coalesceWrites = process.env.COCOLET_TTRPC_COALESCE !== '0';

const grpcEcho: grpc.ServiceDefinition = {
  Echo: {
    path: '/peers.echo.v1.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: Uint8Array) => Buffer.from(toBinary(BytesValueSchema, create(BytesValueSchema, { value: m }))),
    requestDeserialize: (b: Buffer) => fromBinary(BytesValueSchema, b).value,
    responseSerialize: (m: Uint8Array) => Buffer.from(toBinary(BytesValueSchema, create(BytesValueSchema, { value: m }))),
    responseDeserialize: (b: Buffer) => fromBinary(BytesValueSchema, b).value,
  },
};

type Call = () => Promise<unknown>;

async function load(call: Call): Promise<void> {
  for (let i = 0; i < warmup; i++) await call();
  const lat: number[] = [];
  const end = performance.now() + secs * 1000;
  const t0 = performance.now();
  const workers = Array.from({ length: conc }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call();
      lat.push(performance.now() - t);
    }
  });
  await Promise.all(workers);
  const elapsed = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ rps: lat.length / elapsed, p50_us: percentile(lat, 50) * 1000, p99_us: percentile(lat, 99) * 1000, calls: lat.length }) + '\n');
}

async function main(): Promise<void> {
  const payload = Buffer.alloc(size, 0x61);
  switch (role) {
    case 'ts-server': {
      const s = new TtrpcServer({ coalesceWrites });
      s.register(EchoService, echoImpl);
      await s.listen(sock!);
      process.on('SIGTERM', () => void s.shutdown({ graceMs: 0 }).then(() => process.exit(0)));
      process.stdout.write('READY\n');
      return;
    }
    case 'ts-client': {
      const c = await TtrpcClient.connect(sock!, { coalesceWrites });
      const echo = createClient(EchoService, c);
      await load(() => echo.echo({ value: payload }));
      c.close();
      return;
    }
    case 'grpc-server': {
      const s = new grpc.Server();
      s.addService(grpcEcho, { Echo: (call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>, cb: grpc.sendUnaryData<Uint8Array>) => cb(null, call.request) });
      await new Promise<void>((resolve, reject) => s.bindAsync(`unix://${sock!}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
      process.on('SIGTERM', () => s.tryShutdown(() => process.exit(0)));
      process.stdout.write('READY\n');
      return;
    }
    case 'grpc-client': {
      const Ctor = grpc.makeGenericClientConstructor(grpcEcho, 'Echo');
      const c = new Ctor(`unix://${sock!}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Echo: (m: Uint8Array, cb: (e: Error | null, r?: Uint8Array) => void) => void };
      const call: Call = () => new Promise((resolve, reject) => c.Echo(payload, (e, r) => (e ? reject(e) : resolve(r))));
      await load(call);
      c.close();
      return;
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench worker ${role}: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
