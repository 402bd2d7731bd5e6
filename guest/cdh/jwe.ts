/**
 * Decrypts a broker's resource JWE (flattened JSON serialisation) with the session's TEE private
 * key, using node:crypto only (no JOSE library in the guest): key management ECDH-ES+A256KW
 * (ephemeral-static ECDH, Concat KDF with SHA-256, AES-256 key unwrap; RFC 7518 4.6) for an EC
 * TEE key or RSA-OAEP-256 for an RSA one; content encryption A256GCM with the ASCII of the
 * protected header as additional data (RFC 7516 5.2). The header's `alg` must match the key's
 * type and `enc` must be A256GCM, whatever else it claims; `zip`, `crit`, an unprotected header
 * and `aad` are refused. Any tampering fails the GCM tag (or the key unwrap).
 */
import { constants, createDecipheriv, createHash, createPublicKey, diffieHellman, privateDecrypt, type KeyObject } from 'node:crypto';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export interface FlattenedJwe {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
  aad?: string;
  header?: unknown;
  unprotected?: unknown;
}

const AES_KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const B64URL = /^[A-Za-z0-9_-]*$/;

export class JweError extends CocoletError {
  constructor(
    readonly check: string,
    message: string,
  ) {
    super(ErrorCode.DataLoss, `resource JWE: ${message}`, { context: { check } });
    this.name = 'JweError';
  }
}

function b64(v: unknown, field: string): Buffer {
  if (typeof v !== 'string' || !B64URL.test(v)) throw new JweError('jwe.format', `${field} is missing or not base64url`);
  return Buffer.from(v, 'base64url');
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** RFC 7518 4.6.2 Concat KDF for a 256-bit key, one SHA-256 round. */
export function concatKdf(z: Buffer, alg: string, apu: Buffer, apv: Buffer): Buffer {
  const a = Buffer.from(alg, 'ascii');
  return createHash('sha256').update(Buffer.concat([be32(1), z, be32(a.length), a, be32(apu.length), apu, be32(apv.length), apv, be32(256)])).digest();
}

function unwrapEcdh(header: Record<string, unknown>, encryptedKey: Buffer, key: KeyObject): Buffer {
  const epk = header.epk as Record<string, unknown> | undefined;
  if (typeof epk !== 'object' || epk === null || epk.kty !== 'EC') throw new JweError('jwe.header', 'epk is missing or not an EC key');
  const crv = key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'P-256' : key.asymmetricKeyDetails?.namedCurve === 'secp521r1' ? 'P-521' : undefined;
  if (epk.crv !== crv) throw new JweError('jwe.header', `epk curve ${String(epk.crv)} is not the TEE key's ${crv ?? 'curve'}`);
  let pub: KeyObject;
  try {
    pub = createPublicKey({ key: { kty: 'EC', crv, x: String(epk.x), y: String(epk.y) }, format: 'jwk' });
  } catch {
    throw new JweError('jwe.header', 'epk is not a point on the curve');
  }
  const z = diffieHellman({ privateKey: key, publicKey: pub });
  const kek = concatKdf(z, 'ECDH-ES+A256KW', header.apu === undefined ? Buffer.alloc(0) : b64(header.apu, 'apu'), header.apv === undefined ? Buffer.alloc(0) : b64(header.apv, 'apv'));
  try {
    const d = createDecipheriv('id-aes256-wrap', kek, AES_KW_IV);
    return Buffer.concat([d.update(encryptedKey), d.final()]);
  } catch {
    throw new JweError('jwe.key-unwrap', 'the content key does not unwrap with the TEE key');
  }
}

function unwrapRsa(encryptedKey: Buffer, key: KeyObject): Buffer {
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
  } catch {
    throw new JweError('jwe.key-unwrap', 'the content key does not decrypt with the TEE key');
  }
}

export function decryptJwe(jwe: FlattenedJwe, teePrivateKey: KeyObject): Buffer {
  if (typeof jwe !== 'object' || jwe === null) throw new JweError('jwe.format', 'is not a JSON object');
  if (jwe.aad !== undefined || jwe.header !== undefined || jwe.unprotected !== undefined) throw new JweError('jwe.format', 'aad and unprotected headers are not accepted');
  const protectedB64 = jwe.protected;
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(b64(protectedB64, 'protected').toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof JweError) throw e;
    throw new JweError('jwe.format', 'protected header is not JSON');
  }
  if (typeof header !== 'object' || header === null) throw new JweError('jwe.format', 'protected header is not a JSON object');
  if (header.enc !== 'A256GCM') throw new JweError('jwe.header', `enc ${JSON.stringify(header.enc)} is not A256GCM`);
  if (header.zip !== undefined || header.crit !== undefined) throw new JweError('jwe.header', 'zip and crit are not accepted');
  const kty = teePrivateKey.asymmetricKeyType;
  const want = kty === 'ec' ? 'ECDH-ES+A256KW' : kty === 'rsa' ? 'RSA-OAEP-256' : undefined;
  if (!want || header.alg !== want) throw new JweError('jwe.header', `alg ${JSON.stringify(header.alg)} is not ${want ?? 'usable'} for the ${kty ?? 'unknown'} TEE key`);
  const encryptedKey = b64(jwe.encrypted_key, 'encrypted_key');
  const cek = kty === 'ec' ? unwrapEcdh(header, encryptedKey, teePrivateKey) : unwrapRsa(encryptedKey, teePrivateKey);
  if (cek.length !== 32) throw new JweError('jwe.key-unwrap', `content key is ${cek.length} bytes, not 32`);
  const iv = b64(jwe.iv, 'iv');
  const tag = b64(jwe.tag, 'tag');
  if (iv.length !== 12 || tag.length !== 16) throw new JweError('jwe.format', 'iv must be 12 bytes and tag 16');
  try {
    const d = createDecipheriv('aes-256-gcm', cek, iv);
    d.setAAD(Buffer.from(protectedB64, 'ascii'));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(b64(jwe.ciphertext, 'ciphertext')), d.final()]);
  } catch {
    throw new JweError('jwe.integrity', 'content does not authenticate (tampered, or encrypted to another key)');
  } finally {
    cek.fill(0);
  }
}
