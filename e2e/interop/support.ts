/**
 * Interop support: trustee v0.21's `kbs` and `kbs-client` as real peers on loopback.
 *
 * The binaries are built by scripts/build-trustee (run by scripts/setup; kbs/README.md, "Interop
 * with trustee") and found in `$COCOLET_TRUSTEE_DIR` (default
 * /opt/cocolet-peers/trustee). Tests skip in one line naming the missing binary.
 *
 * Also here: a TLS man-in-the-middle in front of a broker, so a test can change an /attest body
 * (wrong binding) or hold it until the session has expired, whatever client is in front.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { makeAdminToken } from '../../kbs/admin/cli.js';
import { waitFor, type Harness, type RunningProcess } from '../../shared/testing/harness.js';

export const TRUSTEE_DIR = process.env.COCOLET_TRUSTEE_DIR ?? '/opt/cocolet-peers/trustee';
export const KBS_CLIENT = join(TRUSTEE_DIR, 'kbs-client');
export const TRUSTEE_KBS = join(TRUSTEE_DIR, 'kbs');
/** trustee's admin identity provider as our trustee config names it (iss, aud of the admin JWT). */
export const TRUSTEE_ADMIN_ISSUER = 'cocolet-interop';
export const TRUSTEE_ADMIN_AUDIENCE = 'kbs';

