/**
 * `/exec`, `/attach`, `/portForward` and `/run` on the kubelet's HTTPS API. The kubelet does not
 * speak SPDY or WebSocket itself: it asks the CRI runtime for a one-use URL on the runtime's
 * streaming server (containerd: http://127.0.0.1:<port>/exec/<token>), then forwards the client's
 * upgrade request (method, headers, any bytes already read) to that URL and pipes both sockets, so
 * whatever the runtime negotiates (SPDY/3.1 with `v4.channel.k8s.io`, `portforward.k8s.io`, or a
 * WebSocket channel protocol) reaches the client unchanged. This is upstream's proxy mode.
 *
 * Paths (uid optional; a uid that does not match the pod is 404):
 *   /exec/{ns}/{pod}[/{uid}]/{container}?command=..&command=..&input=1&output=1&error=1&tty=1
 *   /attach/{ns}/{pod}[/{uid}]/{container}?input=1&output=1&error=1&tty=1
 *   /portForward/{ns}/{pod}[/{uid}][?port=80&port=..]
 *   /run/{ns}/{pod}[/{uid}]/{container}?cmd=sh+-c+...   (POST, answers stdout then stderr)
 * The stream flags are the API server's names (`input`, `output`, `error`, `tty`); kubectl's
 * (`stdin`, `stdout`, `stderr`) are accepted too; values `1` or `true`. With a tty, stderr is off.
 *
 * API: `parseStreamPath(path)`, `parseStreamQuery(kind, params)`, `resolveStream(req, deps)` → URL,
 * `proxyUpgrade(req, socket, head, url)`, `writeRawError(socket, status, text)`.
 */
import { connect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ContainerState, PodSandboxState } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import type { CriRuntime } from '../../cri/api.js';
import { Labels } from '../api/types.js';
import type { PodRecord } from '../status/manager.js';
import { HttpError } from './endpoints.js';

export type StreamKind = 'exec' | 'attach' | 'portForward' | 'run';

export interface StreamTarget {
  kind: StreamKind;
  namespace: string;
  pod: string;
  uid?: string;
  /** exec, attach, run */
  container?: string;
}

const KINDS: Record<string, StreamKind> = { exec: 'exec', attach: 'attach', portForward: 'portForward', portforward: 'portForward', run: 'run' };

/** The streaming target of a path, or undefined when the path is not a streaming one. */
export function parseStreamPath(path: string): StreamTarget | undefined {
  const parts = path.split('/').slice(1);
  const kind = KINDS[parts[0] ?? ''];
  if (!kind) return undefined;
  const rest = parts.slice(1).map((p) => decodeURIComponent(p));
  if (rest.at(-1) === '') rest.pop();
  const usage =
    kind === 'portForward' ? `/${parts[0]}/{namespace}/{pod}[/{uid}]` : `/${parts[0]}/{namespace}/{pod}[/{uid}]/{container}`;
  const bad = (): never => {
    throw new HttpError(`expected ${usage}, got ${path}`, 404);
  };
  if (rest.some((p) => !p)) bad();
  if (kind === 'portForward') {
    if (rest.length < 2 || rest.length > 3) bad();
    return { kind, namespace: rest[0]!, pod: rest[1]!, ...(rest[2] ? { uid: rest[2] } : {}) };
  }
  if (rest.length < 3 || rest.length > 4) bad();
  const container = rest.at(-1)!;
  return { kind, namespace: rest[0]!, pod: rest[1]!, ...(rest.length === 4 ? { uid: rest[2]! } : {}), container };
}

export interface StreamQuery {
  cmd: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  ports: number[];
}

function flag(q: URLSearchParams, ...names: string[]): boolean {
  for (const n of names) {
    const v = q.get(n);
    if (v === '1' || v === 'true') return true;
  }
  return false;
}

/** The command, stream flags and ports of a streaming request; 400 naming what is wrong. */
export function parseStreamQuery(kind: StreamKind, q: URLSearchParams): StreamQuery {
  const ports = q.getAll('port').flatMap((v) => v.split(','));
  const out: StreamQuery = { cmd: [], stdin: false, stdout: false, stderr: false, tty: false, ports: [] };
  if (kind === 'portForward') {
    for (const p of ports) {
      if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new HttpError(`port: must be a number between 1 and 65535, got ${JSON.stringify(p)}`);
      out.ports.push(Number(p));
    }
    return out;
  }
  if (kind === 'run') {
    const cmd = q.get('cmd') ?? '';
    out.cmd = cmd.split(' ').filter((s) => s !== '');
    if (out.cmd.length === 0) throw new HttpError('cmd: a command is required (cmd=<command and arguments separated by spaces>)');
    return out;
  }
  out.tty = flag(q, 'tty');
  out.stdin = flag(q, 'input', 'stdin');
  out.stdout = flag(q, 'output', 'stdout');
  out.stderr = flag(q, 'error', 'stderr') && !out.tty;
  if (!out.stdin && !out.stdout && !out.stderr) throw new HttpError('you must specify at least one of stdin (input=1), stdout (output=1), stderr (error=1)');
  if (kind === 'exec') {
    out.cmd = q.getAll('command');
    if (out.cmd.length === 0 || out.cmd[0] === '') throw new HttpError('command: at least one command argument is required (command=sh&command=-c&...)');
  }
  return out;
}

export interface StreamDeps {
  nodeName: string;
  pods: () => PodRecord[];
  runtime?: Pick<CriRuntime, 'listContainers' | 'listPodSandbox' | 'execSync' | 'exec' | 'attach' | 'portForward'>;
}

