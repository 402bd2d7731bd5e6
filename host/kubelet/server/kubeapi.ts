/**
 * The kubelet's authenticated HTTPS API (`address`:`port`, 0.0.0.0:10250 by default; `port: 0` or
 * `enableServer: false` = off): `/healthz` (the healthz checks), `/pods` (v1 PodList with status),
 * `/metrics` (the kubelet's prom-client registry), `/containerLogs/{ns}/{pod}/{container}`
 * (tailLines, limitBytes, timestamps, previous, since*, follow: logfollow.ts), `/stats/summary`
 * (running containers only), and `/exec`, `/attach`, `/portForward` upgrades proxied to the CRI
 * runtime's streaming server plus `/run` (streaming.ts).
 *
 * TLS: `tlsCertFile`/`tlsPrivateKeyFile`, or a self-signed certificate generated once into
 * `<rootDir>/pki/` (certs.ts). Every request is authenticated and then authorized (auth.ts);
 * failures answer 401 / 403 in plain text naming the reason, as upstream does. Webhook authn or
 * authz without an API server does not stop the start: a warning is logged once and requests that
 * would need the API server are refused with the reason.
 *
 * API: `serverSettings(config)` → settings or undefined (off);
 * `const s = await serveKubeApi({ ...settings, nodeName, rootDir, kubeconfig, checks, registry, pods, podLogsDir, stats, logger })`;
 * `s.port`, `s.certFile`; `await s.close()`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { ContainerState, type ContainerStats } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import type { KubeletConfiguration } from '../config/kubeletconfig.js';
import { readContainerLog } from '../logs/crilog.js';
import { podLogDir } from '../runtime/podspec.js';
import type { PodRecord } from '../status/manager.js';
import type { CriRuntime } from '../../cri/api.js';
import { Labels } from '../api/types.js';
import { Authorizer, authenticate, cachedTokenReviewer, requestAttributes, type AccessReviewer, type AuthzMode, type Credentials, type TokenReviewer, type UserInfo } from './auth.js';
import { servingCert, type Pem } from './certs.js';
import { HttpError, parseLogQuery, parseLogsPath, podList, procNodeStats, renderLogs, summary, type NodeProcStats } from './endpoints.js';
import { answerHealthz, type HealthCheck } from './healthz.js';
import { followLog } from './logfollow.js';
import { parseStreamPath, parseStreamQuery, proxyUpgrade, resolveStream, runCommand, writeRawError, type StreamDeps } from './streaming.js';

export const DEFAULT_SERVER_ADDRESS = '0.0.0.0';
export const DEFAULT_SERVER_PORT = 10250;

export interface ServerSettings {
  address: string;
  port: number;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCAFile?: string;
  anonymous: boolean;
  webhookAuthn: boolean;
  /** authentication.webhook.cacheTTL */
  tokenCacheTtlMs?: number;
  authzMode: AuthzMode;
  authorizedTtlMs?: number;
  unauthorizedTtlMs?: number;
}

interface AuthConfig {
  x509?: { clientCAFile?: string };
  webhook?: { enabled?: boolean; cacheTTL?: string };
  anonymous?: { enabled?: boolean };
}

/** The server settings from a KubeletConfiguration (v1beta1 defaults), or undefined when it is off. */
export function serverSettings(cfg: KubeletConfiguration, durationMs: (d: string) => number): ServerSettings | undefined {
  const port = typeof cfg.port === 'number' ? cfg.port : DEFAULT_SERVER_PORT;
  if (cfg.enableServer === false || port === 0) return undefined;
  const authn = (cfg.authentication ?? {}) as AuthConfig;
  const authz = (cfg.authorization ?? {}) as { mode?: string; webhook?: { cacheAuthorizedTTL?: string; cacheUnauthorizedTTL?: string } };
  const mode = authz.mode ?? 'Webhook';
  if (mode !== 'AlwaysAllow' && mode !== 'Webhook') throw new Error(`authorization.mode: must be AlwaysAllow or Webhook, got ${JSON.stringify(mode)}`);
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
  const certFile = str(cfg.tlsCertFile);
  const keyFile = str(cfg.tlsPrivateKeyFile);
  const caFile = str(authn.x509?.clientCAFile);
  return {
    address: str(cfg.address) ?? DEFAULT_SERVER_ADDRESS,
    port,
    ...(certFile ? { tlsCertFile: certFile } : {}),
    ...(keyFile ? { tlsPrivateKeyFile: keyFile } : {}),
    ...(caFile ? { clientCAFile: caFile } : {}),
    anonymous: authn.anonymous?.enabled ?? false,
    webhookAuthn: authn.webhook?.enabled ?? true,
    ...(authn.webhook?.cacheTTL ? { tokenCacheTtlMs: durationMs(authn.webhook.cacheTTL) } : {}),
    authzMode: mode,
    ...(authz.webhook?.cacheAuthorizedTTL ? { authorizedTtlMs: durationMs(authz.webhook.cacheAuthorizedTTL) } : {}),
    ...(authz.webhook?.cacheUnauthorizedTTL ? { unauthorizedTtlMs: durationMs(authz.webhook.cacheUnauthorizedTTL) } : {}),
  };
}

