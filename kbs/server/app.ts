/**
 * The broker's HTTP handler: trustee's KBS endpoints under /kbs/v0 (RCAR auth/attest/resource
 * and the admin endpoints). Every handler has the same shape: parse -> check -> act, with every
 * refusal a KbsError mapped to trustee's `{type, detail}` body and status in one place, and one
 * log line per request (what, outcome, reason; never bodies, tokens, cookies or keys).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../shared/log/logger.js';
import { bindingDigest, bindingHashOf } from '../../shared/kbs/binding.js';
import { encryptToTeeKey } from '../../shared/kbs/jwe.js';
import {
  KBS_PREFIX,
  KBS_PROTOCOL_VERSION,
  KbsErrorKind,
  KbsProtocolError,
  SESSION_COOKIE,
  parseAttestation,
  parseRequest,
  parseResourcePath,
  resourcePathString,
  type Attestation,
  type Challenge,
} from '../../shared/kbs/protocol.js';
import { AttestationFailure, verifyEvidence, SUPPORTED_TEES, type EvidenceInput, type TrustAnchors, type VerifiedEvidence } from '../attest/evidence.js';
import { appraise, parseReferenceValues, ReferenceValuesError } from '../attest/reference-values.js';
import { evaluatePolicy, PolicyParseError } from '../attest/resource-policy.js';
import { AdminAuthError, checkAdmin, type AdminAuthConfig } from './admin-auth.js';
import { DETAIL, KbsError } from './errors.js';
import type { SessionStore } from './sessions.js';
import type { BrokerState } from './state.js';
import { TokenError, type Appraisal, type TokenBroker, type VerifiedToken } from './token.js';

export const MAX_JSON_BODY = 1 << 20;
export const MAX_RESOURCE_BYTES = 1 << 20;

export interface BrokerOptions {
  state: BrokerState;
  tokens: TokenBroker;
  sessions: SessionStore;
  admin: AdminAuthConfig;
  trust: TrustAnchors;
  logger: Logger;
  /** Set Secure on the session cookie (HTTPS). */
  secureCookie?: boolean;
  /** Clock (ms) for token expiry of session-held tokens; default Date.now. */
  now?: () => number;
  /** Evidence verification; replaceable only in code (the benchmark's no-verification peer). */
  verify?: (input: EvidenceInput) => VerifiedEvidence;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  /** Log fields gathered while handling (no secrets). */
  log: Record<string, unknown>;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new KbsError(KbsErrorKind.SerdeError, `Serialize/Deserialize failed: the request body exceeds ${limit} bytes`, 'request.too-large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const b = await readBody(req, MAX_JSON_BODY);
  try {
    return JSON.parse(b.toString('utf8'));
  } catch (e) {
    throw new KbsError(KbsErrorKind.SerdeError, `Serialize/Deserialize failed: the body is not JSON (${e instanceof Error ? e.message : 'parse error'})`, 'request.json');
  }
}

function cookieOf(req: IncomingMessage): string | undefined {
  const h = req.headers.cookie;
  if (!h) return undefined;
  for (const part of h.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) return v.join('=');
  }
  return undefined;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const data = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), 'content-length': String(data.length), ...headers });
  res.end(data);
}

function decodePolicyField(v: unknown, what: string): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_\-+/]*={0,2}$/.test(v)) throw new KbsError(KbsErrorKind.ParsePolicyError, `Failed to parse policy: ${what} must be base64url text`, 'policy.encoding');
  return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
}

export class Broker {
  private readonly verify: (input: EvidenceInput) => VerifiedEvidence;
  private readonly o: BrokerOptions & { now: () => number };

  constructor(o: BrokerOptions) {
    this.o = { ...o, now: o.now ?? Date.now };
    this.verify = o.verify ?? verifyEvidence;
  }

