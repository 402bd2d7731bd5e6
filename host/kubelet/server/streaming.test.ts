import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Registry } from 'prom-client';
import { ContainerState, PodSandboxState, type Container, type PodSandbox } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import type { ContainerFilterInit, PodSandboxFilterInit, StreamAttachInit, StreamExecInit } from '../../cri/api.js';
import type { PodRecord } from '../status/manager.js';
import { HttpError } from './endpoints.js';
import { serveKubeApi, type KubeApiServer } from './kubeapi.js';
import { parseStreamPath, parseStreamQuery, resolveStream, type StreamDeps } from './streaming.js';

const q = (s: string): URLSearchParams => new URLSearchParams(s);
const isHttp = (status: number, re: RegExp) => (e: unknown) => e instanceof HttpError && e.status === status && re.test(e.message);

test('stream paths: exec / attach / run with an optional uid, portForward with or without it', () => {
  assert.deepEqual(parseStreamPath('/exec/default/web/app'), { kind: 'exec', namespace: 'default', pod: 'web', container: 'app' });
  assert.deepEqual(parseStreamPath('/attach/ns/web/u-1/app'), { kind: 'attach', namespace: 'ns', pod: 'web', uid: 'u-1', container: 'app' });
  assert.deepEqual(parseStreamPath('/portForward/ns/web'), { kind: 'portForward', namespace: 'ns', pod: 'web' });
  assert.deepEqual(parseStreamPath('/portForward/ns/web/u-1'), { kind: 'portForward', namespace: 'ns', pod: 'web', uid: 'u-1' });
  assert.deepEqual(parseStreamPath('/run/ns/web/app'), { kind: 'run', namespace: 'ns', pod: 'web', container: 'app' });
  assert.equal(parseStreamPath('/pods'), undefined);
  assert.equal(parseStreamPath('/containerLogs/a/b/c'), undefined);
  for (const p of ['/exec/ns/web', '/exec/ns/web/u/app/extra', '/portForward/ns', '/exec//web/app']) assert.throws(() => parseStreamPath(p), isHttp(404, /expected \/\w+\/\{namespace\}\/\{pod\}/), p);
});

test('stream query: the API server flag names and kubectl names, tty turns stderr off, errors name the parameter', () => {
  assert.deepEqual(parseStreamQuery('exec', q('command=sh&command=-c&command=echo+hi&input=1&output=1&error=1')), { cmd: ['sh', '-c', 'echo hi'], stdin: true, stdout: true, stderr: true, tty: false, ports: [] });
  assert.deepEqual(parseStreamQuery('exec', q('command=ls&stdout=true&stderr=true&tty=1')), { cmd: ['ls'], stdin: false, stdout: true, stderr: false, tty: true, ports: [] });
  assert.deepEqual(parseStreamQuery('attach', q('output=1')), { cmd: [], stdin: false, stdout: true, stderr: false, tty: false, ports: [] });
  assert.deepEqual(parseStreamQuery('portForward', q('port=80&port=8080,9090')).ports, [80, 8080, 9090]);
  assert.deepEqual(parseStreamQuery('run', q('cmd=echo+a+b')).cmd, ['echo', 'a', 'b']);
  assert.throws(() => parseStreamQuery('exec', q('command=ls')), isHttp(400, /at least one of stdin \(input=1\), stdout \(output=1\), stderr \(error=1\)/));
  assert.throws(() => parseStreamQuery('exec', q('output=1')), isHttp(400, /command: at least one command argument/));
  assert.throws(() => parseStreamQuery('portForward', q('port=0')), isHttp(400, /port: must be a number between 1 and 65535, got "0"/));
  assert.throws(() => parseStreamQuery('portForward', q('port=http')), isHttp(400, /port: .*"http"/));
  assert.throws(() => parseStreamQuery('run', q('')), isHttp(400, /cmd: a command is required/));
});

const record: PodRecord = {
  pod: { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } } as PodRecord['pod'],
  status: { phase: 'Running', conditions: [], containerStatuses: [] },
};

