// Streaming through the kubelet's HTTPS API against real peers (root: containerd + runc + one
// kubelet): exec / attach / port-forward as WebSocket (v4.channel.k8s.io) upgrades over real TLS
// with a client certificate, proxied by the kubelet to containerd's streaming server, and
// /containerLogs?follow=true read with curl while the container writes and until it exits.
// The same paths through a real API server and kubectl are in e2e/cluster/streaming.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason } from '../support/containerd.js';
import { channelText, wsConnect, type WsClient } from '../support/wsclient.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import type { Kubelet } from '../../host/kubelet/kubelet.js';
import { startKubelet } from '../support/kubelet.js';
import { issueCert } from '../../host/kubelet/server/certs.js';
import { ContainerState } from '../../shared/gen/cri/runtime/v1/api_pb.js';

const NODE = 'e2e-stream';
const h = new Harness();
const skip = (have('curl') ? undefined : 'curl is not installed') ?? containerdSkipReason();
const run = promisify(execFile);
let dir: string;
let client: { cert: string; key: string; certFile: string; keyFile: string };
let kubelet: Kubelet | undefined;
let cri: CriClient;

before(async () => {
  if (skip) return;
  dir = h.tempDir('ccl-e2e-stream-');
  const ca = await issueCert({ cn: 'e2e-ca', isCa: true });
  writeFileSync(join(dir, 'ca.crt'), ca.cert);
  const c = await issueCert({ cn: 'ops-alice', o: ['ops'], client: true, issuer: ca });
  client = { cert: c.cert, key: c.key, certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') };
  writeFileSync(client.certFile, c.cert);
  writeFileSync(client.keyFile, c.key, { mode: 0o600 });
  const ctd = await startContainerd(h);
  cri = new CriClient({ endpoint: ctd!.address });
  h.defer('cri client', () => cri.close());
  kubelet = await startKubelet(h, {
    dir,
    containerd: ctd!,
    cri,
    nodeName: NODE,
    config: { authentication: { x509: { clientCAFile: join(dir, 'ca.crt') }, anonymous: { enabled: false } }, authorization: { mode: 'AlwaysAllow' } },
  });
  const k = kubelet;
  // One pod: `main` serves /www over HTTP on 8080 and sleeps; `writer` prints a line per trigger
  // file created by the test, then exits.
  const writer = 'for n in 1 2 3; do echo line-$n; while [ ! -f /tmp/go-$n ]; do sleep 0.05; done; done; echo last-line';
  writeFileSync(
    join(dir, 'manifests', 'stream.json'),
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'stream' },
      spec: {
        terminationGracePeriodSeconds: 0,
        restartPolicy: 'Never',
        containers: [
          { name: 'main', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', 'mkdir -p /www && echo served-by-httpd > /www/index.html && httpd -p 8080 -h /www && echo main-up && exec sleep 3600'] },
          { name: 'writer', image: BUSYBOX_IMAGE, command: ['/bin/sh', '-c', writer] },
        ],
      },
    }),
  );
  await waitFor(() => k.status.all().some((r) => r.pod.metadata.name === POD && r.status.containerStatuses?.find((c) => c.name === 'main')?.state.running), {
    what: `${POD} main running`,
    timeoutMs: 90_000,
    intervalMs: 200,
  });
});

after(() => h.dispose());

const POD = `stream-${NODE}`;

function ws(path: string, protocol = 'v4.channel.k8s.io', withCert = true): Promise<WsClient> {
  const s = kubelet!.apiServer!;
  return wsConnect({ host: '127.0.0.1', port: s.port, path, ca: readFileSync(s.certFile, 'utf8'), ...(withCert ? { cert: client.cert, key: client.key } : {}), protocol });
}

/** The v4 error channel's Status: Success, or the exit code of a NonZeroExitCode failure. */
function exitOf(text: string): number {
  const st = JSON.parse(text) as { status: string; reason?: string; details?: { causes?: { reason: string; message: string }[] } };
  if (st.status === 'Success') return 0;
  assert.equal(st.reason, 'NonZeroExitCode', text);
  return Number(st.details!.causes!.find((c) => c.reason === 'ExitCode')!.message);
}

async function containerId(name: string): Promise<string> {
  const list = await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': name }, state: { state: ContainerState.CONTAINER_RUNNING } });
  assert.ok(list[0], `container ${name} running`);
  return list[0].id;
}

