/**
 * Attestation results as EAR-style JWTs (the shape trustee's built-in attestation service
 * issues: `eat_profile`, `ear.verifier-id`, `submods.cpu0` with `ear.status` and the annotated
 * evidence whose `runtime_data_claims.tee-pubkey` is the key resources are encrypted to),
 * ES256-signed by the broker's key, short-lived. cocolet's additions are `cocolet.*` claims:
 * the TEE, the waivers in force, and each reference-value set's appraisal.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, importPKCS8, importSPKI, jwtVerify, errors as joseErrors, type CryptoKey } from 'jose';
import { parseTeePubKey, type TeePubKey } from '../../shared/kbs/protocol.js';

export const EAR_PROFILE = 'tag:github.com,2024:confidential-containers/Trustee';
export const TOKEN_ISSUER = 'cocolet-kbs';
export const DEFAULT_TOKEN_TTL_S = 300;

export type EarStatus = 'affirming' | 'warning' | 'contraindicated' | 'none';

export interface Appraisal {
  status: EarStatus;
  /** What did not match, one line each. */
  failed: string[];
}

export interface AttestationResult {
  tee: string;
  teePubKey: TeePubKey;
  nonce: string;
  reportData: string;
  /** The TEE's parsed claims (annotated evidence). */
  teeClaims: Record<string, unknown>;
  initData?: { digest: string; claims?: unknown };
  waivers: string[];
  appraisals: Record<string, Appraisal>;
}

export interface VerifiedToken {
  claims: Record<string, unknown>;
  teePubKey: TeePubKey;
  appraisals: Record<string, Appraisal>;
  tee: string;
  expiresAt: number;
}

export class TokenError extends Error {
  constructor(
    readonly reason: 'token.expired' | 'token.signature' | 'token.malformed' | 'token.claims',
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

function jsonSafe(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x)));
}

export class TokenBroker {
  private readonly publicKey: KeyObject;
  /** WebCrypto forms, imported once (jose converts a KeyObject on every call otherwise). */
  private signKey: Promise<CryptoKey> | undefined;
  private verifyKey: Promise<CryptoKey> | undefined;
  readonly kid: string;

  constructor(
    private readonly privateKey: KeyObject,
    readonly ttlSeconds = DEFAULT_TOKEN_TTL_S,
    private readonly now: () => number = Date.now,
  ) {
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('the token signing key must be an EC P-256 private key');
    this.publicKey = createPublicKey(privateKey);
    this.kid = this.publicKey.export({ format: 'jwk' }).x!.slice(0, 16);
  }

  static generateKeyPem(): string {
    return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  static fromPem(pem: string, ttlSeconds?: number, now?: () => number): TokenBroker {
    return new TokenBroker(createPrivateKey(pem), ttlSeconds, now);
  }

  async issue(r: AttestationResult): Promise<{ token: string; expiresAt: number }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.ttlSeconds;
    const def = r.appraisals.default ?? { status: 'none' as const, failed: [] };
    const annotated: Record<string, unknown> = {
      [r.tee]: jsonSafe(r.teeClaims),
      report_data: r.reportData,
      runtime_data_claims: { 'additional-evidence': '', nonce: r.nonce, 'tee-pubkey': r.teePubKey },
    };
    if (r.initData) {
      annotated.init_data = r.initData.digest;
      if (r.initData.claims !== undefined) annotated.init_data_claims = jsonSafe(r.initData.claims);
    }
    const payload = {
      eat_profile: EAR_PROFILE,
      'ear.verifier-id': { developer: 'https://github.com/cocolet', build: 'cocolet-kbs 0.1.0' },
      submods: {
        cpu0: {
          'ear.status': def.status,
          'ear.appraisal-policy-id': 'default',
          'ear.veraison.annotated-evidence': annotated,
          'cocolet.tee': r.tee,
          'cocolet.waivers': r.waivers,
          'cocolet.appraisals': r.appraisals,
        },
      },
    };
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.kid })
      .setIssuer(TOKEN_ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(await (this.signKey ??= importPKCS8(this.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'ES256')));
    return { token, expiresAt: exp * 1000 };
  }

  async verify(token: string): Promise<VerifiedToken> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await (this.verifyKey ??= importSPKI(this.publicKey.export({ format: 'pem', type: 'spki' }).toString(), 'ES256')), { algorithms: ['ES256'], issuer: TOKEN_ISSUER, currentDate: new Date(this.now()), requiredClaims: ['exp', 'iat'] }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) throw new TokenError('token.expired', 'the attestation token has expired');
      if (e instanceof joseErrors.JWSSignatureVerificationFailed) throw new TokenError('token.signature', 'the attestation token is not signed by this broker');
      if (e instanceof joseErrors.JWTClaimValidationFailed) throw new TokenError('token.claims', `the attestation token's ${e.claim} claim is not valid`);
      throw new TokenError('token.malformed', 'the attestation token is not a JWT this broker issued');
    }
    const cpu0 = (payload.submods as Record<string, Record<string, unknown>> | undefined)?.cpu0;
    const annotated = cpu0?.['ear.veraison.annotated-evidence'] as Record<string, unknown> | undefined;
    const rdc = annotated?.runtime_data_claims as Record<string, unknown> | undefined;
    let teePubKey: TeePubKey;
    try {
      teePubKey = parseTeePubKey(rdc?.['tee-pubkey']);
    } catch {
      throw new TokenError('token.claims', 'the attestation token carries no usable tee-pubkey');
    }
    return {
      claims: payload,
      teePubKey,
      appraisals: (cpu0?.['cocolet.appraisals'] ?? {}) as Record<string, Appraisal>,
      tee: String(cpu0?.['cocolet.tee'] ?? ''),
      expiresAt: Number(payload.exp) * 1000,
    };
  }
}
