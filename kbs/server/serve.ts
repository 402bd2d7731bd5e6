/**
 * `cocolet-kbs serve`: the key broker on HTTPS with a given certificate (or plain HTTP only with
 * --insecure-http), state in --state-dir, admin requests authenticated by Ed25519 admin keys.
 */
import { readFileSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createLogger, type Logger } from '../../shared/log/logger.js';
import { akPinOf } from '../../shared/kbs/evidence.js';
import type { TdxCollateral } from '../../shared/attestation/index.js';
import { readCollateralDir } from '../verify/collateral-dir.js';
import { loadAdminKey } from './admin-auth.js';
import { Broker, type BrokerOptions } from './app.js';
import { SessionStore, DEFAULT_SESSION_TTL_MS } from './sessions.js';
import { BrokerState, StateCorruptError } from './state.js';
import { DEFAULT_TOKEN_TTL_S, TokenBroker } from './token.js';

export const SERVE_USAGE = `usage: cocolet-kbs serve --state-dir DIR --admin-public-key FILE [options]
  --listen HOST:PORT        address to listen on (default 127.0.0.1:8080; port 0 = any free port)
  --cert FILE --key FILE    HTTPS certificate chain and private key (PEM)
  --insecure-http           serve plain HTTP instead (tests, a TLS-terminating proxy)
  --admin-public-key FILE   Ed25519 public key (PEM) whose JWTs may call the admin API; repeatable
  --admin-issuer S          require this iss in admin JWTs
  --admin-audience S        require this aud in admin JWTs
  --tpm-ak-pin PIN|FILE     trust this TPM attestation key: the SHA-256 (hex) of its DER SPKI,
                            or a PEM/DER public key file; repeatable
  --tdx-collateral DIR      TDX collateral (TCB info, QE identity, CRLs; see cocolet-kbs verify)
  --session-ttl SECONDS     RCAR session lifetime (default ${DEFAULT_SESSION_TTL_MS / 1000})
  --token-ttl SECONDS       attestation token lifetime (default ${DEFAULT_TOKEN_TTL_S})`;

const OPTIONS = {
  'state-dir': { type: 'string' },
  listen: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'insecure-http': { type: 'boolean' },
  'admin-public-key': { type: 'string', multiple: true },
  'admin-issuer': { type: 'string' },
  'admin-audience': { type: 'string' },
  'tpm-ak-pin': { type: 'string', multiple: true },
  'tdx-collateral': { type: 'string' },
  'session-ttl': { type: 'string' },
  'token-ttl': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

function readArg(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function seconds(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new UsageError(`${flag} must be a number of seconds between 0 and 86400`);
  return n;
}

/** A pin as given: 64 hex characters, or a public key file whose SPKI is hashed. */
export function akPinArg(v: string): string {
  if (/^[0-9a-fA-F]{64}$/.test(v)) return v.toLowerCase();
  const data = readArg(v, '--tpm-ak-pin');
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const b64 = text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    return akPinOf(new Uint8Array(Buffer.from(b64, 'base64')));
  }
  return akPinOf(new Uint8Array(data));
}

export interface RunningBroker {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface ServeConfig {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  broker: BrokerOptions;
}

export function listen(cfg: ServeConfig): Promise<RunningBroker> {
  const broker = new Broker(cfg.broker);
  const server = cfg.tls ? createHttpsServer({ cert: cfg.tls.cert, key: cfg.tls.key }, broker.handle) : createHttpServer(broker.handle);
  server.keepAliveTimeout = 5000;
  // A client gets 10 s for its headers and 30 s for a whole request (bodies are at most 1 MiB).
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `${cfg.tls ? 'https' : 'http'}://${host}:${a.port}`,
        server,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function collateral(dir: string): TdxCollateral {
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    return readCollateralDir(dir);
  } catch (e) {
    throw new UsageError(`--tdx-collateral ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function configFrom(argv: string[], logger: Logger): ServeConfig {
  const { values: v } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  if (!v['state-dir']) throw new UsageError('--state-dir is required');
  const adminKeys = v['admin-public-key'] ?? [];
  if (adminKeys.length === 0) throw new UsageError('--admin-public-key is required (the admin API accepts no unauthenticated calls)');
  const publicKeys = adminKeys.map((f) => {
    try {
      return loadAdminKey(readArg(f, '--admin-public-key'));
    } catch (e) {
      throw new UsageError(`--admin-public-key ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  let tls: ServeConfig['tls'];
  if (v['insecure-http']) {
    if (v.cert || v.key) throw new UsageError('--insecure-http and --cert/--key exclude each other');
  } else {
    if (!v.cert || !v.key) throw new UsageError('give --cert and --key for HTTPS, or --insecure-http for plain HTTP');
    tls = { cert: readArg(v.cert, '--cert'), key: readArg(v.key, '--key') };
  }
  const listenArg = v.listen ?? '127.0.0.1:8080';
  const m = /^(.*):(\d{1,5})$/.exec(listenArg);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen ${listenArg} is not HOST:PORT`);
  const state = BrokerState.load(v['state-dir']);
  const tokenTtl = seconds(v['token-ttl'], '--token-ttl', DEFAULT_TOKEN_TTL_S);
  const tokens = TokenBroker.fromPem(state.tokenKeyPem(TokenBroker.generateKeyPem), tokenTtl);
  const pins = new Set((v['tpm-ak-pin'] ?? []).map(akPinArg));
  return {
    host: m[1]!.replace(/^\[(.*)\]$/, '$1'),
    port: Number(m[2]),
    ...(tls ? { tls } : {}),
    broker: {
      state,
      tokens,
      sessions: new SessionStore({ ttlMs: seconds(v['session-ttl'], '--session-ttl', DEFAULT_SESSION_TTL_MS / 1000) * 1000 }),
      admin: { publicKeys, ...(v['admin-issuer'] ? { issuer: v['admin-issuer'] } : {}), ...(v['admin-audience'] ? { audience: v['admin-audience'] } : {}) },
      trust: { tpmAkPins: pins, ...(v['tdx-collateral'] ? { tdxCollateral: collateral(v['tdx-collateral']) } : {}) },
      logger,
      secureCookie: !!tls,
    },
  };
}

export async function runServe(argv: string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.out(SERVE_USAGE);
    return 0;
  }
  const logger = createLogger({ component: 'kbs' });
  let cfg: ServeConfig;
  try {
    cfg = configFrom(argv, logger);
  } catch (e) {
    if (e instanceof StateCorruptError) {
      io.err(`cocolet-kbs serve: ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`cocolet-kbs serve: ${e instanceof Error ? e.message : String(e)}\n${SERVE_USAGE}`);
      return 2;
    }
    throw e;
  }
  let running: RunningBroker;
  try {
    running = await listen(cfg);
  } catch (e) {
    io.err(`cocolet-kbs serve: cannot listen on ${cfg.host}:${cfg.port}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    return 1;
  }
  const b = cfg.broker;
  logger.info({ url: running.url, tls: !!cfg.tls, stateDir: b.state.dir, tpmAkPins: b.trust.tpmAkPins.size, adminKeys: b.admin.publicKeys.length }, 'key broker listening');
  if (!cfg.tls) logger.warn('plain HTTP (--insecure-http): tokens, session cookies and admin JWTs cross the network in the clear');
  await new Promise<void>((resolve) => {
    const stop = (sig: string): void => {
      logger.info({ signal: sig }, 'key broker stopping');
      void running.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