  /** The node:http(s) request listener. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://kbs');
    const ctx: Ctx = { req, res, path: url.pathname, log: {} };
    this.route(ctx).then(
      () => this.done(ctx, started, res.statusCode),
      (e: unknown) => {
        const err = e instanceof KbsError ? e : new KbsError(KbsErrorKind.PluginInternalError, 'Plugin internal error', 'internal', e instanceof Error ? e.message : String(e));
        if (!res.headersSent) send(res, err.status, err.body());
        else res.destroy();
        ctx.log.reason = err.reason;
        ctx.log.detail = err.logDetail ?? err.detail;
        this.done(ctx, started, err.status);
      },
    );
  };

  private done(ctx: Ctx, started: number, status: number): void {
    const fields = { method: ctx.req.method, path: ctx.path, status, ms: Math.round((performance.now() - started) * 10) / 10, ...ctx.log };
    if (status >= 400) this.o.logger.warn(fields, 'request refused');
    else this.o.logger.info(fields, 'request served');
  }

  private async route(ctx: Ctx): Promise<void> {
    const { req, path } = ctx;
    const m = req.method ?? 'GET';
    if (path === '/healthz' && m === 'GET') return send(ctx.res, 200, { status: 'ok' });
    if (!path.startsWith(`${KBS_PREFIX}/`)) throw new KbsError(KbsErrorKind.InvalidRequestPath, `Request path ${path.slice(0, 100)} is invalid`, 'path.invalid');
    const rest = path.slice(KBS_PREFIX.length + 1);
    if (rest === 'auth' && m === 'POST') return this.auth(ctx);
    if (rest === 'attest' && m === 'POST') return this.attest(ctx);
    if (rest.startsWith('resource/')) {
      const rp = parseResourcePath(rest.slice('resource/'.length));
      if (!rp) throw new KbsError(KbsErrorKind.InvalidRequestPath, `Request path ${path.slice(0, 100)} is invalid: a resource is <repository>/<type>/<tag>`, 'path.invalid');
      const p = resourcePathString(rp);
      ctx.log.resource = p;
      if (m === 'GET') return this.getResource(ctx, p);
      if (m === 'POST' || m === 'PUT') return this.setResource(ctx, p);
    }
    if (rest === 'resource-policy' && m === 'POST') return this.setResourcePolicy(ctx);
    if (rest === 'resource-policy' && m === 'GET') return this.getResourcePolicy(ctx);
    if (rest === 'attestation-policy' && m === 'POST') return this.setAttestationPolicy(ctx);
    const plugin = rest.split('/')[0] ?? '';
    if (['auth', 'attest', 'resource', 'resource-policy', 'attestation-policy'].includes(plugin)) throw new KbsError(KbsErrorKind.InvalidRequestPath, `Request path ${path.slice(0, 100)} is invalid for ${m}`, 'path.method');
    throw new KbsError(KbsErrorKind.PluginNotFound, `Plugin ${plugin.slice(0, 40)} not found`, 'path.plugin');
  }

  private cookieHeader(id: string, expiresAt: number): string {
    return `${SESSION_COOKIE}=${id}; Expires=${new Date(expiresAt).toUTCString()}; Path=/; HttpOnly${this.o.secureCookie ? '; Secure' : ''}`;
  }

  private async auth(ctx: Ctx): Promise<void> {
    const body = await readJson(ctx.req);
    let r;
    try {
      r = parseRequest(body);
    } catch (e) {
      if (e instanceof KbsProtocolError) throw new KbsError(KbsErrorKind.SerdeError, `Serialize/Deserialize failed: ${e.detail}`, 'auth.request');
      throw e;
    }
    ctx.log.tee = r.tee;
    if (r.version !== KBS_PROTOCOL_VERSION) {
      throw new KbsError(KbsErrorKind.AttestationError, DETAIL.attestation(`RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: expect =${KBS_PROTOCOL_VERSION} while the request is ${r.version.slice(0, 20)}`), 'auth.version');
    }
    if (!SUPPORTED_TEES.includes(r.tee)) throw new KbsError(KbsErrorKind.AttestationError, DETAIL.attestation(`RCAR handshake Auth failed: tee ${r.tee} is not supported by this broker (supported: ${SUPPORTED_TEES.join(', ')})`), 'auth.tee');
    const s = this.o.sessions.create(r.tee, '');
    const challenge: Challenge = { nonce: s.nonce, 'extra-params': s.extraParams };
    send(ctx.res, 200, challenge, { 'set-cookie': this.cookieHeader(s.id, s.expiresAt) });
  }

  private attestFailed(reason: string, what: string, logDetail?: string): KbsError {
    return new KbsError(KbsErrorKind.AttestationError, DETAIL.attestation(`RCAR handshake Attest failed: ${what}`), reason, logDetail);
  }

  private async attest(ctx: Ctx): Promise<void> {
    const found = this.o.sessions.lookup(cookieOf(ctx.req));
    if (found.kind === 'unknown') throw this.attestFailed('session.unknown', `no session: send POST ${KBS_PREFIX}/auth first and return its ${SESSION_COOKIE} cookie`);
    if (found.kind === 'expired') throw this.attestFailed('session.expired', `the session expired at ${new Date(found.expiredAt).toISOString()}: start again with POST ${KBS_PREFIX}/auth`);
    const s = found.session;
    ctx.log.tee = s.tee;
    if (s.nonceUsed) throw this.attestFailed('attest.replay', "this session's challenge nonce was already used: a nonce is good for one attestation; start again with POST /kbs/v0/auth");
    s.nonceUsed = true;
    const body = await readJson(ctx.req);
    let att: Attestation;
    try {
      att = parseAttestation(body);
    } catch (e) {
      if (e instanceof KbsProtocolError) throw this.attestFailed('attest.request', e.detail);
      throw e;
    }
    const rd = att['runtime-data'];
    if (rd.nonce !== s.nonce) throw this.attestFailed('attest.nonce', "runtime-data.nonce is not this session's challenge nonce");
    if (att['tee-evidence'].additional_evidence !== '') {
      // trustee verifies each device's evidence; this broker verifies none, so it accepts none.
      throw this.attestFailed('attest.additional-evidence', 'tee-evidence.additional_evidence (device TEE evidence) is not verified by this broker; send ""');
    }
    const digest = bindingDigest(rd.nonce, rd['tee-pubkey'], att['tee-evidence'].additional_evidence, bindingHashOf(s.extraParams));
    const sets = this.o.state.referenceValues;
    const def = sets.default ?? {};
    let verified: VerifiedEvidence;
    try {
      verified = this.verify({
        tee: s.tee,
        primary: att['tee-evidence'].primary_evidence,
        reportData: digest,
        initData: att['init-data'] ?? null,
        gates: { allowDebug: def.allowDebug === true, allowDevelopmentTee: def.allowDevelopmentTee === true, allowSample: def.allowSample === true },
        trust: this.o.trust,
      });
    } catch (e) {
      if (e instanceof AttestationFailure) throw this.attestFailed(e.reason, `${e.reason}: ${e.detail}`);
      throw e;
    }
    const appraisals: Record<string, Appraisal> = { default: appraise(def, verified.facts) };
    for (const [id, rv] of Object.entries(sets)) appraisals[id] = appraise(rv, verified.facts);
    const { token, expiresAt } = await this.o.tokens.issue({
      tee: s.tee,
      teePubKey: rd['tee-pubkey'],
      nonce: rd.nonce,
      reportData: Buffer.from(digest).toString('base64'),
      teeClaims: verified.teeClaims,
      ...(verified.initData ? { initData: verified.initData } : {}),
      waivers: verified.waivers,
      appraisals,
    });
    s.attested = { token, result: { claims: {}, teePubKey: rd['tee-pubkey'], appraisals, tee: s.tee, expiresAt } };
    ctx.log.status = appraisals.default!.status;
    ctx.log.waivers = verified.waivers.length;
    send(ctx.res, 200, { token }, { 'set-cookie': this.cookieHeader(s.id, s.expiresAt) });
  }

  private async tokenOf(ctx: Ctx): Promise<VerifiedToken> {
    const auth = ctx.req.headers.authorization;
    if (!auth || !/^Bearer\s/i.test(auth)) {
      const found = this.o.sessions.lookup(cookieOf(ctx.req));
      if (found.kind === 'unknown') throw new KbsError(KbsErrorKind.TokenNotFound, DETAIL.tokenNotFound, 'token.none');
      if (found.kind === 'expired') throw new KbsError(KbsErrorKind.TokenNotFound, `${DETAIL.tokenNotFound}: the session expired at ${new Date(found.expiredAt).toISOString()}`, 'session.expired');
      const a = found.session.attested;
      if (!a) throw new KbsError(KbsErrorKind.TokenNotFound, `${DETAIL.tokenNotFound}: the session has not attested`, 'token.not-attested');
      ctx.log.auth = 'session';
      if (this.o.now() >= a.result.expiresAt) throw new KbsError(KbsErrorKind.TokenVerifierError, 'Token Verifier error: the attestation token has expired', 'token.expired');
      return a.result;
    }
    ctx.log.auth = 'bearer';
    try {
      return await this.o.tokens.verify(auth.replace(/^Bearer\s+/i, '').trim());
    } catch (e) {
      if (e instanceof TokenError) throw new KbsError(KbsErrorKind.TokenVerifierError, `Token Verifier error: ${e.message}`, e.reason);
      throw e;
    }
  }

  private async getResource(ctx: Ctx, path: string): Promise<void> {
    const t = await this.tokenOf(ctx);
    ctx.log.tee = t.tee;
    const d = evaluatePolicy(this.o.state.resourcePolicy, path, t.appraisals);
    if (!d.allow) throw new KbsError(KbsErrorKind.PolicyDeny, `${DETAIL.policyDeny}: ${d.reason}`, 'policy.deny');
    const value = this.o.state.resource(path);
    if (!value) throw new KbsError(KbsErrorKind.PluginInternalError, `Plugin internal error: resource ${path} does not exist`, 'resource.absent');
    let jwe;
    try {
      jwe = await encryptToTeeKey(value, t.teePubKey);
    } catch (e) {
      throw new KbsError(KbsErrorKind.JweError, 'JWE failed: the TEE public key in the token cannot be used for encryption', 'jwe.encrypt', e instanceof Error ? e.message : String(e));
    }
    send(ctx.res, 200, jwe);
  }

  private async admin(ctx: Ctx): Promise<void> {
    try {
      const who = await checkAdmin(ctx.req.headers.authorization, this.o.admin);
      if (who.subject) ctx.log.admin = who.subject;
    } catch (e) {
      if (e instanceof AdminAuthError) throw new KbsError(KbsErrorKind.AdminAuthAccess, `admin access denied for endpoint ${ctx.path}: ${e.message}`, e.reason);
      throw e;
    }
  }

  private async setResource(ctx: Ctx, path: string): Promise<void> {
    await this.admin(ctx);
    const value = await readBody(ctx.req, MAX_RESOURCE_BYTES);
    this.o.state.setResource(path, value);
    ctx.log.bytes = value.length;
    send(ctx.res, 200, undefined);
  }

  private async policyBody(ctx: Ctx): Promise<Record<string, unknown> | null> {
    try {
      return (await readJson(ctx.req)) as Record<string, unknown> | null;
    } catch (e) {
      if (e instanceof KbsError && e.reason === 'request.json') throw new KbsError(KbsErrorKind.ParsePolicyError, 'Failed to parse policy: Illegal SetPolicy Request Json', 'policy.request');
      throw e;
    }
  }

  private async setResourcePolicy(ctx: Ctx): Promise<void> {
    await this.admin(ctx);
    const body = await this.policyBody(ctx);
    const text = decodePolicyField(body?.policy, 'policy');
    try {
      this.o.state.setResourcePolicy(text);
    } catch (e) {
      if (e instanceof PolicyParseError) throw new KbsError(KbsErrorKind.ParsePolicyError, `Failed to parse policy: ${e.message}`, 'policy.parse');
      throw e;
    }
    send(ctx.res, 200, undefined);
  }

  private async getResourcePolicy(ctx: Ctx): Promise<void> {
    await this.admin(ctx);
    const text = this.o.state.resourcePolicyText ?? JSON.stringify(this.o.state.resourcePolicy);
    send(ctx.res, 200, { policy: Buffer.from(text).toString('base64url') });
  }

  private async setAttestationPolicy(ctx: Ctx): Promise<void> {
    await this.admin(ctx);
    const body = await this.policyBody(ctx);
    const id = body?.policy_id ?? 'default';
    if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new KbsError(KbsErrorKind.ParsePolicyError, 'Failed to parse policy: policy_id must be 1-64 of [A-Za-z0-9._-]', 'policy.id');
    // trustee v0.21's body is {policy_id, policy}; a `type` other than json (e.g. rego) is refused.
    if (body?.type !== undefined && body.type !== 'json') throw new KbsError(KbsErrorKind.ParsePolicyError, `Failed to parse policy: type ${JSON.stringify(String(body.type).slice(0, 20))} is not supported; cocolet-kbs takes reference values as JSON`, 'policy.type');
    const text = decodePolicyField(body?.policy, 'policy');
    try {
      this.o.state.setReferenceValues(id, parseReferenceValues(JSON.parse(text)));
    } catch (e) {
      if (e instanceof SyntaxError) throw new KbsError(KbsErrorKind.ParsePolicyError, `Failed to parse policy: reference values '${id}' are not JSON (cocolet-kbs evaluates no Rego)`, 'policy.parse');
      if (e instanceof ReferenceValuesError) throw new KbsError(KbsErrorKind.ParsePolicyError, `Failed to parse policy: reference values '${id}': ${e.message}`, 'policy.parse');
      throw e;
    }
    ctx.log.policy_id = id;
    send(ctx.res, 200, undefined);
  }
}
