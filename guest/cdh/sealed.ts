/**
 * CoCo sealed secrets (guest-components confidential-data-hub, SEALED_SECRET.md):
 *   sealed.<b64url(JWS protected header)>.<b64url(secret JSON)>.<b64url(signature)>
 * The header is `{"alg": "ES256", "kid": <key id>}`; the signature is ES256 (P-256, r||s) over
 * `<header>.<payload>` as in a compact JWS. The key id is a `kbs:///` resource holding the
 * public JWK (fetched from the broker after attestation) or the name of a key given to the data
 * hub (`verificationKeys`). The secret JSON: `{"version": "0.1.0", "type": "vault", "name":
 * "kbs:///repo/type/tag", "provider": "kbs", "provider_settings": {}, "annotations": {}}` — the
 * value lives in the broker and is fetched with the client. `envelope` secrets need a KMS
 * provider cocolet does not have and are refused by name.
 *
 * Verification is on by default; init-data's cdh.toml `skip_sealed_secret_verification = true`
 * turns it off (CoCo's option: unsigned "fake" headers as `coco-tools` can emit them). Even
 * then the value only comes from the attested broker under its policy.
 */
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export const SEALED_PREFIX = 'sealed.';
export const SEALED_SECRET_VERSION = '0.1.0';
/** Upper bound on a sealed secret string (they live in env values and small files). */
const MAX_SEALED = 64 * 1024;

export interface VaultSecret {
  type: 'vault';
  /** The resource URI holding the value (provider `kbs`). */
  name: string;
  provider: string;
}

export class SealedSecretError extends CocoletError {
  constructor(
    readonly check: string,
    message: string,
    code = ErrorCode.InvalidArgument as (typeof ErrorCode)[keyof typeof ErrorCode],
  ) {
    super(code, `sealed secret: ${message}`, { context: { check } });
    this.name = 'SealedSecretError';
  }
}

export function isSealedSecret(v: string): boolean {
  return v.startsWith(SEALED_PREFIX);
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function part(p: string | undefined, what: string): Buffer {
  if (p === undefined || !B64URL.test(p)) throw new SealedSecretError('sealed.format', `${what} is not base64url`);
  return Buffer.from(p, 'base64url');
}

export interface ParsedSealedSecret {
  header: { alg?: unknown; kid?: unknown } | undefined;
  signingInput: string;
  signature: Buffer;
  secret: VaultSecret;
}

function parseSecretJson(payload: Buffer): VaultSecret {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SealedSecretError('sealed.format', 'the payload is not JSON');
  }
  if (typeof j !== 'object' || j === null) throw new SealedSecretError('sealed.format', 'the payload is not a JSON object');
  if (j.version !== SEALED_SECRET_VERSION) throw new SealedSecretError('sealed.version', `version ${JSON.stringify(j.version)} is not ${SEALED_SECRET_VERSION}`);
  if (j.type === 'envelope') throw new SealedSecretError('sealed.type', `envelope secrets (provider ${JSON.stringify(j.provider)}) need a KMS provider cocolet does not have; use a vault secret naming a kbs:/// resource`, ErrorCode.Unimplemented);
  if (j.type !== 'vault') throw new SealedSecretError('sealed.type', `type ${JSON.stringify(j.type)} is not vault or envelope`);
  if (j.provider !== 'kbs') throw new SealedSecretError('sealed.provider', `vault provider ${JSON.stringify(j.provider)} is not kbs`, ErrorCode.Unimplemented);
  if (typeof j.name !== 'string') throw new SealedSecretError('sealed.format', 'vault name is not a string');
  return { type: 'vault', name: j.name, provider: j.provider };
}

export function parseSealedSecret(sealed: string): ParsedSealedSecret {
  if (sealed.length > MAX_SEALED) throw new SealedSecretError('sealed.format', `longer than ${MAX_SEALED} characters`);
  if (!isSealedSecret(sealed)) throw new SealedSecretError('sealed.format', `does not start with "${SEALED_PREFIX}"`);
  const parts = sealed.slice(SEALED_PREFIX.length).split('.');
  if (parts.length !== 3) throw new SealedSecretError('sealed.format', `has ${parts.length} dot-separated parts after "${SEALED_PREFIX}", not 3 (header.payload.signature)`);
  const [h, p, sig] = parts as [string, string, string];
  let header: ParsedSealedSecret['header'];
  try {
    header = JSON.parse(part(h, 'the header').toString('utf8')) as ParsedSealedSecret['header'];
  } catch (e) {
    if (e instanceof SealedSecretError) throw e;
    header = undefined; // "fakejwsheader" and the like: only usable when verification is off
  }
  return { header, signingInput: `${h}.${p}`, signature: B64URL.test(sig) ? Buffer.from(sig, 'base64url') : Buffer.alloc(0), secret: parseSecretJson(part(p, 'the payload')) };
}

/** Checks the ES256 signature with the public JWK `jwk` (P-256). */
export function verifySealedSignature(s: ParsedSealedSecret, jwk: unknown): void {
  const j = jwk as JsonWebKey | undefined;
  if (typeof j !== 'object' || j === null || j.kty !== 'EC' || j.crv !== 'P-256') throw new SealedSecretError('sealed.key', 'the verification key is not a P-256 JWK', ErrorCode.FailedPrecondition);
  let ok = false;
  try {
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: j.x, y: j.y }, format: 'jwk' });
    ok = s.signature.length === 64 && verify('sha256', Buffer.from(s.signingInput, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, s.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new SealedSecretError('sealed.signature', 'the ES256 signature does not verify with the key named by kid', ErrorCode.PermissionDenied);
}
