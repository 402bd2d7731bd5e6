/**
 * The data hub's KBS client (RCAR, as guest-components' kbs_protocol does it):
 *   POST /kbs/v0/auth  {version "0.4.0", tee, extra-params} -> challenge + kbs-session-id cookie
 *   POST /kbs/v0/attest {runtime-data {nonce, tee-pubkey}, tee-evidence {primary_evidence, additional_evidence ""}, init-data}
 *        -> {token}
 *   GET  /kbs/v0/resource/<repository>/<type>/<tag> (cookie) -> JWE to the session's TEE key
 *
 * A fresh TEE key pair (EC P-256 by default, RSA-2048 on request) per attested session; the
 * private key never leaves this process. The session (cookie + token) is reused until the
 * token is about to expire or the broker answers 401 for the session (then one re-attestation).
 * Concurrent callers share one handshake. Connection errors, timeouts and 5xx are retried with
 * bounded exponential backoff; TLS failures and refusals are not. Errors name the resource and
 * the check that failed, never a value; nothing here logs a token, cookie, key or resource.
 */
import { generateKeyPair, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { CocoletError, ErrorCode, type ErrorCodeValue } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/logger.js';
import type { Attester } from '../attester/types.js';
import type { KbsConfig } from './config.js';
import { BrokerHttp, TransportError, type HttpResponse } from './http.js';
import { decryptJwe, JweError, type FlattenedJwe } from './jwe.js';
import { bindingDigest, bindingHashOf, errorKindOf, KBS_PREFIX, KBS_PROTOCOL_VERSION, SESSION_COOKIE, type Challenge, type TeePubKey } from './protocol.js';
import { resourcePath, resourceUriString, type ResourceUri } from './resource-uri.js';

export interface RetryOptions {
  /** Attempts per step (a handshake, or one resource GET), the first included. Default 6. */
  attempts: number;
  /** First delay; doubles each retry. Default 250 ms. */
  baseDelayMs: number;
  /** Cap on one delay. Default 8 s. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8000 };
/** Renew the session this long before the token's `exp`. */
export const TOKEN_RENEW_MARGIN_MS = 15_000;
/** Session lifetime assumed when the token has no readable `exp` (trustee's session is 5 min). */
export const DEFAULT_SESSION_MS = 4 * 60_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface RetryEvent {
  /** The resource URI, or `attestation` for the handshake. */
  what: string;
  attempt: number;
  delayMs: number;
  /** Transport code or HTTP status; never a body. */
  reason: string;
}

export interface KbsClientOptions {
  config: KbsConfig;
  attester: Attester;
  teeKeyType?: 'EC' | 'RSA';
  /** Sent as `init-data` in the attestation (the broker can check it against PCR 8 / HOSTDATA). */
  initData?: { format: 'toml'; body: string };
  retry?: Partial<RetryOptions>;
  requestTimeoutMs?: number;
  logger?: Logger;
  /** Told about each retry (the agent turns these into pod events). */
  onRetry?: (e: RetryEvent) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** A failure worth retrying (internal): a refused or reset connection, a timeout, a 5xx. */
class Transient extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** A data hub failure: `check` names what failed (stable), the message says why, never a value. */
export class CdhError extends CocoletError {
  constructor(
    code: ErrorCodeValue,
    readonly check: string,
    message: string,
    resource: string | undefined,
    cause?: unknown,
  ) {
    super(code, message, { cause, context: { check, ...(resource ? { resource } : {}) } });
    this.name = 'CdhError';
  }
}

interface Session {
  cookie: string;
  key: KeyObject;
  expiresAt: number;
}

/** A TEE key pair; RSA is generated off the event loop (it takes tens of milliseconds). */
async function teeKeyPair(kind: 'EC' | 'RSA'): Promise<{ privateKey: KeyObject; jwk: TeePubKey }> {
  if (kind === 'RSA') {
    const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
    const j = publicKey.export({ format: 'jwk' });
    return { privateKey, jwk: { kty: 'RSA', alg: 'RSA-OAEP-256', n: j.n!, e: j.e! } };
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const j = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: j.x!, y: j.y! } };
}

/** `exp` (ms) of a JWT, read without verifying (only to decide when to renew). */
function tokenExpiry(token: string): number | undefined {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function cookieOf(r: HttpResponse): string | undefined {
  for (const c of r.headers['set-cookie'] ?? []) {
    const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(c);
    if (m) return m[1];
  }
  return undefined;
}

/** The broker's `{type, detail}`, cut to a readable length. */
function brokerError(r: HttpResponse): { kind: string | undefined; detail: string } {
  let info: unknown;
  try {
    info = JSON.parse(r.body.toString('utf8'));
  } catch {
    info = undefined;
  }
  const detail = typeof (info as { detail?: unknown } | undefined)?.detail === 'string' ? (info as { detail: string }).detail : `HTTP ${r.status}`;
  return { kind: errorKindOf(info), detail: detail.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) };
}

/** 401 kinds a fresh attestation cannot fix; any other 401 (no, unknown or expired session or token) re-attests once. */
const FINAL_KINDS = new Set(['PolicyDeny', 'AttestationError']);

export class KbsClient {
  private session: Session | undefined;
  private handshaking: Promise<Session> | undefined;
  private readonly http: BrokerHttp;
  private readonly retry: RetryOptions;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: KbsClientOptions) {
    this.http = new BrokerHttp({ url: opts.config.url, ca: opts.config.cert, timeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS });
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get brokerUrl(): string {
    return this.http.origin;
  }

  /** One HTTP exchange; a refused connection, a timeout or a 5xx is Transient (retry-worthy). */
  private async send(what: string, method: 'GET' | 'POST', path: string, body: unknown, cookie: string | undefined): Promise<HttpResponse> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = cookie ? { cookie: `${SESSION_COOKIE}=${cookie}` } : {};
    let r: HttpResponse;
    try {
      r = await this.http.request(method, path, data, headers);
    } catch (e) {
      if (!(e instanceof TransportError)) throw e;
      if (e.tls) throw new CdhError(ErrorCode.Unauthenticated, 'kbs.tls', `${what}: broker ${this.http.origin}: ${e.message}`, what, e);
      throw new Transient(e.code);
    }
    if (r.status >= 500) throw new Transient(`HTTP ${r.status}`);
    return r;
  }

  /**
   * Runs `step` until it does not fail transiently, with exponential backoff, at most
   * `retry.attempts` times. A handshake is retried whole (a fresh challenge: nonces are single-use).
   */
  private async withRetry<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        if (attempt >= this.retry.attempts) {
          throw new CdhError(ErrorCode.Unavailable, 'kbs.unavailable', `${what}: broker ${this.http.origin} did not answer after ${attempt} attempts (last: ${e.reason})`, what);
        }
        const delayMs = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        this.opts.logger?.warn({ resource: what, attempt, delayMs, reason: e.reason }, 'broker request failed, retrying');
        this.opts.onRetry?.({ what, attempt, delayMs, reason: e.reason });
        await this.sleep(delayMs);
      }
    }
  }

  private parseJson<T>(r: HttpResponse, what: string, field: string): T {
    try {
      return JSON.parse(r.body.toString('utf8')) as T;
    } catch {
      throw new CdhError(ErrorCode.FailedPrecondition, 'kbs.protocol', `${what}: the broker's ${field} is not JSON`, what);
    }
  }

  private handshake(): Promise<Session> {
    return this.withRetry('attestation', () => this.handshakeOnce());
  }

  private async handshakeOnce(): Promise<Session> {
    const what = 'attestation';
    const tee = this.opts.attester.tee;
    const auth = await this.send(what, 'POST', `${KBS_PREFIX}/auth`, { version: KBS_PROTOCOL_VERSION, tee, 'extra-params': { 'supported-hash-algorithms': ['sha256', 'sha384', 'sha512'] } }, undefined);
    if (auth.status !== 200) {
      const b = brokerError(auth);
      throw new CdhError(ErrorCode.PermissionDenied, 'kbs.auth', `${what}: broker refused the ${tee} session (${b.kind ?? auth.status}: ${b.detail})`, what);
    }
    const challenge = this.parseJson<Challenge>(auth, what, 'challenge');
    const cookie = cookieOf(auth);
    if (typeof challenge?.nonce !== 'string' || !cookie) throw new CdhError(ErrorCode.FailedPrecondition, 'kbs.protocol', `${what}: the challenge lacks a nonce or the ${SESSION_COOKIE} cookie`, what);
    const key = await teeKeyPair(this.opts.teeKeyType ?? 'EC');
    const digest = bindingDigest(challenge.nonce, key.jwk, '', bindingHashOf(challenge['extra-params']));
    let evidence: unknown;
    try {
      evidence = await this.opts.attester.evidence(digest);
    } catch (e) {
      throw new CdhError(ErrorCode.FailedPrecondition, 'attester.evidence', `${what}: the ${tee} attester produced no evidence (${(e as Error).message})`, what, e);
    }
    const body = {
      'init-data': this.opts.initData ?? null,
      'runtime-data': { nonce: challenge.nonce, 'tee-pubkey': key.jwk },
      'tee-evidence': { primary_evidence: evidence, additional_evidence: '' },
    };
    const att = await this.send(what, 'POST', `${KBS_PREFIX}/attest`, body, cookie);
    if (att.status !== 200) {
      const b = brokerError(att);
      throw new CdhError(ErrorCode.PermissionDenied, 'kbs.attestation-refused', `${what}: broker refused the ${tee} evidence (${b.kind ?? att.status}: ${b.detail})`, what);
    }
    const token = this.parseJson<{ token?: unknown }>(att, what, 'attestation result').token;
    if (typeof token !== 'string') throw new CdhError(ErrorCode.FailedPrecondition, 'kbs.protocol', `${what}: the attestation result has no token`, what);
    const exp = tokenExpiry(token) ?? this.now() + DEFAULT_SESSION_MS;
    this.opts.logger?.info({ tee, broker: this.http.origin }, 'attested to the broker');
    return { cookie: cookieOf(att) ?? cookie, key: key.privateKey, expiresAt: exp };
  }

  /** The current session, attesting when there is none or it is about to expire. */
  private async currentSession(): Promise<Session> {
    const s = this.session;
    if (s && s.expiresAt - TOKEN_RENEW_MARGIN_MS > this.now()) return s;
    this.session = undefined;
    this.handshaking ??= this.handshake().finally(() => (this.handshaking = undefined));
    const fresh = await this.handshaking;
    this.session = fresh;
    return fresh;
  }

  /** Drops the session so the next request attests again. */
  invalidate(): void {
    this.session = undefined;
  }

  /** The plaintext of a resource. The caller owns the buffer (and should zero it when done). */
  async getResource(uri: ResourceUri): Promise<Buffer> {
    const what = resourceUriString(uri);
    for (let round = 1; ; round++) {
      const s = await this.currentSession();
      const r = await this.withRetry(what, () => this.send(what, 'GET', `${KBS_PREFIX}/resource/${resourcePath(uri)}`, undefined, s.cookie));
      if (r.status === 200) {
        try {
          return decryptJwe(this.parseJson<FlattenedJwe>(r, what, 'resource'), s.key);
        } catch (e) {
          if (e instanceof JweError) throw new CdhError(e.code, e.check, `${what}: ${e.message}`, what, e);
          throw e;
        }
      }
      const b = brokerError(r);
      if (r.status === 404) throw new CdhError(ErrorCode.NotFound, 'kbs.not-found', `${what}: the broker has no such resource (${b.kind ?? 404}: ${b.detail})`, what);
      if (r.status === 401 && b.kind === 'PolicyDeny') throw new CdhError(ErrorCode.PermissionDenied, 'kbs.policy-deny', `${what}: the broker's policy denies it (${b.detail})`, what);
      if (r.status === 401 && round === 1 && !FINAL_KINDS.has(b.kind ?? '')) {
        if (this.session === s) this.session = undefined;
        continue;
      }
      throw new CdhError(ErrorCode.PermissionDenied, 'kbs.refused', `${what}: the broker refused it (${b.kind ?? r.status}: ${b.detail})`, what);
    }
  }

  close(): void {
    this.session = undefined;
    this.http.close();
  }
}