/** A runtime stub: the streaming URL given, the requests and filters it saw. */
function stubRuntime(url: string, running = true) {
  const seen: { exec: StreamExecInit[]; attach: StreamAttachInit[]; portForward: [string, number[]][]; filters: (ContainerFilterInit | PodSandboxFilterInit | undefined)[] } = { exec: [], attach: [], portForward: [], filters: [] };
  const rt: NonNullable<StreamDeps['runtime']> = {
    listContainers: async (f) => {
      seen.filters.push(f);
      return running ? [{ id: 'c-old', createdAt: 1n } as Container, { id: 'c-new', createdAt: 2n } as Container] : [];
    },
    listPodSandbox: async (f) => {
      seen.filters.push(f);
      return [{ id: 'sb-1', createdAt: 1n } as PodSandbox];
    },
    execSync: async () => ({ stdout: Buffer.from('out\n'), stderr: Buffer.from('err\n'), exitCode: 0 }),
    exec: async (r) => (seen.exec.push(r), url),
    attach: async (r) => (seen.attach.push(r), url),
    portForward: async (id, ports) => (seen.portForward.push([id, ports]), url),
  };
  return { rt, seen };
}

test('resolveStream: the newest running container, the ready sandbox, the flags passed on; missing pieces named', async () => {
  const { rt, seen } = stubRuntime('http://127.0.0.1:1234/exec/tok');
  const d: StreamDeps = { nodeName: 'n1', pods: () => [record], runtime: rt };
  const u = await resolveStream(parseStreamPath('/exec/default/web/app')!, parseStreamQuery('exec', q('command=id&input=1&output=1')), d);
  assert.equal(u.href, 'http://127.0.0.1:1234/exec/tok');
  assert.deepEqual(seen.exec, [{ containerId: 'c-new', cmd: ['id'], stdin: true, stdout: true, stderr: false, tty: false }]);
  assert.deepEqual(seen.filters[0], { labelSelector: { 'io.kubernetes.pod.uid': 'u1', 'io.kubernetes.container.name': 'app' }, state: { state: ContainerState.CONTAINER_RUNNING } });
  await resolveStream(parseStreamPath('/attach/default/web/u1/app')!, parseStreamQuery('attach', q('output=1&tty=1')), d);
  assert.deepEqual(seen.attach, [{ containerId: 'c-new', stdin: false, stdout: true, stderr: false, tty: true }]);
  await resolveStream(parseStreamPath('/portForward/default/web')!, parseStreamQuery('portForward', q('port=80')), d);
  assert.deepEqual(seen.portForward, [['sb-1', [80]]]);
  assert.deepEqual(seen.filters[2], { labelSelector: { 'io.kubernetes.pod.uid': 'u1' }, state: { state: PodSandboxState.SANDBOX_READY } });

  const io = parseStreamQuery('exec', q('command=id&output=1'));
  await assert.rejects(resolveStream(parseStreamPath('/exec/default/other/app')!, io, d), isHttp(404, /pod "default\/other" not found on node n1/));
  await assert.rejects(resolveStream(parseStreamPath('/exec/default/web/u2/app')!, io, d), isHttp(404, /pod "default\/web" with uid u2 not found/));
  await assert.rejects(resolveStream(parseStreamPath('/exec/default/web/side')!, io, d), isHttp(404, /container "side" is not valid for pod "web" \(containers: app\)/));
  await assert.rejects(resolveStream(parseStreamPath('/exec/default/web/app')!, io, { ...d, runtime: stubRuntime('x', false).rt }), isHttp(400, /container "app" in pod "default\/web" is not running/));
  await assert.rejects(resolveStream(parseStreamPath('/exec/default/web/app')!, io, { ...d, runtime: stubRuntime('https://127.0.0.1:1/x').rt }), isHttp(502, /uses https; only http/));
  await assert.rejects(resolveStream(parseStreamPath('/exec/default/web/app')!, io, { nodeName: 'n1', pods: () => [record] }), isHttp(501, /exec is not supported: the container runtime offers no streaming server/));
});

const dir = mkdtempSync(join(tmpdir(), 'ccl-streaming-'));
const servers: KubeApiServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends raw bytes over TLS to the kubelet and collects what comes back until it closes or `until` holds. */
function rawTls(port: number, ca: string, lines: string, until: (got: string) => boolean, more?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => s.write(lines));
    let got = '';
    let sentMore = false;
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (more && !sentMore && got.includes('\r\n\r\n')) {
        sentMore = true;
        s.write(more);
      }
      if (until(got)) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