export interface KubeApiOptions extends ServerSettings {
  nodeName: string;
  rootDir: string;
  /** API server for TokenReview / SubjectAccessReview. */
  kubeconfig?: string;
  /** Injected reviewers (tests); otherwise built from the kubeconfig. */
  reviewers?: { tokens?: TokenReviewer; access?: AccessReviewer };
  checks: HealthCheck[];
  registry: Registry;
  pods: () => PodRecord[];
  podLogsDir: string;
  /** The CRI runtime: streaming URLs (exec, attach, port-forward), /run, and container state for log follow. */
  runtime?: Pick<CriRuntime, 'listContainers' | 'listPodSandbox' | 'execSync' | 'exec' | 'attach' | 'portForward'>;
  /** CRI ListContainerStats; undefined when the runtime offers none. */
  stats?: () => Promise<ContainerStats[]>;
  procDir?: string;
  logger?: Logger;
  /**
   * serverTLSBootstrap: the serving certificate comes from the API server (a CertRotator of the
   * serving kind, host/kubelet/node/bootstrap.ts) instead of a file or a self-signed one; until the
   * first is issued the server has none and refuses TLS. `setCertificate` swaps later ones in.
   */
  servingCertificates?: { current(): Pem | undefined; currentFile: string };
}

export interface KubeApiServer {
  port: number;
  certFile: string;
  /** Serves this certificate and key to new connections from now on (serverTLSBootstrap). */
  setCertificate(pem: Pem): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.end(body);
}

function credentials(req: IncomingMessage): Credentials {
  const sock = req.socket as TLSSocket;
  const c: Credentials = {};
  if (req.headers.authorization) c.authorization = req.headers.authorization;
  const peer = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
  if (peer && Object.keys(peer).length > 0) {
    const o = peer.subject?.O;
    const cn = peer.subject?.CN;
    c.cert = {
      cn: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''),
      o: o === undefined ? [] : Array.isArray(o) ? o : [o],
      verified: sock.authorized,
      ...(sock.authorizationError ? { error: String(sock.authorizationError) } : {}),
    };
  }
  return c;
}

