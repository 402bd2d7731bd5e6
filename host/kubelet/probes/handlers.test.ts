// Probe handlers against real local servers: HTTP (status codes, redirects, named ports), TCP,
// gRPC health (grpc-js server answering grpc.health.v1.Health/Check) and exec via the fake CRI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcp, type Server as TcpServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { FakeCri } from '../../cri/fake.js';
import { runHandler, type HandlerContext } from './handlers.js';
import type { Probe } from '../api/types.js';

let http: Server;
let httpPort = 0;
let tcp: TcpServer;
let tcpPort = 0;
let grpcServer: grpc.Server;
let grpcPort = 0;
let serving = 1;
const cri = new FakeCri({ images: ['i'] });

before(async () => {
  http = createServer((req, res) => {
    if (req.url === '/ok') res.end('fine');
    else if (req.url === '/redirect') {
      res.statusCode = 302;
      res.setHeader('location', '/ok');
      res.end();
    } else if (req.url === '/away') {
      res.statusCode = 302;
      res.setHeader('location', 'http://example.invalid/');
      res.end();
    } else if (req.url === '/ua') res.end(req.headers['user-agent'] === 'kube-probe/1.31' && req.headers['x-probe'] === 'yes' ? 'ok' : 'bad');
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as { port: number }).port;
  tcp = createTcp((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  tcpPort = (tcp.address() as { port: number }).port;
  grpcServer = new grpc.Server();
  grpcServer.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (n: number) => Buffer.from([0x08, n]),
        responseDeserialize: (b: Buffer) => b[1]!,
      },
    },
    { Check: (_call: unknown, cb: (e: null, v: number) => void) => cb(null, serving) },
  );
  grpcPort = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  const sb = await cri.runPodSandbox({ metadata: { name: 'p', uid: 'u' } }, '');
  const id = await cri.createContainer(sb, { metadata: { name: 'c' }, image: { image: 'i' } });
  await cri.startContainer(id);
  ctx.containerId = id;
});

after(async () => {
  http.close();
  tcp.close();
  await new Promise<void>((r) => grpcServer.tryShutdown(() => r()));
});

const ctx: HandlerContext = {
  cri,
  containerId: '',
  podIp: '127.0.0.1',
  container: { name: 'c', image: 'i', ports: [{ name: 'web', containerPort: 0 }] },
  timeoutMs: 2000,
};

const cases: { name: string; probe: () => Probe; want: string; setup?: () => void }[] = [
  { name: 'httpGet 200 → success', probe: () => ({ httpGet: { path: '/ok', port: httpPort } }), want: 'success' },
  { name: 'httpGet 503 → failure', probe: () => ({ httpGet: { path: '/nope', port: httpPort } }), want: 'failure' },
  { name: 'httpGet follows a same-host redirect', probe: () => ({ httpGet: { path: '/redirect', port: httpPort } }), want: 'success' },
  { name: 'httpGet redirect to another host → warning', probe: () => ({ httpGet: { path: '/away', port: httpPort } }), want: 'warning' },
  { name: 'httpGet sends kube-probe UA and custom headers', probe: () => ({ httpGet: { path: '/ua', port: httpPort, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } }), want: 'success' },
  { name: 'httpGet named port', probe: () => ({ httpGet: { path: '/ok', port: 'web' } }), want: 'success', setup: () => (ctx.container.ports![0]!.containerPort = httpPort) },
  { name: 'httpGet unknown named port → failure', probe: () => ({ httpGet: { path: '/ok', port: 'nope' } }), want: 'failure' },
  { name: 'tcpSocket open → success', probe: () => ({ tcpSocket: { port: tcpPort } }), want: 'success' },
  { name: 'tcpSocket closed → failure', probe: () => ({ tcpSocket: { port: 1 } }), want: 'failure' },
  { name: 'grpc SERVING → success', probe: () => ({ grpc: { port: grpcPort } }), want: 'success', setup: () => (serving = 1) },
  { name: 'grpc NOT_SERVING → failure', probe: () => ({ grpc: { port: grpcPort, service: 'svc' } }), want: 'failure', setup: () => (serving = 2) },
  { name: 'grpc no server → failure', probe: () => ({ grpc: { port: 1 } }), want: 'failure' },
  { name: 'exec exit 0 → success', probe: () => ({ exec: { command: ['true'] } }), want: 'success', setup: () => (cri.execHandler = () => ({ stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: 0 })) },
  { name: 'exec exit 1 → failure', probe: () => ({ exec: { command: ['false'] } }), want: 'failure', setup: () => (cri.execHandler = () => ({ stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: 1 })) },
];
for (const tc of cases) {
  test(`probe handler: ${tc.name}`, async () => {
    tc.setup?.();
    const out = await runHandler(tc.probe(), ctx);
    assert.equal(out.result, tc.want, out.output);
  });
}