function findPod(t: StreamTarget, d: StreamDeps): PodRecord {
  const rec = d.pods().find((r) => (r.pod.metadata.namespace ?? 'default') === t.namespace && r.pod.metadata.name === t.pod);
  if (!rec || (t.uid && rec.pod.metadata.uid !== t.uid)) {
    throw new HttpError(`pod "${t.namespace}/${t.pod}"${t.uid ? ` with uid ${t.uid}` : ''} not found on node ${d.nodeName}`, 404);
  }
  return rec;
}

/** The running container's runtime id for a streaming request, from the runtime itself. */
async function runningContainer(t: StreamTarget, rec: PodRecord, d: StreamDeps): Promise<string> {
  const spec = rec.pod.spec;
  const names = [...(spec.initContainers ?? []), ...spec.containers, ...((spec as { ephemeralContainers?: { name: string }[] }).ephemeralContainers ?? [])].map((c) => c.name);
  if (!names.includes(t.container!)) throw new HttpError(`container "${t.container}" is not valid for pod "${t.pod}" (containers: ${names.join(', ')})`, 404);
  const list = await d.runtime!.listContainers(
    { labelSelector: { [Labels.podUid]: rec.pod.metadata.uid!, [Labels.containerName]: t.container! }, state: { state: ContainerState.CONTAINER_RUNNING } },
    { context: { pod: `${t.namespace}/${t.pod}`, container: t.container! } },
  );
  const c = list.sort((a, b) => Number(b.createdAt - a.createdAt))[0];
  if (!c) throw new HttpError(`container "${t.container}" in pod "${t.namespace}/${t.pod}" is not running`, 400);
  return c.id;
}

/**
 * Asks the runtime for the streaming URL of an exec / attach / port-forward request (after
 * authorization). `run` has no URL: use `runCommand`.
 */
export async function resolveStream(t: StreamTarget, q: StreamQuery, d: StreamDeps): Promise<URL> {
  const rt = d.runtime;
  const what = t.kind === 'portForward' ? 'port forwarding' : t.kind;
  if (!rt?.[t.kind === 'portForward' ? 'portForward' : t.kind === 'attach' ? 'attach' : 'exec']) {
    throw new HttpError(`${what} is not supported: the container runtime offers no streaming server`, 501);
  }
  const rec = findPod(t, d);
  const ctx = { pod: `${t.namespace}/${t.pod}`, ...(t.container ? { container: t.container } : {}) };
  let url: string;
  if (t.kind === 'portForward') {
    const sandboxes = await rt.listPodSandbox({ labelSelector: { [Labels.podUid]: rec.pod.metadata.uid! }, state: { state: PodSandboxState.SANDBOX_READY } }, { context: ctx });
    const sb = sandboxes.sort((a, b) => Number(b.createdAt - a.createdAt))[0];
    if (!sb) throw new HttpError(`pod "${t.namespace}/${t.pod}" has no ready sandbox`, 400);
    url = await rt.portForward!(sb.id, q.ports, { context: { ...ctx, sandbox: sb.id } });
  } else {
    const containerId = await runningContainer(t, rec, d);
    const io = { stdin: q.stdin, stdout: q.stdout, stderr: q.stderr, tty: q.tty };
    url = t.kind === 'exec' ? await rt.exec!({ containerId, cmd: q.cmd, ...io }, { context: ctx }) : await rt.attach!({ containerId, ...io }, { context: ctx });
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HttpError(`${what}: the runtime answered an invalid streaming URL`, 502);
  }
  if (u.protocol !== 'http:') throw new HttpError(`${what}: the runtime's streaming server URL uses ${u.protocol.replace(':', '')}; only http (containerd's default, on 127.0.0.1) is supported`, 502);
  return u;
}

/** `/run`: runs the command to completion (ExecSync) and returns its stdout followed by its stderr. */
export async function runCommand(t: StreamTarget, q: StreamQuery, d: StreamDeps, timeoutSeconds = 60): Promise<Buffer> {
  if (!d.runtime) throw new HttpError('run is not supported: no container runtime', 501);
  const rec = findPod(t, d);
  const id = await runningContainer(t, rec, d);
  const r = await d.runtime.execSync(id, q.cmd, timeoutSeconds, { context: { pod: `${t.namespace}/${t.pod}`, container: t.container! } });
  return Buffer.concat([r.stdout, r.stderr]);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway' };

/** A plain-text HTTP answer written directly on a socket that has not been upgraded, then closed. */
export function writeRawError(socket: Duplex, status: number, text: string): void {
  const body = Buffer.from(text.endsWith('\n') ? text : `${text}\n`);
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString()}`,
  );
}

/** Headers never forwarded to the runtime's streaming server (credentials meant for the kubelet). */
const DROP = new Set(['host', 'authorization', 'proxy-authorization', 'cookie']);

/**
 * Forwards an upgrade request to `url` and pipes the two connections until either closes. The
 * request line carries the URL's path and query (the runtime's token), the headers are the
 * client's (Host rewritten, credentials dropped). Resolves with the upstream socket once connected
 * (for the caller's bookkeeping); a connection failure answers 502 on the client socket.
 */
export function proxyUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, url: URL): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const upstream = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 80) });
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      const lines = [`${req.method ?? 'GET'} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
      const raw = req.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) if (!DROP.has(raw[i]!.toLowerCase())) lines.push(`${raw[i]}: ${raw[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      resolve(upstream);
    });
    upstream.on('error', (e) => {
      if (!connected) {
        writeRawError(client, 502, `cannot reach the container runtime's streaming server at ${url.host}: ${e.message}`);
        resolve(undefined);
      } else client.destroy();
    });
    // A clean end travels through pipe(); an error or an abrupt close tears the other side down.
    client.on('error', () => upstream.destroy());
    upstream.on('close', (hadError) => (hadError ? client.destroy() : client.end()));
    client.on('close', () => upstream.destroy());
  });
}