/** `<podLogDir>/<container>/<n>.log` numbers, ascending. */
function logAttempts(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^(\d+)\.log$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export async function serveKubeApi(o: KubeApiOptions): Promise<KubeApiServer> {
  const log = o.logger ?? silentLogger();
  const bootstrapped = o.servingCertificates;
  if (bootstrapped && (o.tlsCertFile || o.tlsPrivateKeyFile)) log.warn({}, 'serverTLSBootstrap is set: tlsCertFile / tlsPrivateKeyFile are not used');
  const tls: { cert?: string; key?: string; certFile: string } = bootstrapped
    ? { ...bootstrapped.current(), certFile: bootstrapped.currentFile }
    : await servingCert({ rootDir: o.rootDir, nodeName: o.nodeName, ...(o.tlsCertFile ? { certFile: o.tlsCertFile } : {}), ...(o.tlsPrivateKeyFile ? { keyFile: o.tlsPrivateKeyFile } : {}) });
  if ('generated' in tls && tls.generated) log.info({ certFile: tls.certFile }, 'generated self-signed serving certificate');
  if (bootstrapped && !tls.cert) log.info({}, 'no serving certificate yet (serverTLSBootstrap): TLS is refused until the API server issues one');
  let reviewers = o.reviewers;
  if (!reviewers && o.kubeconfig && (o.webhookAuthn || o.authzMode === 'Webhook')) {
    const { apiReviewers } = await import('./webhook.js');
    const r = apiReviewers(o.kubeconfig);
    reviewers = { tokens: r.tokens, access: r.access };
  }
  const tokens = o.webhookAuthn && reviewers?.tokens ? cachedTokenReviewer(reviewers.tokens, o.tokenCacheTtlMs) : undefined;
  const tokensUnavailable = !o.webhookAuthn ? 'authentication.webhook.enabled is false' : 'authentication.webhook.enabled is true but no API server is configured (--kubeconfig)';
  const authz = new Authorizer({
    mode: o.authzMode,
    ...(reviewers?.access ? { reviewer: reviewers.access } : {}),
    ...(o.authorizedTtlMs !== undefined ? { allowedTtlMs: o.authorizedTtlMs } : {}),
    ...(o.unauthorizedTtlMs !== undefined ? { deniedTtlMs: o.unauthorizedTtlMs } : {}),
  });
  if (authz.misconfigured) log.warn({ mode: o.authzMode }, `kubelet API: ${authz.misconfigured}; every request will be answered 403`);
  if (o.webhookAuthn && !tokens) log.warn({}, `kubelet API: ${tokensUnavailable}; bearer tokens will be answered 401`);
  let prevNode: NodeProcStats | undefined;

  /** Authentication then authorization; the user, or the refusal to send. */
  const admit = async (req: IncomingMessage, path: string, method: string): Promise<{ ok: true; user: UserInfo } | { ok: false; status: number; body: string }> => {
    const authn = await authenticate(credentials(req), { anonymous: o.anonymous, ...(tokens ? { tokens } : {}), tokensUnavailable });
    if (!authn.ok) {
      log.info({ path, method, status: 401, reason: authn.reason }, 'kubelet API request unauthenticated');
      return { ok: false, status: 401, body: `Unauthorized: ${authn.reason}\n` };
    }
    const verdict = await authz.authorize(authn.user, requestAttributes(method, path, o.nodeName));
    if (!verdict.allowed) {
      log.info({ path, method, user: authn.user.name, status: 403, reason: verdict.reason }, 'kubelet API request forbidden');
      return { ok: false, status: 403, body: `${verdict.reason}\n` };
    }
    log.debug({ path, method, user: authn.user.name, authn: authn.method }, 'kubelet API request');
    return { ok: true, user: authn.user };
  };
  const streams: StreamDeps = { nodeName: o.nodeName, pods: o.pods, ...(o.runtime ? { runtime: o.runtime } : {}) };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const a = await admit(req, path, method);
    if (!a.ok) return send(res, a.status, a.body);
    const target = parseStreamPath(path);
    if (target) {
      if (target.kind === 'run') {
        if (method !== 'POST') throw new HttpError(`method ${method} not allowed on ${path} (use POST)`, 405);
        return send(res, 200, await runCommand(target, parseStreamQuery('run', url.searchParams), streams));
      }
      throw new HttpError(`${path}: upgrade request required (SPDY/3.1 or WebSocket, as kubectl and the API server send)`);
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(`method ${method} not allowed on ${path}`, 405);
    const h = answerHealthz(path, o.checks);
    if (h) return send(res, h.status, h.body);
    if (path === '/pods' || path === '/pods/') return send(res, 200, JSON.stringify(podList(o.pods())), 'application/json');
    if (path === '/metrics') return send(res, 200, await o.registry.metrics(), o.registry.contentType);
    if (path === '/stats/summary' || path === '/stats/summary/') {
      const node = procNodeStats(o.procDir);
      const stats = o.stats ? await o.stats() : [];
      const s = summary({ nodeName: o.nodeName, node, ...(prevNode ? { prevNode } : {}), pods: o.pods(), stats });
      prevNode = node;
      return send(res, 200, JSON.stringify(s), 'application/json');
    }
    if (path.startsWith('/containerLogs/')) return containerLogs(path, url.searchParams, res);
    send(res, 404, '404 page not found\n');
  };

  /** Upgrade requests: streaming paths are proxied to the runtime's streaming server. */
  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const a = await admit(req, path, method);
    if (!a.ok) return writeRawError(socket, a.status, a.body);
    const target = parseStreamPath(path);
    if (!target || target.kind === 'run') return writeRawError(socket, 404, `${path}: no upgrade is served here (only /exec, /attach, /portForward)`);
    if (method !== 'GET' && method !== 'POST') return writeRawError(socket, 405, `method ${method} not allowed on ${path}`);
    const q = parseStreamQuery(target.kind, url.searchParams);
    const to = await resolveStream(target, q, streams);
    log.info({ kind: target.kind, pod: `${target.namespace}/${target.pod}`, container: target.container, user: a.user.name, upgrade: req.headers.upgrade }, 'kubelet API stream');
    const up = await proxyUpgrade(req, socket, head, to);
    if (up) {
      open.add(up);
      open.add(socket);
      up.once('close', () => open.delete(up));
      socket.once('close', () => open.delete(socket));
    }
  };
  const open = new Set<Duplex>();

  const containerLogs = async (path: string, query: URLSearchParams, res: ServerResponse): Promise<void> => {
    const { namespace, pod, container } = parseLogsPath(path);
    const q = parseLogQuery(query);
    const rec = o.pods().find((r) => (r.pod.metadata.namespace ?? 'default') === namespace && r.pod.metadata.name === pod);
    if (!rec) throw new HttpError(`pod "${namespace}/${pod}" not found on node ${o.nodeName}`, 404);
    const spec = rec.pod.spec;
    const names = [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.name);
    if (!names.includes(container)) throw new HttpError(`container "${container}" is not valid for pod "${pod}" (containers: ${names.join(', ')})`, 400);
    const dir = join(podLogDir(o.podLogsDir, rec.pod), container);
    const attempts = logAttempts(dir);
    const attempt = q.previous ? attempts.at(-2) : attempts.at(-1);
    if (attempt === undefined) {
      throw new HttpError(q.previous ? `previous terminated container "${container}" in pod "${pod}" not found` : `container "${container}" in pod "${pod}" has no log yet (not started)`, 400);
    }
    const file = join(dir, `${attempt}.log`);
    if (!q.follow) return send(res, 200, renderLogs(readContainerLog(file, { withRotated: true }), q));
    const uid = rec.pod.metadata.uid!;
    const running = async (): Promise<boolean> => {
      if (!o.runtime) return false;
      const list = await o.runtime.listContainers({ labelSelector: { [Labels.podUid]: uid, [Labels.containerName]: container } }, { context: { pod: `${namespace}/${pod}`, container } });
      return list.some((c) => c.metadata?.attempt === attempt && c.state === ContainerState.CONTAINER_RUNNING);
    };
    const stop = new AbortController();
    res.once('close', () => stop.abort());
    res.statusCode = 200;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.flushHeaders();
    const write = (b: Buffer): Promise<void> =>
      res.write(b) || stop.signal.aborted
        ? Promise.resolve()
        : new Promise<void>((r) => {
            const done = (): void => {
              res.off('drain', done);
              res.off('close', done);
              r();
            };
            res.once('drain', done);
            res.once('close', done);
          });
    try {
      await followLog({ file, query: q, running, write, signal: stop.signal });
    } catch (e) {
      log.warn({ err: e, pod: `${namespace}/${pod}`, container }, 'following container log failed');
    }
    res.end();
  };

  /** The status for an error (400-ish for HttpError, else 500, logged). */
  const failed = (e: unknown, req: IncomingMessage, what: string): number => {
    const status = e instanceof HttpError ? e.status : 500;
    if (status === 500) log.error({ err: e, path: new URL(req.url ?? '/', 'https://kubelet').pathname }, what);
    return status;
  };
  const clientAuth = o.clientCAFile ? { requestCert: true, rejectUnauthorized: false, ca: readFileSync(o.clientCAFile, 'utf8') } : {};
  const server: Server = createServer(
    {
      ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      ...clientAuth,
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        const status = failed(e, req, 'kubelet API request failed');
        if (!res.headersSent) send(res, status, `${(e as Error).message}\n`);
        else res.destroy();
      });
    },
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    upgrade(req, socket, head).catch((e: unknown) => {
      writeRawError(socket, failed(e, req, 'kubelet API stream failed'), (e as Error).message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.address, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  log.info({ address: o.address, port, authz: o.authzMode, anonymous: o.anonymous, clientCA: o.clientCAFile !== undefined }, 'kubelet API serving');
  return {
    port,
    certFile: tls.certFile,
    setCertificate: (pem) => {
      server.setSecureContext({ cert: pem.cert, key: pem.key, ...clientAuth });
      log.info({ certFile: tls.certFile }, 'serving certificate replaced');
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        for (const sock of open) sock.destroy();
        server.close(() => r());
      }),
  };
}