/** False when every named trustee binary is there, else a one-line skip reason. */
export function trusteeMissing(...bins: ('kbs' | 'kbs-client')[]): string | false {
  for (const b of bins) {
    const p = join(TRUSTEE_DIR, b);
    try {
      accessSync(p, constants.X_OK);
    } catch {
      return `trustee's ${b} is not at ${p} (scripts/build-trustee builds it where trustee's sources are; COCOLET_TRUSTEE_DIR)`;
    }
  }
  return false;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** trustee's `kbs-client` with `args` (its own retries included); never throws. */
export function kbsClient(args: string[], timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(KBS_CLIENT, args, { timeout: timeoutMs, env: { ...process.env, RUST_LOG: 'warn' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** An admin JWT file trustee's kbs-client sends as is (`config --admin-token-file`). */
export async function adminTokenFile(dir: string, key: KeyObject, name = 'admin-token'): Promise<string> {
  const p = join(dir, name);
  writeFileSync(p, await makeAdminToken(key, { ttlSeconds: 3600, issuer: TRUSTEE_ADMIN_ISSUER, audience: TRUSTEE_ADMIN_AUDIENCE }), { mode: 0o600 });
  return p;
}

export interface TrusteeKbsOptions {
  /** Admin Ed25519 public key (PEM SPKI). */
  adminPublicFile: string;
  /** HTTPS with this certificate and key; plain HTTP when absent. */
  tls?: { cert: string; key: string };
  /** RCAR session lifetime in minutes (trustee's `timeout`; default 5; 0 = expired as soon as made). */
  sessionMinutes?: number;
  /** RUST_LOG for the broker (default info: the tests read its error lines). */
  log?: string;
  workers?: number;
}

export interface TrusteeKbs {
  proc: RunningProcess;
  url: string;
  dir: string;
}

/**
 * Starts trustee's `kbs` on a free loopback port: built-in attestation service (its sample
 * verifier is the one this machine can satisfy), LocalFs resources, sessions in memory, admin
 * API behind Ed25519 bearer JWTs. Waits for actix's "listening on" line.
 */
export async function startTrusteeKbs(h: Harness, dir: string, o: TrusteeKbsOptions): Promise<TrusteeKbs> {
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const tls = o.tls ? `private_key = "${o.tls.key}"\ncertificate = "${o.tls.cert}"\n` : 'insecure_http = true\n';
  const config = `session_storage_type = "Memory"

[http_server]
sockets = ["127.0.0.1:0"]
${tls}${o.workers ? `worker_count = ${o.workers}\n` : ''}
[attestation_token]
insecure_header_jwk = true

[attestation_service]
type = "coco_as_builtin"
timeout = ${o.sessionMinutes ?? 5}

[attestation_service.attestation_token_broker]
duration_min = 5

[attestation_service.rvps_config]
type = "BuiltIn"

[storage_backend]
storage_type = "LocalFs"

[storage_backend.backends.local_fs]
dir_path = "${join(dir, 'storage')}"

[admin]
authorization_mode = "AuthenticatedAuthorization"

[admin.authentication.bearer_jwt]
identity_providers = [
    { issuer = "${TRUSTEE_ADMIN_ISSUER}", audience = "${TRUSTEE_ADMIN_AUDIENCE}", public_key_uri = "${o.adminPublicFile}" },
]

[admin.authorization.regex_acl]
acls = [{ role = "admin", allowed_endpoints = "^/kbs/.+$" }]

[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
`;
  const file = join(dir, 'kbs.toml');
  writeFileSync(file, config);
  const proc = h.start(TRUSTEE_KBS, ['--config-file', file], { cwd: dir, env: { ...process.env, RUST_LOG: o.log ?? 'info', NO_COLOR: '1' } });
  const m = await proc.waitForOutput(/listening on: (127\.0\.0\.1:\d+)/, { timeoutMs: 60_000 });
  const url = `${o.tls ? 'https' : 'http'}://${m[1]!}`;
  await waitFor(() => ping(url, o.tls?.cert), { what: `trustee kbs at ${url} to answer /healthz`, timeoutMs: 30_000 });
  return { proc, url, dir };
}

function ping(url: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const u = new URL('/healthz', url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: 'GET', ...(ca ? { ca: readPem(ca) } : {}), timeout: 2000 }, (r) => {
      r.resume();
      resolve(r.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function readPem(path: string): Buffer {
  return readFileSync(path);
}

export interface Exchange {
  method: string;
  path: string;
  status: number;
  /** The answer's body (text). */
  body: string;
  setCookie: string[];
}

export interface Mitm {
  url: string;
  /** Every exchange forwarded, in order. */
  exchanges: Exchange[];
  /** Sees each request body and returns what to forward (may wait first). Unset: forward as is. */
  onRequest: ((path: string, body: Buffer, headers: Record<string, string | string[] | undefined>) => Buffer | Promise<Buffer>) | undefined;
}

/**
 * A TLS endpoint holding the broker's own certificate that forwards to `upstream` (so the client
 * under test trusts it and keeps its Secure session cookie), letting `onRequest` rewrite or hold
 * a request body. Closed on dispose.
 */
export async function startMitm(h: Harness, upstream: string, tls: { cert: string; key: string; ca?: string }): Promise<Mitm> {
  const ca = readFileSync(tls.ca ?? tls.cert);
  const m: Mitm = { url: '', exchanges: [], onRequest: undefined };
  const server: Server = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const path = req.url ?? '/';
        const body = m.onRequest ? await m.onRequest(path, Buffer.concat(chunks), req.headers) : Buffer.concat(chunks);
        const up = new URL(path, upstream);
        const headers = { ...req.headers, host: up.host, 'content-length': String(body.length) };
        delete headers['transfer-encoding'];
        const fwd = httpsRequest(up, { method: req.method, headers, ca }, (r) => {
          const out: Buffer[] = [];
          r.on('data', (c: Buffer) => out.push(c));
          r.on('end', () => {
            const b = Buffer.concat(out);
            m.exchanges.push({ method: req.method ?? '', path, status: r.statusCode ?? 0, body: b.toString('utf8'), setCookie: r.headers['set-cookie'] ?? [] });
            const rh = { ...r.headers, 'content-length': String(b.length) };
            delete rh['transfer-encoding'];
            res.writeHead(r.statusCode ?? 502, rh);
            res.end(b);
          });
        });
        fwd.on('error', () => (res.writeHead(502), res.end()));
        fwd.end(body);
      })().catch(() => (res.writeHead(500), res.end()));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  m.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h.defer('interop proxy', () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  return m;
}

/** The session id in a `kbs-session-id` cookie header or Set-Cookie line. */
export function sessionIdOf(cookie: string | string[] | undefined): string | undefined {
  const all = Array.isArray(cookie) ? cookie.join('; ') : (cookie ?? '');
  return /kbs-session-id=([^;\s]+)/.exec(all)?.[1];
}

/**
 * Holds a request until the session its cookie names has expired: the Expires of that session's
 * Set-Cookie (second precision, rounded down) plus one second has passed.
 */
export async function untilSessionExpired(m: Mitm, headers: Record<string, string | string[] | undefined>): Promise<void> {
  const id = sessionIdOf(headers.cookie);
  const set = m.exchanges.flatMap((e) => e.setCookie).find((c) => id !== undefined && sessionIdOf(c) === id);
  const expires = set ? /Expires=([^;]+)/i.exec(set)?.[1] : undefined;
  if (!expires) throw new Error(`interop proxy: no Set-Cookie with Expires seen for session ${id ?? '(no cookie)'}`);
  const at = Date.parse(expires) + 1000;
  await waitFor(() => Date.now() > at, { what: `session ${id} to expire`, timeoutMs: 10 * 60_000, intervalMs: 50 });
}

/**
 * The broker error kinds (e.g. PolicyDeny) in kbs-client's output: kbs_protocol prints the
 * broker's body as `ErrorInformation { error_type: "<prefix>/<Kind>", detail: ... }`, with the
 * quotes escaped once more when the text sits inside another error's debug form.
 */
export function errorTypesIn(text: string): string[] {
  return [...text.matchAll(/error_type: \\*"https:\/\/github\.com\/confidential-containers\/kbs\/errors\/(\w+)\\*"/g)].map((x) => x[1]!);
}

/**
 * A loopback CA and a leaf certificate it signs for 127.0.0.1 (rustls, in trustee's kbs-client,
 * refuses a self-signed CA certificate as the server's own: CaUsedAsEndEntity).
 */
export function caAndLeaf(dir: string): { ca: string; cert: string; key: string; pem: Buffer } {
  const f = (n: string): string => join(dir, n);
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=cocolet interop CA', '-keyout', f('ca.key'), '-out', f('ca.crt')]);
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('tls.key'), '-out', f('tls.csr')]);
  writeFileSync(f('leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n');
  run(['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('leaf.ext'), '-out', f('tls.crt')]);
  return { ca: f('ca.crt'), cert: f('tls.crt'), key: f('tls.key'), pem: readFileSync(f('ca.crt')) };
}