test('upgrade proxy: the request (path = the runtime token, client headers, credentials dropped) reaches the streaming server and bytes flow both ways', async () => {
  // A stand-in streaming server: records the request head, answers 101, then echoes upper-cased.
  let head = '';
  const conns: Socket[] = [];
  const fake = createServer((c) => {
    conns.push(c);
    let buf = '';
    c.on('data', (d: Buffer) => {
      if (!head) {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.slice(0, end);
        c.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
        const rest = buf.slice(end + 4);
        if (rest) c.write(rest.toUpperCase());
        return;
      }
      c.write(d.toString('latin1').toUpperCase());
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  after(() => {
    for (const c of conns) c.destroy();
    fake.close();
  });
  const port = (fake.address() as { port: number }).port;
  const { rt } = stubRuntime(`http://127.0.0.1:${port}/exec/TOKEN123`);
  const s = await serveKubeApi({ address: '127.0.0.1', port: 0, anonymous: true, webhookAuthn: false, authzMode: 'AlwaysAllow', nodeName: 'n1', rootDir: dir, checks: [], registry: new Registry(), pods: () => [record], podLogsDir: dir, runtime: rt });
  servers.push(s);
  const ca = readFileSync(s.certFile, 'utf8');
  const req = [
    'POST /exec/default/web/app?command=sh&input=1&output=1 HTTP/1.1',
    'Host: kubelet:10250',
    'Connection: Upgrade',
    'Upgrade: SPDY/3.1',
    'X-Stream-Protocol-Version: v4.channel.k8s.io',
    'Authorization: Bearer not-for-the-runtime',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  // The bearer token fails authentication (webhook authn is off): 401 and nothing proxied.
  const refused = await rawTls(s.port, ca, req, () => false);
  assert.match(refused, /^HTTP\/1\.1 401 Unauthorized\r\n[^]*bearer token cannot be verified/);
  assert.equal(head, '');
  const got = await rawTls(s.port, ca, req.replace('Authorization: Bearer not-for-the-runtime\r\n', 'Cookie: c=1\r\n'), (g) => g.includes('PING-PONG'), 'ping-pong');
  assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*Upgrade: SPDY\/3\.1/);
  assert.ok(got.endsWith('PING-PONG'), got);
  const lines = head.split('\r\n');
  assert.equal(lines[0], 'POST /exec/TOKEN123 HTTP/1.1');
  assert.ok(lines.includes(`Host: 127.0.0.1:${port}`), head);
  assert.ok(lines.includes('Upgrade: SPDY/3.1') && lines.includes('X-Stream-Protocol-Version: v4.channel.k8s.io'), head);
  assert.ok(!/cookie|authorization|kubelet:10250/i.test(head), `credentials and the client's Host are not forwarded: ${head}`);

  // A streaming server that is gone: 502 naming it.
  const { rt: gone } = stubRuntime('http://127.0.0.1:1/exec/x');
  const s2 = await serveKubeApi({ address: '127.0.0.1', port: 0, anonymous: true, webhookAuthn: false, authzMode: 'AlwaysAllow', nodeName: 'n1', rootDir: dir, checks: [], registry: new Registry(), pods: () => [record], podLogsDir: dir, runtime: gone });
  servers.push(s2);
  const bad = await rawTls(s2.port, ca, req.replace('Authorization: Bearer not-for-the-runtime\r\n', ''), () => false);
  assert.match(bad, /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*cannot reach the container runtime's streaming server at 127\.0\.0\.1:1/);
  // /run answers the command output (stdout then stderr); GET on it is refused.
  const ran = await rawTls(s.port, ca, 'POST /run/default/web/app?cmd=echo+x HTTP/1.1\r\nHost: k\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () => false);
  assert.match(ran, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nout\nerr\n$/);
  const get = await rawTls(s.port, ca, 'GET /run/default/web/app?cmd=echo+x HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n', () => false);
  assert.match(get, /^HTTP\/1\.1 405 [^]*use POST/);
});
