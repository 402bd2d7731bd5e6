/**
 * A minimal RCAR client: auth -> attest -> resource, with the TEE key pair it generates and an
 * attester callback that turns the binding digest into evidence. The broker's tests and bench use
 * it; the guest's data hub builds on it. HTTPS with a given CA, or plain HTTP for http:// URLs.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { request as httpRequest, Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { bindingDigest, bindingHashOf } from './binding.js';
import { decryptResource } from './jwe.js';
import {
  KBS_PREFIX,
  KBS_PROTOCOL_VERSION,
  SESSION_COOKIE,
  errorKindOf,
  type Attestation,
  type Challenge,
  type InitData,
  type ResourceJwe,
  type TeeName,
  type TeePubKey,
} from './protocol.js';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Attester {
  readonly tee: TeeName;
  /** Evidence over `reportData` (the binding digest), in the TEE's primary_evidence shape. */
  evidence(reportData: Uint8Array): Promise<unknown> | unknown;
}

export interface TeeKeyPair {
  privateKey: KeyObject;
  publicJwk: TeePubKey;
}

export function generateTeeKey(kind: 'EC' | 'RSA' = 'EC'): TeeKeyPair {
  if (kind === 'EC') {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const j = publicKey.export({ format: 'jwk' });
    return { privateKey, publicJwk: { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: j.x!, y: j.y! } };
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const j = publicKey.export({ format: 'jwk' });
  return { privateKey, publicJwk: { kty: 'RSA', alg: 'RSA-OAEP-256', n: j.n!, e: j.e! } };
}

/** A non-2xx answer; `kind` is the KBS error kind from the body's `type`. */
export class KbsHttpError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string | undefined,
    readonly detail: string,
  ) {
    super(`KBS answered ${status}${kind ? ` ${kind}` : ''}: ${detail}`);
    this.name = 'KbsHttpError';
  }
}

export interface KbsClientOptions {
  /** Broker base URL, e.g. https://127.0.0.1:8080 */
  url: string;
  /** PEM CA (or the broker's certificate) for https URLs. */
  ca?: string | Buffer;
  attester: Attester;
  teeKey?: TeeKeyPair;
  initData?: InitData;
  /** Reuse connections (benchmarks); default false. */
  keepAlive?: boolean;
}

/** One HTTP(S) exchange; a Buffer body is sent as is, anything else as JSON. */
export function httpExchange(url: URL, method: string, body: unknown, headers: Record<string, string>, agent?: HttpAgent | HttpsAgent): Promise<HttpResult> {
  const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const h: Record<string, string> = { accept: '*/*', ...headers };
  if (data) {
    h['content-type'] ??= 'application/json';
    h['content-length'] = String(data.length);
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers: h, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** The KbsHttpError for a non-2xx answer. */
export function httpError(r: HttpResult): KbsHttpError {
  let info: unknown;
  try {
    info = JSON.parse(r.body.toString('utf8'));
  } catch {
    info = undefined;
  }
  const detail = typeof (info as { detail?: unknown })?.detail === 'string' ? (info as { detail: string }).detail : r.body.toString('utf8').slice(0, 200);
  return new KbsHttpError(r.status, errorKindOf(info), detail);
}

export class KbsClient {
  readonly teeKey: TeeKeyPair;
  private cookie: string | undefined;
  private token: string | undefined;
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(private readonly opts: KbsClientOptions) {
    this.base = new URL(opts.url);
    this.teeKey = opts.teeKey ?? generateTeeKey('EC');
    this.agent = this.base.protocol === 'https:' ? new HttpsAgent({ keepAlive: opts.keepAlive ?? false, ...(opts.ca ? { ca: opts.ca } : {}) }) : new HttpAgent({ keepAlive: opts.keepAlive ?? false });
  }

  get sessionCookie(): string | undefined {
    return this.cookie;
  }

  get attestationToken(): string | undefined {
    return this.token;
  }

  /** One HTTP exchange relative to the broker URL; keeps the session cookie it is given. */
  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie && h.cookie === undefined) h.cookie = `${SESSION_COOKIE}=${this.cookie}`;
    if (h.cookie === '') delete h.cookie;
    const r = await httpExchange(new URL(path, this.base), method, body, h, this.agent);
    for (const c of r.headers['set-cookie'] ?? []) {
      const m = new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(c);
      if (m) this.cookie = m[1];
    }
    return r;
  }

  private static fail(r: HttpResult): never {
    throw httpError(r);
  }

  async auth(tee: TeeName = this.opts.attester.tee): Promise<Challenge> {
    this.cookie = undefined;
    this.token = undefined;
    const r = await this.request('POST', `${KBS_PREFIX}/auth`, { version: KBS_PROTOCOL_VERSION, tee, 'extra-params': { 'supported-hash-algorithms': ['sha256', 'sha384', 'sha512'] } });
    if (r.status !== 200) KbsClient.fail(r);
    return JSON.parse(r.body.toString('utf8')) as Challenge;
  }

  /** The Attestation body for a challenge (exposed so tests can alter it). */
  async attestation(challenge: Challenge): Promise<Attestation> {
    const pub = this.teeKey.publicJwk;
    const digest = bindingDigest(challenge.nonce, pub, '', bindingHashOf(challenge['extra-params']));
    const primary = await this.opts.attester.evidence(digest);
    return {
      'init-data': this.opts.initData ?? null,
      'runtime-data': { nonce: challenge.nonce, 'tee-pubkey': pub },
      'tee-evidence': { primary_evidence: primary, additional_evidence: '' },
    };
  }

  async attest(challenge: Challenge, body?: Attestation): Promise<string> {
    const r = await this.request('POST', `${KBS_PREFIX}/attest`, body ?? (await this.attestation(challenge)));
    if (r.status !== 200) KbsClient.fail(r);
    this.token = (JSON.parse(r.body.toString('utf8')) as { token: string }).token;
    return this.token;
  }

  /** auth + attest. */
  async handshake(): Promise<string> {
    return this.attest(await this.auth());
  }

  /** GET the resource's JWE (session cookie, or the token as a bearer when `bearer` is set). */
  async getResourceJwe(path: string, opts: { bearer?: string } = {}): Promise<ResourceJwe> {
    const headers: Record<string, string> = {};
    if (opts.bearer) {
      headers.authorization = `Bearer ${opts.bearer}`;
      headers.cookie = '';
    }
    const r = await this.request('GET', `${KBS_PREFIX}/resource/${path}`, undefined, headers);
    if (r.status !== 200) KbsClient.fail(r);
    return JSON.parse(r.body.toString('utf8')) as ResourceJwe;
  }

  async getResource(path: string, opts: { bearer?: string } = {}): Promise<Uint8Array> {
    return decryptResource(await this.getResourceJwe(path, opts), this.teeKey.privateKey);
  }

  close(): void {
    this.agent.destroy();
  }
}
