/**
 * Resources travel as a flattened JWE to the TEE key bound in the attestation:
 * ECDH-ES+A256KW (P-256/P-521) or RSA-OAEP-256 key management, A256GCM content encryption,
 * as trustee's KBS produces them (jose does the cryptography).
 */
import { createCipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { FlattenedEncrypt, flattenedDecrypt, importJWK, type JWK } from 'jose';
import type { ResourceJwe, TeePubKey } from './protocol.js';

export const CONTENT_ENCRYPTION = 'A256GCM';

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

/**
 * ECDH-ES+A256KW + A256GCM with the protected header serialised as kbs-types re-serialises it
 * to compute the AAD on the client (`alg`, `enc`, then `epk` with its keys sorted: crv, kty, x,
 * y). trustee's kbs_protocol rebuilds the AAD from the parsed header instead of using the
 * received text, so jose's own order (epk as {x, crv, kty, y}) fails its GCM check.
 */
function encryptEcdhEs(plaintext: Uint8Array, teePubKey: Extract<TeePubKey, { kty: 'EC' }>): ResourceJwe {
  const tee = createPublicKey({ key: { kty: 'EC', crv: teePubKey.crv, x: teePubKey.x, y: teePubKey.y }, format: 'jwk' });
  const eph = generateKeyPairSync('ec', { namedCurve: teePubKey.crv === 'P-521' ? 'secp521r1' : 'prime256v1' });
  const z = diffieHellman({ privateKey: eph.privateKey, publicKey: tee });
  // Concat KDF (RFC 7518 4.6.2): round 1 || Z || AlgorithmID || PartyUInfo "" || PartyVInfo "" || 256 bits.
  const alg = Buffer.from(teePubKey.alg);
  const u32 = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const kek = createHash('sha256').update(Buffer.concat([u32(1), z, u32(alg.length), alg, u32(0), u32(0), u32(256)])).digest();
  const cek = randomBytes(32);
  const kw = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  const encryptedKey = Buffer.concat([kw.update(cek), kw.final()]);
  const epk = eph.publicKey.export({ format: 'jwk' });
  const header = JSON.stringify({ alg: teePubKey.alg, enc: CONTENT_ENCRYPTION, epk: { crv: epk.crv, kty: 'EC', x: epk.x, y: epk.y } });
  const protectedB64 = b64u(Buffer.from(header));
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  return { protected: protectedB64, encrypted_key: b64u(encryptedKey), iv: b64u(iv), ciphertext: b64u(ciphertext), tag: b64u(gcm.getAuthTag()) };
}

/** Encrypts `plaintext` to the TEE public key; the JWE carries no `aad` and no unprotected header. */
export async function encryptToTeeKey(plaintext: Uint8Array, teePubKey: TeePubKey): Promise<ResourceJwe> {
  if (teePubKey.kty === 'EC') return encryptEcdhEs(plaintext, teePubKey);
  const key = await importJWK(teePubKey as unknown as JWK, teePubKey.alg);
  const jwe = await new FlattenedEncrypt(plaintext).setProtectedHeader({ alg: teePubKey.alg, enc: CONTENT_ENCRYPTION }).encrypt(key);
  if (jwe.protected === undefined || jwe.encrypted_key === undefined || jwe.iv === undefined || jwe.tag === undefined) {
    throw new Error('JWE encryption produced an incomplete flattened JWE');
  }
  return { protected: jwe.protected, encrypted_key: jwe.encrypted_key, iv: jwe.iv, ciphertext: jwe.ciphertext, tag: jwe.tag };
}

export class JweDecryptError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JweDecryptError';
  }
}

/**
 * Decrypts a resource JWE with the TEE private key. Only the two key-management algorithms
 * and A256GCM are accepted, whatever the header says; any tampering fails the GCM tag.
 */
export async function decryptResource(jwe: ResourceJwe, teePrivateKey: KeyObject): Promise<Uint8Array> {
  for (const k of ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag'] as const) {
    if (typeof jwe?.[k] !== 'string') throw new JweDecryptError(`resource JWE: ${k} is missing or not a string`);
  }
  try {
    const r = await flattenedDecrypt(jwe, teePrivateKey, { keyManagementAlgorithms: ['ECDH-ES+A256KW', 'RSA-OAEP-256'], contentEncryptionAlgorithms: [CONTENT_ENCRYPTION] });
    return r.plaintext;
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'ERR_JWE';
    throw new JweDecryptError(`resource JWE does not decrypt with the TEE key (${code})`, { cause: e });
  }
}
