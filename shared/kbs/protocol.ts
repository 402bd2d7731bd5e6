/**
 * The Confidential Containers KBS protocol (RCAR) as trustee v0.21 speaks it: version "0.4.0",
 * `POST /kbs/v0/auth` -> Challenge + `kbs-session-id` cookie, `POST /kbs/v0/attest` -> token,
 * `GET /kbs/v0/resource/<repository>/<type>/<tag>` -> JWE. Wire types (kebab-case keys as on the
 * wire), their checked parsing, and the error body `{type, detail}`. Both the broker (kbs/) and
 * the guest's client use these.
 */

export const KBS_PROTOCOL_VERSION = '0.4.0';
export const KBS_PREFIX = '/kbs/v0';
export const SESSION_COOKIE = 'kbs-session-id';
export const ERROR_TYPE_PREFIX = 'https://github.com/confidential-containers/kbs/errors';

/** TEE strings of kbs-types' `Tee` enum. */
export const TEE_NAMES = ['az-snp-vtpm', 'az-tdx-vtpm', 'nvidia', 'sgx', 'snp', 'tdx', 'cca', 'csv', 'se', 'hygondcu', 'tpm', 'sample', 'sampledevice'] as const;
export type TeeName = (typeof TEE_NAMES)[number];

export interface KbsRequest {
  version: string;
  tee: TeeName;
  'extra-params': unknown;
}

export interface Challenge {
  /** base64 (standard alphabet) of 32 random bytes. */
  nonce: string;
  /** "" unless the broker selects a hash algorithm (`{"selected-hash-algorithm": ...}`). */
  'extra-params': unknown;
}

export interface EcTeePubKey {
  kty: 'EC';
  crv: 'P-256' | 'P-521';
  alg: 'ECDH-ES+A256KW';
  x: string;
  y: string;
}

export interface RsaTeePubKey {
  kty: 'RSA';
  alg: 'RSA-OAEP-256';
  n: string;
  e: string;
}

export type TeePubKey = EcTeePubKey | RsaTeePubKey;

export interface RuntimeData {
  nonce: string;
  'tee-pubkey': TeePubKey;
}

export interface InitData {
  format: string;
  body: string;
}

export interface CompositeEvidence {
  primary_evidence: unknown;
  /** A JSON string `{tee: evidence}` of additional devices' evidence, or "". */
  additional_evidence: string;
}

export interface Attestation {
  'init-data'?: InitData | null;
  'runtime-data': RuntimeData;
  'tee-evidence': CompositeEvidence;
}

export interface AttestationResponse {
  token: string;
}

