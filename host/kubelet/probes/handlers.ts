/**
 * Probe and lifecycle-hook handlers (pkg/probe): exec (CRI ExecSync, exit 0 = success),
 * httpGet (200–399 = success, up to 10 redirects, a redirect to another host is a success with a
 * warning, `User-Agent: kube-probe/1.31`, TLS not verified, only the first 10 KiB read),
 * tcpSocket (connection accepted), grpc (`grpc.health.v1.Health/Check` answers SERVING), and
 * sleep (hooks only).
 *
 * API: `runHandler(handler, ctx)` → `{ result: 'success' | 'warning' | 'failure', output }`.
 */
import { connect } from 'node:net';
import * as http from 'node:http';
import * as https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import type { CriRuntime } from '../../cri/api.js';
import type { Container, GrpcAction, HttpGetAction, LifecycleHandler, Probe, TcpSocketAction } from '../api/types.js';

export type ProbeResult = 'success' | 'warning' | 'failure';

export interface HandlerContext {
  cri: CriRuntime;
  containerId: string;
  podIp: string;
  container: Container;
  timeoutMs: number;
  podKey?: string;
}

export interface HandlerOutcome {
  result: ProbeResult;
  output: string;
}

const MAX_BODY = 10 * 1024;
const USER_AGENT = 'kube-probe/1.31';

/** Resolves a named container port. */
export function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

async function execHandler(command: string[], ctx: HandlerContext): Promise<HandlerOutcome> {
  try {
    const r = await ctx.cri.execSync(ctx.containerId, command, Math.max(1, Math.ceil(ctx.timeoutMs / 1000)), {
      context: { container: ctx.container.name, ...(ctx.podKey ? { pod: ctx.podKey } : {}) },
    });
    const out = Buffer.concat([Buffer.from(r.stdout), Buffer.from(r.stderr)]).toString('utf8').slice(0, MAX_BODY);
    return { result: r.exitCode === 0 ? 'success' : 'failure', output: out || `exit code ${r.exitCode}` };
  } catch (e) {
    return { result: 'failure', output: e instanceof Error ? e.message : String(e) };
  }
}

function httpOnce(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < MAX_BODY) body += d;
        if (body.length >= MAX_BODY) res.destroy();
      });
      const done = (): void => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}), body: body.slice(0, MAX_BODY) });
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function httpHandler(a: HttpGetAction, ctx: HandlerContext): Promise<HandlerOutcome> {
  const port = resolvePort(a.port, ctx.container);
  if (port === undefined) return { result: 'failure', output: `port ${a.port} not found` };
  const host = a.host ?? ctx.podIp;
  if (!host) return { result: 'failure', output: 'pod has no IP' };
  const scheme = (a.scheme ?? 'HTTP').toLowerCase();
  let url = new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${a.path ?? '/'}`);
  const headers: Record<string, string> = { 'User-Agent': USER_AGENT, Accept: '*/*' };
  for (const h of a.httpHeaders ?? []) headers[h.name] = h.value;
  const deadline = Date.now() + ctx.timeoutMs;
  try {
    for (let hop = 0; hop <= 10; hop++) {
      const res = await httpOnce(url, headers, Math.max(1, deadline - Date.now()));
      if (res.status >= 300 && res.status < 400 && res.location) {
        const next = new URL(res.location, url);
        if (next.hostname !== url.hostname) return { result: 'warning', output: `probe redirected to another host: ${next.host}` };
        url = next;
        continue;
      }
      if (res.status >= 200 && res.status < 400) return { result: 'success', output: res.body };
      return { result: 'failure', output: `HTTP probe failed with statuscode: ${res.status}` };
    }
    return { result: 'failure', output: 'stopped after 10 redirects' };
  } catch (e) {
    return { result: 'failure', output: e instanceof Error ? e.message : String(e) };
  }
}

function tcpHandler(a: TcpSocketAction, ctx: HandlerContext): Promise<HandlerOutcome> {
  const port = resolvePort(a.port, ctx.container);
  const host = a.host ?? ctx.podIp;
  if (port === undefined) return Promise.resolve({ result: 'failure', output: `port ${a.port} not found` });
  if (!host) return Promise.resolve({ result: 'failure', output: 'pod has no IP' });
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ result: 'failure', output: `dial tcp ${host}:${port}: i/o timeout` });
    }, ctx.timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve({ result: 'success', output: '' });
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve({ result: 'failure', output: e.message });
    });
  });
}

/** grpc.health.v1.HealthCheckRequest{service=1}; response HealthCheckResponse{status=1}, SERVING = 1. */
function grpcHandler(a: GrpcAction, ctx: HandlerContext): Promise<HandlerOutcome> {
  if (!ctx.podIp) return Promise.resolve({ result: 'failure', output: 'pod has no IP' });
  const client = new grpc.Client(`${ctx.podIp}:${a.port}`, grpc.credentials.createInsecure());
  const service = Buffer.from(a.service ?? '', 'utf8');
  const encode = (): Buffer => (service.length ? Buffer.concat([Buffer.from([0x0a, service.length]), service]) : Buffer.alloc(0));
  const decode = (b: Buffer): number => {
    for (let i = 0; i < b.length; ) {
      const tag = b[i++]!;
      if (tag === 0x08) return b[i]!;
      break;
    }
    return 0;
  };
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      encode,
      decode,
      null,
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + ctx.timeoutMs) },
      (err, status) => {
        client.close();
        if (err) resolve({ result: 'failure', output: err.details || err.message });
        else if (status === 1) resolve({ result: 'success', output: '' });
        else resolve({ result: 'failure', output: `service unhealthy (responded with ${status === 2 ? 'NOT_SERVING' : String(status)})` });
      },
    );
  });
}

export async function runHandler(h: Probe | LifecycleHandler, ctx: HandlerContext): Promise<HandlerOutcome> {
  if (h.exec) return execHandler(h.exec.command, ctx);
  if (h.httpGet) return httpHandler(h.httpGet, ctx);
  if (h.tcpSocket) return tcpHandler(h.tcpSocket, ctx);
  if ('grpc' in h && h.grpc) return grpcHandler(h.grpc, ctx);
  if ('sleep' in h && h.sleep) {
    await new Promise((r) => setTimeout(r, Math.min(h.sleep!.seconds * 1000, ctx.timeoutMs)));
    return { result: 'success', output: '' };
  }
  return { result: 'failure', output: 'no handler' };
}
