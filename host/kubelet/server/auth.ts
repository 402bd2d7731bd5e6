/**
 * Authentication and authorization for the kubelet's HTTPS API (kl/server/auth.go semantics).
 *
 * Authentication, in order: a client certificate the TLS layer verified against
 * `authentication.x509.clientCAFile` (user = CN, groups = O); a bearer token checked by the API
 * server's TokenReview (only when a token reviewer exists, i.e. webhook enabled + kubeconfig);
 * else `system:anonymous` when `authentication.anonymous.enabled`, else 401. A presented but
 * unverified certificate or an unverifiable token is a 401 naming why (never the token itself).
 *
 * Authorization: `AlwaysAllow`, or `Webhook` (SubjectAccessReview for `nodes/<subresource>` named
 * after this node, allowed answers cached 5 min, denied 30 s). Unlike upstream, which refuses to
 * start, Webhook without an API server answers 403 with a reason naming the mode and the missing
 * API server.
 *
 * API: `authenticate(creds, policy)`, `cachedTokenReviewer(reviewer, ttlMs)`, `requestAttributes(method, path, node)`,
 * `new Authorizer({ mode, reviewer })` → `authorize(user, attrs)`.
 */
import { createHash } from 'node:crypto';

export interface UserInfo {
  name: string;
  groups: string[];
}

export const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

/** What the request presented. */
export interface Credentials {
  /** The peer certificate's subject, if one was presented. */
  cert?: { cn: string; o: string[]; verified: boolean; error?: string };
  /** The Authorization header, if any. */
  authorization?: string;
}

export interface TokenReviewer {
  /** The user the token belongs to, or undefined when the API server says it is not valid. */
  review(token: string): Promise<UserInfo | undefined>;
}

/**
 * TokenReview answers cached for `authentication.webhook.cacheTTL` (2 min default), keyed by the
 * token's SHA-256 (the token itself is not kept); errors are not cached.
 */
export function cachedTokenReviewer(inner: TokenReviewer, ttlMs = 2 * 60_000, now: () => number = Date.now): TokenReviewer {
  const cache = new Map<string, { user: UserInfo | undefined; until: number }>();
  return {
    async review(token: string): Promise<UserInfo | undefined> {
      const key = createHash('sha256').update(token).digest('hex');
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.user;
      const user = await inner.review(token);
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { user, until: now() + ttlMs });
      return user;
    },
  };
}

export interface AccessReviewer {
  review(user: UserInfo, attrs: RequestAttributes): Promise<{ allowed: boolean; reason: string }>;
}

export interface AuthnPolicy {
  anonymous: boolean;
  /** Token reviewer; undefined when webhook authn is off or there is no API server. */
  tokens?: TokenReviewer;
  /** Why tokens cannot be checked (used in the 401 reason when tokens is undefined). */
  tokensUnavailable?: string;
}

export type AuthnResult = { ok: true; user: UserInfo; method: 'x509' | 'token' | 'anonymous' } | { ok: false; reason: string };

export async function authenticate(c: Credentials, p: AuthnPolicy): Promise<AuthnResult> {
  if (c.cert) {
    if (!c.cert.verified) return { ok: false, reason: `client certificate not verified against authentication.x509.clientCAFile: ${c.cert.error ?? 'unknown authority'}` };
    if (!c.cert.cn) return { ok: false, reason: 'client certificate has no common name' };
    return { ok: true, user: { name: c.cert.cn, groups: [...c.cert.o, 'system:authenticated'] }, method: 'x509' };
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(c.authorization ?? '');
  if (m) {
    if (!p.tokens) return { ok: false, reason: `bearer token cannot be verified: ${p.tokensUnavailable ?? 'no token authenticator'}` };
    let user: UserInfo | undefined;
    try {
      user = await p.tokens.review(m[1]!);
    } catch (e) {
      return { ok: false, reason: `TokenReview failed: ${(e as Error).message}` };
    }
    if (!user) return { ok: false, reason: 'bearer token rejected by the API server (TokenReview)' };
    return { ok: true, user, method: 'token' };
  }
  if (c.authorization) return { ok: false, reason: 'unsupported Authorization header (only Bearer tokens are accepted)' };
  if (p.anonymous) return { ok: true, user: ANONYMOUS, method: 'anonymous' };
  return { ok: false, reason: 'no client certificate or bearer token, and authentication.anonymous.enabled is false' };
}

export interface RequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
  apiGroup: '';
  apiVersion: 'v1';
}

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}

