/**
 * Resources travel as a flattened JWE to the TEE key bound in the attestation:
 * ECDH-ES+A256KW (P-256/P-521) or RSA-OAEP-256 key management, A256GCM content encryption,
 * as trustee's KBS produces them (jose does the cryptography).
 */
import type { KeyObject } from 'node:crypto';
import { FlattenedEncrypt, flattenedDecrypt, importJWK, type JWK } from 'jose';
import type { ResourceJwe, TeePubKey } from './protocol.js';

export const CONTENT_ENCRYPTION = 'A256GCM';

/** Encrypts `plaintext` to the TEE public key; the JWE carries no `aad` and no unprotected header. */
export async function encryptToTeeKey(plaintext: Uint8Array, teePubKey: TeePubKey): Promise<ResourceJwe> {
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