/** The resource as a flattened JWE (RFC 7516 JSON serialization without `aad`/`header`). */
export interface ResourceJwe {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

/** Error kinds trustee's KBS answers with (the last segment of `type`). */
export const KbsErrorKind = {
  AdminAuthAccess: 'AdminAuthAccess',
  AttestationError: 'AttestationError',
  InvalidRequestPath: 'InvalidRequestPath',
  JweError: 'JweError',
  PluginNotFound: 'PluginNotFound',
  PluginInternalError: 'PluginInternalError',
  PolicyDeny: 'PolicyDeny',
  ParsePolicyError: 'ParsePolicyError',
  SerdeError: 'SerdeError',
  TokenNotFound: 'TokenNotFound',
  TokenVerifierError: 'TokenVerifierError',
} as const;
export type KbsErrorKindValue = (typeof KbsErrorKind)[keyof typeof KbsErrorKind];

export interface ErrorInformation {
  type: string;
  detail: string;
}

export function errorType(kind: KbsErrorKindValue): string {
  return `${ERROR_TYPE_PREFIX}/${kind}`;
}

/** The kind named by an error body's `type`, or undefined when it is not a KBS error type. */
export function errorKindOf(info: unknown): string | undefined {
  const t = (info as { type?: unknown } | null)?.type;
  return typeof t === 'string' && t.startsWith(`${ERROR_TYPE_PREFIX}/`) ? t.slice(ERROR_TYPE_PREFIX.length + 1) : undefined;
}

/** A request body that does not have the protocol's shape; `detail` says which field. */
export class KbsProtocolError extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'KbsProtocolError';
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KbsProtocolError(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new KbsProtocolError(`${what}.${key} must be a string`);
  return v;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export function parseRequest(body: unknown): KbsRequest {
  const o = obj(body, 'Request');
  const version = str(o, 'version', 'Request');
  const tee = str(o, 'tee', 'Request');
  if (!(TEE_NAMES as readonly string[]).includes(tee)) throw new KbsProtocolError(`Request.tee ${JSON.stringify(tee.slice(0, 40))} is not a known TEE (${TEE_NAMES.join(', ')})`);
  return { version, tee: tee as TeeName, 'extra-params': o['extra-params'] ?? '' };
}

export function parseTeePubKey(v: unknown): TeePubKey {
  const o = obj(v, 'tee-pubkey');
  const kty = o.kty;
  if (kty === 'EC') {
    const crv = str(o, 'crv', 'tee-pubkey');
    if (crv !== 'P-256' && crv !== 'P-521') throw new KbsProtocolError(`tee-pubkey.crv ${JSON.stringify(crv.slice(0, 20))} is not P-256 or P-521`);
    const alg = str(o, 'alg', 'tee-pubkey');
    if (alg !== 'ECDH-ES+A256KW') throw new KbsProtocolError(`tee-pubkey.alg ${JSON.stringify(alg.slice(0, 30))} is not ECDH-ES+A256KW for an EC key`);
    const x = str(o, 'x', 'tee-pubkey');
    const y = str(o, 'y', 'tee-pubkey');
    if (!B64URL.test(x) || !B64URL.test(y)) throw new KbsProtocolError('tee-pubkey.x/y must be base64url');
    return { kty: 'EC', crv, alg: 'ECDH-ES+A256KW', x, y };
  }
  if (kty === 'RSA') {
    const alg = str(o, 'alg', 'tee-pubkey');
    if (alg === 'RSA1_5') throw new KbsProtocolError('tee-pubkey.alg RSA1_5 (PKCS#1 v1.5 key transport) is refused; use RSA-OAEP-256');
    if (alg !== 'RSA-OAEP-256') throw new KbsProtocolError(`tee-pubkey.alg ${JSON.stringify(alg.slice(0, 30))} is not RSA-OAEP-256 for an RSA key`);
    const n = str(o, 'n', 'tee-pubkey');
    const e = str(o, 'e', 'tee-pubkey');
    if (!B64URL.test(n) || !B64URL.test(e)) throw new KbsProtocolError('tee-pubkey.n/e must be base64url');
    return { kty: 'RSA', alg: 'RSA-OAEP-256', n, e };
  }
  throw new KbsProtocolError(`tee-pubkey.kty ${JSON.stringify(String(kty).slice(0, 20))} is not EC or RSA`);
}

export function parseAttestation(body: unknown): Attestation {
  const o = obj(body, 'Attestation');
  const rd = obj(o['runtime-data'], 'Attestation.runtime-data');
  const runtime: RuntimeData = { nonce: str(rd, 'nonce', 'runtime-data'), 'tee-pubkey': parseTeePubKey(rd['tee-pubkey']) };
  const te = obj(o['tee-evidence'], 'Attestation.tee-evidence');
  if (te.primary_evidence === undefined) throw new KbsProtocolError('tee-evidence.primary_evidence is missing');
  const additional = te.additional_evidence ?? '';
  if (typeof additional !== 'string') throw new KbsProtocolError('tee-evidence.additional_evidence must be a string');
  const out: Attestation = { 'runtime-data': runtime, 'tee-evidence': { primary_evidence: te.primary_evidence, additional_evidence: additional } };
  const id = o['init-data'];
  if (id !== undefined && id !== null) {
    const i = obj(id, 'Attestation.init-data');
    out['init-data'] = { format: str(i, 'format', 'init-data'), body: str(i, 'body', 'init-data') };
  } else if (id === null) {
    out['init-data'] = null;
  }
  return out;
}

export interface ResourcePath {
  repository: string;
  type: string;
  tag: string;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

/** `<repository>/<type>/<tag>`, each segment [A-Za-z0-9._-] (no `..`); undefined when not one. */
export function parseResourcePath(path: string): ResourcePath | undefined {
  const parts = path.split('/');
  if (parts.length !== 3) return undefined;
  if (!parts.every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) return undefined;
  return { repository: parts[0]!, type: parts[1]!, tag: parts[2]! };
}

export function resourcePathString(p: ResourcePath): string {
  return `${p.repository}/${p.type}/${p.tag}`;
}
