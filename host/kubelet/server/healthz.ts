/**
 * The kubelet's local HTTP endpoint (healthzBindAddress:healthzPort, 127.0.0.1:10248 by default;
 * port 0 = off): `/healthz` (200 "ok", or 500 naming the failing check: PLEG health, sync loop
 * liveness), `/healthz/ping`, `/healthz/syncloop`, and `/metrics` (Prometheus text).
 *
 * API: `const s = await serveHealthz({ address, port, checks, metrics })`; `s.port`; `await s.close()`.
 */
import { createServer } from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthCheck {
  name: string;
  check: () => { ok: boolean; message: string };
}

export interface HealthzOptions {
  address: string;
  port: number;
  checks: HealthCheck[];
  registry: Registry;
}

export interface HealthzServer {
  port: number;
  close(): Promise<void>;
}

/** The answer to `/healthz`, `/healthz/ping` or `/healthz/<check>`; undefined for other paths. */
export function answerHealthz(path: string, checks: HealthCheck[]): { status: number; body: string } | undefined {
  if (path === '/healthz/ping') return { status: 200, body: 'ok' };
  if (path !== '/healthz' && !path.startsWith('/healthz/')) return undefined;
  const only = path.slice('/healthz/'.length);
  const results = checks.filter((c) => !only || c.name === only).map((c) => ({ name: c.name, ...c.check() }));
  if (only && results.length === 0) return { status: 404, body: 'not found' };
  const bad = results.filter((r) => !r.ok);
  return bad.length ? { status: 500, body: bad.map((b) => `[-]${b.name} failed: ${b.message}`).join('\n') + '\n' } : { status: 200, body: 'ok' };
}

export async function serveHealthz(o: HealthzOptions): Promise<HealthzServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/metrics') {
        res.setHeader('content-type', o.registry.contentType);
        res.end(await o.registry.metrics());
        return;
      }
      const h = answerHealthz(path, o.checks);
      if (h) {
        res.statusCode = h.status;
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(h.body);
        return;
      }
      res.statusCode = 404;
      res.end('not found');
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.address, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
