/**
 * Admin authentication as trustee's `bearer_jwt` + `regex_acl` with role `admin`: the request
 * carries `Authorization: Bearer <JWT>` signed (EdDSA) by one of the configured Ed25519 admin
 * keys, unexpired (`exp` required), with `role: "admin"`, and the configured issuer/audience
 * when set. Each refusal says which check failed.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, errors as joseErrors } from 'jose';

export interface AdminAuthConfig {
  /** Ed25519 public keys (PEM SPKI). */
  publicKeys: KeyObject[];
  issuer?: string;
  audience?: string;
  now?: () => number;
}

export class AdminAuthError extends Error {
  constructor(
    readonly reason: 'admin.missing' | 'admin.malformed' | 'admin.signature' | 'admin.expired' | 'admin.claims' | 'admin.role',
    message: string,
  ) {
    super(message);
    this.name = 'AdminAuthError';
  }
}

export function loadAdminKey(pem: string | Buffer): KeyObject {
  const k = createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error(`the admin key is ${k.asymmetricKeyType}, not Ed25519`);
  return k;
}

export async function checkAdmin(authorization: string | undefined, cfg: AdminAuthConfig): Promise<{ subject?: string }> {
  if (!authorization) throw new AdminAuthError('admin.missing', 'no Authorization: Bearer token');
  const m = /^Bearer\s+([A-Za-z0-9_.-]+)\s*$/i.exec(authorization);
  if (!m) throw new AdminAuthError('admin.malformed', 'the Authorization header is not a Bearer JWT');
  const token = m[1]!;
  const now = new Date((cfg.now ?? Date.now)());
  for (const key of cfg.publicKeys) {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ['EdDSA', 'Ed25519'],
        currentDate: now,
        requiredClaims: ['exp'],
        ...(cfg.issuer ? { issuer: cfg.issuer } : {}),
        ...(cfg.audience ? { audience: cfg.audience } : {}),
      });
      if (payload.role !== 'admin') throw new AdminAuthError('admin.role', `the token's role ${JSON.stringify(String(payload.role ?? '(none)').slice(0, 30))} is not admin`);
      return payload.sub ? { subject: payload.sub } : {};
    } catch (e) {
      if (e instanceof AdminAuthError) throw e;
      if (e instanceof joseErrors.JWSSignatureVerificationFailed) continue;
      if (e instanceof joseErrors.JWTExpired) throw new AdminAuthError('admin.expired', 'the admin token has expired');
      if (e instanceof joseErrors.JWTClaimValidationFailed) throw new AdminAuthError('admin.claims', `the admin token's ${e.claim} claim is not valid (${e.reason})`);
      if (e instanceof joseErrors.JOSEAlgNotAllowed) throw new AdminAuthError('admin.malformed', 'the admin token is not EdDSA-signed');
      throw new AdminAuthError('admin.malformed', 'the admin token is not a valid JWT');
    }
  }
  throw new AdminAuthError('admin.signature', 'the admin token is not signed by a configured admin key');
}
