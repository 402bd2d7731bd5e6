/**
 * Arm CCA attestation tokens (Arm "Realm Management Monitor specification", attestation token
 * format): a CBOR tag-399 collection of a platform token (44234) and a realm token (44241), both
 * COSE_Sign1. The realm token is signed by the realm attestation key (RAK) it carries (44237);
 * the platform token by the platform attestation key (CPAK), whose challenge must be the hash of
 * the RAK (algorithm in 44240). Claims: realm challenge (10), personalization value (44235),
 * RIM (44238), REMs (44239), platform lifecycle, implementation / instance id, SW components.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { equalBytes, hex, regularize } from '../bytes.js';
import { publicKeyFrom } from '../certs.js';
import { fail, Reason } from '../errors.js';
import { runChecks, type Claims, type Verifier, type VerifyOptions, type VerifyResult } from '../types.js';
import { asBytes, asMap, decodeCbor, ecKeyFromCca, parseCoseSign1, untag, verifyCoseSign1 } from './cose.js';

export const CCA_COLLECTION_TAG = 399;
export const CCA_PLATFORM_TOKEN = 44234;
export const CCA_REALM_TOKEN = 44241;

const C = {
  challenge: 10,
  profile: 265,
  instanceId: 256,
  implementationId: 2396,
  lifecycle: 2395,
  swComponents: 2399,
  verificationService: 2400,
  platformConfig: 2401,
  platformHashAlgo: 2402,
  personalization: 44235,
  realmHashAlgo: 44236,
  rak: 44237,
  rim: 44238,
  rems: 44239,
  rakHashAlgo: 44240,
} as const;

export interface CcaEvidence {
  /** The CBOR token (tag 399 collection). */
  token: Uint8Array;
  /** Platform attestation key (CPAK): PEM / DER SPKI or certificate, a JWK JSON, or a KeyObject. */
  platformKey: Uint8Array | KeyObject;
}