test('exec over WebSocket: stdout, stderr and the exit code come back through the kubelet', { skip, timeout: 60_000 }, async () => {
  const cmd = ['sh', '-c', 'echo hi; echo oops >&2; exit 3'].map((a) => `command=${encodeURIComponent(a)}`).join('&');
  const c = await ws(`/exec/default/${POD}/main?${cmd}&output=1&error=1`);
  assert.equal(c.status, 101, c.body);
  assert.equal(c.protocol, 'v4.channel.k8s.io');
  const ms = await c.until((m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
  await c.closed;
  assert.equal(channelText(ms, 1), 'hi\n');
  assert.equal(channelText(ms, 2), 'oops\n');
  assert.equal(exitOf(channelText(ms, 3)), 3);
});

test('exec with stdin: what the client sends reaches the process', { skip, timeout: 60_000 }, async () => {
  const c = await ws(`/exec/default/${POD}/main?command=head&command=-n1&input=1&output=1&error=1`);
  assert.equal(c.status, 101, c.body);
  c.send(0, Buffer.from('typed-into-stdin\n'));
  const ms = await c.until((m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
  assert.equal(channelText(ms, 1), 'typed-into-stdin\n');
  assert.equal(exitOf(channelText(ms, 3)), 0);
  c.close();
});

test('exec -it over WebSocket (kubectl exec -it): a terminal, its size from the resize channel, the exit code', { skip, timeout: 60_000 }, async () => {
  const script = 'tty; i=0; while [ "$(stty size)" != "33 111" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; echo "size:$(stty size)"; exit 3';
  const c = await ws(`/exec/default/${POD}/main?command=sh&command=-c&command=${encodeURIComponent(script)}&input=1&output=1&error=1&tty=1`);
  assert.equal(c.status, 101, c.body);
  c.send(4, Buffer.from(JSON.stringify({ Width: 111, Height: 33 })));
  const ms = await c.until((m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
  assert.match(channelText(ms, 1), /^\/dev\/pts\/\d+\r$/m, 'a pty, with the terminal\'s CR NL');
  assert.match(channelText(ms, 1), /size:33 111/);
  assert.equal(channelText(ms, 2), '', 'with a tty there is no stderr stream');
  assert.equal(exitOf(channelText(ms, 3)), 3);
  c.close();
});

test('port-forward over WebSocket: an HTTP request reaches httpd inside the pod', { skip, timeout: 60_000 }, async () => {
  await waitFor(async () => (await cri.execSync(await containerId('main'), ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 10)).exitCode === 0, {
    what: 'httpd answering inside the pod',
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  const c = await ws(`/portForward/default/${POD}?port=8080`);
  assert.equal(c.status, 101, c.body);
  // Each port has a data (0) and an error (1) channel; each opens with the port number (2 bytes LE).
  await c.until((m) => m.filter((x) => x.channel <= 1).length >= 2, 'the port headers');
  assert.equal(c.messages[0]!.data.readUInt16LE(0), 8080);
  c.send(0, Buffer.from('GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n'));
  const ms = await c.until((m) => channelText(m.slice(2), 0).includes('served-by-httpd'), 'the HTTP answer');
  assert.match(channelText(ms.slice(2), 0), /^HTTP\/1\.[01] 200 OK/);
  c.close();
});

test('attach: the container output reaches the client; exec into a missing container is 404', { skip, timeout: 60_000 }, async () => {
  const id = await containerId('main');
  const c = await ws(`/attach/default/${POD}/main?output=1&error=1`);
  assert.equal(c.status, 101, c.body);
  // sleep writes nothing: make the container's own stdout speak (pid 1's fd 1 is the attached stream).
  await cri.execSync(id, ['sh', '-c', 'echo attached-line > /proc/1/fd/1'], 10);
  await c.until((m) => channelText(m, 1).includes('attached-line'), 'attached output');
  c.close();
  const missing = await ws(`/exec/default/${POD}/nope?command=true&output=1`);
  assert.equal(missing.status, 404);
  assert.match(missing.body, /container "nope" is not valid for pod "stream-e2e-stream" \(containers: main, writer\)/);
  const noCert = await ws(`/exec/default/${POD}/main?command=true&output=1`, 'v4.channel.k8s.io', false);
  assert.equal(noCert.status, 401);
  assert.match(noCert.body, /^Unauthorized: no client certificate/);
  const plain = await run('curl', ['-sS', '--cacert', kubelet!.apiServer!.certFile, '--cert', client.certFile, '--key', client.keyFile, '-w', '\n%{http_code}', `https://localhost:${kubelet!.apiServer!.port}/exec/default/${POD}/main?command=true&output=1`]);
  assert.match(plain.stdout, /upgrade request required[^]*\n400$/);
});

test('/run: the command output comes back in the answer', { skip, timeout: 60_000 }, async () => {
  const s = kubelet!.apiServer!;
  const r = await run('curl', ['-sS', '-X', 'POST', '--cacert', s.certFile, '--cert', client.certFile, '--key', client.keyFile, `https://localhost:${s.port}/run/default/${POD}/main?cmd=echo+ran-here`]);
  assert.equal(r.stdout, 'ran-here\n');
});

test('containerLogs follow: lines arrive as they are written, and the answer ends when the container exits', { skip, timeout: 90_000 }, async () => {
  const s = kubelet!.apiServer!;
  const curl = spawn('curl', ['-sSN', '--cacert', s.certFile, '--cert', client.certFile, '--key', client.keyFile, `https://localhost:${s.port}/containerLogs/default/${POD}/writer?follow=true`]);
  h.defer('curl follow', () => void curl.kill());
  let out = '';
  curl.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<number | null>((r) => curl.once('close', (code) => r(code)));
  const id = await containerId('writer');
  for (const n of [1, 2, 3]) {
    // line-n is on the stream before the test lets the container go on to the next line.
    await waitFor(() => out.includes(`line-${n}\n`), { what: `line-${n} streamed (got ${JSON.stringify(out)})`, timeoutMs: 30_000, intervalMs: 50 });
    assert.ok(!out.includes(n === 3 ? 'last-line' : `line-${n + 1}`), 'nothing is read before it is written');
    await cri.execSync(id, ['touch', `/tmp/go-${n}`], 10);
  }
  assert.equal(await ended, 0, 'curl ends cleanly when the container exits');
  assert.equal(out, 'line-1\nline-2\nline-3\nlast-line\n');
});