/**
 * The attributes to try for a request, in order; any allowed one admits it. Coarse subresources as
 * upstream (`stats`, `metrics`, `log` for /logs, `checkpoint`, else `proxy`); the fine-grained ones
 * (`pods`, `healthz`, `configz`, KubeletFineGrainedAuthz) are tried first with `proxy` as fallback.
 */
export function requestAttributes(method: string, path: string, node: string): RequestAttributes[] {
  const verb = VERBS[method.toUpperCase()] ?? method.toLowerCase();
  const a = (subresource: string): RequestAttributes => ({ verb, resource: 'nodes', subresource, name: node, apiGroup: '', apiVersion: 'v1' });
  if (under(path, '/stats')) return [a('stats')];
  if (under(path, '/metrics')) return [a('metrics')];
  if (under(path, '/logs')) return [a('log')];
  if (under(path, '/checkpoint')) return [a('checkpoint')];
  if (under(path, '/pods') || under(path, '/runningpods')) return [a('pods'), a('proxy')];
  if (under(path, '/healthz')) return [a('healthz'), a('proxy')];
  if (under(path, '/configz')) return [a('configz'), a('proxy')];
  return [a('proxy')];
}

export type AuthzMode = 'AlwaysAllow' | 'Webhook';

export interface AuthorizerOptions {
  mode: AuthzMode;
  /** SubjectAccessReview client; undefined when there is no API server. */
  reviewer?: AccessReviewer;
  allowedTtlMs?: number;
  deniedTtlMs?: number;
  now?: () => number;
}

export type AuthzResult = { allowed: true } | { allowed: false; reason: string };

export function describe(user: UserInfo, a: RequestAttributes): string {
  return `user=${user.name}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource}`;
}

export class Authorizer {
  private readonly cache = new Map<string, { allowed: boolean; reason: string; until: number }>();
  private readonly now: () => number;

  constructor(private readonly o: AuthorizerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Why this authorizer can never allow anything, or undefined. */
  get misconfigured(): string | undefined {
    if (this.o.mode === 'Webhook' && !this.o.reviewer) {
      return 'authorization.mode is Webhook but no API server is configured (--kubeconfig), so no SubjectAccessReview can be sent';
    }
    return undefined;
  }

  async authorize(user: UserInfo, attrs: RequestAttributes[]): Promise<AuthzResult> {
    if (this.o.mode === 'AlwaysAllow') return { allowed: true };
    const first = attrs[0]!;
    const broken = this.misconfigured;
    if (broken) return { allowed: false, reason: `Forbidden (${describe(user, first)}): ${broken}` };
    let reason = '';
    for (const a of attrs) {
      const r = await this.review(user, a);
      if (r.allowed) return { allowed: true };
      reason ||= r.reason;
    }
    return { allowed: false, reason: `Forbidden (${describe(user, first)})${reason ? `: ${reason}` : ''}` };
  }

  private async review(user: UserInfo, a: RequestAttributes): Promise<{ allowed: boolean; reason: string }> {
    const key = JSON.stringify([user.name, [...user.groups].sort(), a.verb, a.subresource, a.name]);
    const hit = this.cache.get(key);
    if (hit && hit.until > this.now()) return hit;
    let r: { allowed: boolean; reason: string };
    try {
      r = await this.o.reviewer!.review(user, a);
    } catch (e) {
      return { allowed: false, reason: `SubjectAccessReview failed: ${(e as Error).message}` };
    }
    const ttl = r.allowed ? (this.o.allowedTtlMs ?? 5 * 60_000) : (this.o.deniedTtlMs ?? 30_000);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { ...r, until: this.now() + ttl });
    return r;
  }
}