const HASHES: Record<string, string> = { 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512' };

export function cpakFrom(b: Uint8Array): KeyObject {
  const text = Buffer.from(b).toString('utf8').trim();
  if (text.startsWith('{')) {
    try {
      return createPublicKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (e) {
      return fail(Reason.CertKey, 'platform key JSON is not a usable JWK', e);
    }
  }
  return publicKeyFrom(b, 'platform key');
}

/** Security lifecycle 0x3000..0x30FF is "secured"; debug states are 0x4000.. and 0x5000... */
function lifecycleName(v: number): string {
  const s = v & 0xff00;
  return (
    { 0x0000: 'unknown', 0x1000: 'assembly-and-test', 0x2000: 'psa-rot-provisioning', 0x3000: 'secured', 0x4000: 'non-psa-rot-debug', 0x5000: 'recoverable-psa-rot-debug', 0x6000: 'decommissioned' } as Record<number, string>
  )[s] ?? 'invalid';
}

function bytesClaim(m: Map<unknown, unknown>, k: number, what: string): Uint8Array {
  if (!m.has(k)) return fail(Reason.CcaToken, `${what} claim ${k} is missing`);
  return asBytes(m.get(k), `${what} claim ${k}`);
}

function textClaim(m: Map<unknown, unknown>, k: number): string | undefined {
  const v = m.get(k);
  return typeof v === 'string' ? v : undefined;
}

export function checkCcaToken(ev: CcaEvidence, opts: VerifyOptions, claims: Claims): void {
  const coll = asMap(untag(decodeCbor(ev.token, 'CCA token'), CCA_COLLECTION_TAG, 'CCA token'), 'CCA token');
  const platform = parseCoseSign1(asBytes(coll.get(CCA_PLATFORM_TOKEN), 'CCA platform token'), 'CCA platform token');
  const realm = parseCoseSign1(asBytes(coll.get(CCA_REALM_TOKEN), 'CCA realm token'), 'CCA realm token');
  const rc = asMap(decodeCbor(realm.payload, 'realm claims'), 'realm claims');
  const pc = asMap(decodeCbor(platform.payload, 'platform claims'), 'platform claims');
  const challenge = bytesClaim(rc, C.challenge, 'realm');
  const rakBytes = bytesClaim(rc, C.rak, 'realm');
  const rems = rc.get(C.rems);
  if (!Array.isArray(rems)) fail(Reason.CcaToken, 'realm claim 44239 (REMs) is not an array');
  const lifecycle = pc.get(C.lifecycle);
  if (typeof lifecycle !== 'number') fail(Reason.CcaToken, 'platform claim 2395 (security lifecycle) is missing');
  const sw = pc.get(C.swComponents);
  Object.assign(claims, {
    realm: {
      ...(textClaim(rc, C.profile) ? { profile: textClaim(rc, C.profile) } : {}),
      challenge: hex(challenge),
      personalization_value: hex(bytesClaim(rc, C.personalization, 'realm')),
      rim: hex(bytesClaim(rc, C.rim, 'realm')),
      rems: rems.map((r, i) => hex(asBytes(r, `realm REM ${i}`))),
      hash_algo_id: textClaim(rc, C.realmHashAlgo),
      public_key: hex(rakBytes),
      public_key_hash_algo_id: textClaim(rc, C.rakHashAlgo),
    },
    platform: {
      profile: textClaim(pc, C.profile),
      challenge: hex(bytesClaim(pc, C.challenge, 'platform')),
      implementation_id: hex(bytesClaim(pc, C.implementationId, 'platform')),
      instance_id: hex(bytesClaim(pc, C.instanceId, 'platform')),
      lifecycle: { raw: `0x${lifecycle.toString(16)}`, state: lifecycleName(lifecycle) },
      hash_algo_id: textClaim(pc, C.platformHashAlgo),
      verification_service: textClaim(pc, C.verificationService),
      sw_components: Array.isArray(sw)
        ? sw.map((c: unknown) => {
            const m = c instanceof Map ? c : new Map();
            const meas = m.get(2);
            const signer = m.get(5);
            return { type: m.get(1), measurement: meas instanceof Uint8Array ? hex(meas) : undefined, signer_id: signer instanceof Uint8Array ? hex(signer) : undefined, version: m.get(4), hash_algo_id: m.get(6) };
          })
        : [],
    },
  });
  const rak = ecKeyFromCca(rakBytes, 'realm public key (claim 44237)');
  verifyCoseSign1(realm, rak, Reason.CcaRealmSignature, 'realm token (by its RAK)');
  const cpak = ev.platformKey instanceof Uint8Array ? cpakFrom(ev.platformKey) : ev.platformKey;
  verifyCoseSign1(platform, cpak, Reason.CcaPlatformSignature, 'platform token (by the CPAK)');
  const algo = textClaim(rc, C.rakHashAlgo) ?? 'sha-256';
  const h = HASHES[algo];
  if (!h) fail(Reason.CcaAlgorithm, `realm public key hash algorithm ${algo} is not sha-256, sha-384 or sha-512`);
  const want = createHash(h).update(rakBytes).digest();
  const got = bytesClaim(pc, C.challenge, 'platform');
  if (!equalBytes(want, got)) fail(Reason.CcaRealmKeyBinding, `platform challenge ${hex(got)} is not ${algo}(realm public key) ${hex(want)}`);
  if (lifecycleName(lifecycle) !== 'secured' && !opts.allowDebug) {
    fail(Reason.CcaLifecycle, `platform security lifecycle 0x${lifecycle.toString(16)} (${lifecycleName(lifecycle)}) is not secured and debug is not allowed`);
  }
  const expected = opts.reportData ?? opts.nonce;
  if (expected) {
    const w = regularize(expected, 64);
    if (!equalBytes(w, regularize(challenge, 64))) fail(Reason.CcaChallenge, `realm challenge ${hex(challenge)} differs from expected ${hex(w)}`);
  }
}

export function verifyCca(ev: CcaEvidence, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('cca', opts, (claims) => checkCcaToken(ev, opts, claims));
}

export const ccaVerifier: Verifier<CcaEvidence> = { tee: 'cca', verify: verifyCca };
