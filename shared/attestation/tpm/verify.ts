/**
 * TPM 2.0 quote verification: the TPMS_ATTEST signature with the attestation key (RSASSA,
 * RSAPSS or ECDSA; SHA-1 only when allowed), qualifying data against the nonce, the PCR digest
 * against given PCR values, and, when an event log is given, the log replayed against the PCRs.
 * The AK itself must be trusted (pin, certificate chain to configured roots, or an explicit
 * waiver): see ak-trust.ts.
 */
import { constants, createHash, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { equalBytes, fixedWidth, hex } from '../bytes.js';
import { publicKeyFrom, loadCertificates } from '../certs.js';
import { fail, Reason } from '../errors.js';
import { parseEventLog, replay } from '../eventlog.js';
import { runChecks, type Claims, type Verifier, type VerifyOptions, type VerifyResult } from '../types.js';
import { checkAkTrust, type AkChainInput } from './ak-trust.js';
import { HASH_SIZE, hashAlgOf, hashName, parseTpmsAttest, parseTpmtPublic, parseTpmtSignature, TpmAlg, type HashName, type TpmtSignature } from './structures.js';

export interface PcrValues {
  hash: HashName;
  pcrs: Record<string, string>;
}

export interface TpmEvidence {
  /** TPMS_ATTEST bytes. */
  quote: Uint8Array;
  /** TPMT_SIGNATURE, or a raw RSASSA-PKCS1-v1_5 SHA-256 signature (as Azure's vTPM tooling stores it). */
  signature: Uint8Array;
  /** AK public key: PEM (SPKI or certificate), DER SPKI or certificate, or TPMT_PUBLIC. */
  ak: Uint8Array | KeyObject;
  /**
   * When the AK is given as a certificate: its issuers (PEM bundle, or DER certificates), used
   * to build the path to a root of VerifyOptions.akRoots. Without akRoots it proves nothing.
   */
  akChain?: AkChainInput;
  pcrs?: PcrValues;
  eventLog?: Uint8Array;
}

export function akFrom(data: Uint8Array): KeyObject {
  const text = Buffer.from(data.subarray(0, 64)).toString('latin1');
  if (text.includes('-----BEGIN')) return publicKeyFrom(data, 'AK');
  // DER starts with a SEQUENCE; a TPMT_PUBLIC starts with its type (0x0001 RSA / 0x0023 ECC).
  if (data[0] === 0x30) {
    try {
      return publicKeyFrom(data, 'AK');
    } catch {
      return loadCertificates(data, ['AK certificate'], 'AK')[0]!.x509.publicKey;
    }
  }
  return parseTpmtPublic(data).key;
}

function parseSignature(sig: Uint8Array, key: KeyObject): TpmtSignature {
  const alg = (sig[0]! << 8) | sig[1]!;
  if (sig.length >= 4 && (alg === TpmAlg.RSASSA || alg === TpmAlg.RSAPSS || alg === TpmAlg.ECDSA)) return parseTpmtSignature(sig);
  const size = key.asymmetricKeyType === 'rsa' ? (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8 : -1;
  if (sig.length === size) return { sigAlg: TpmAlg.RSASSA, hash: TpmAlg.SHA256, signature: sig };
  return fail(Reason.TpmSignatureScheme, `signature is neither a TPMT_SIGNATURE nor a raw ${size > 0 ? `${size}-byte RSA` : 'RSA'} signature`);
}

function checkSignature(quote: Uint8Array, sig: TpmtSignature, key: KeyObject, allowSha1: boolean): HashName {
  const h = hashName(sig.hash);
  if (!h) return fail(Reason.TpmSignatureScheme, `signature hash 0x${sig.hash.toString(16)} is not supported`);
  if (h === 'sha1' && !allowSha1) fail(Reason.TpmSha1, 'quote is signed with SHA-1 and SHA-1 is not allowed');
  const kt = key.asymmetricKeyType;
  let ok = false;
  try {
    if (sig.sigAlg === TpmAlg.ECDSA) {
      if (kt !== 'ec') fail(Reason.TpmSignatureScheme, `ECDSA signature but the AK is ${kt}`);
      const bits = key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 48 : key.asymmetricKeyDetails?.namedCurve === 'secp521r1' ? 66 : 32;
      const r = fixedWidth(sig.ecdsa!.r, bits);
      const s = fixedWidth(sig.ecdsa!.s, bits);
      ok = !!r && !!s && nodeVerify(h, quote, { key, dsaEncoding: 'ieee-p1363' }, Buffer.concat([r, s]));
    } else {
      if (kt !== 'rsa') fail(Reason.TpmSignatureScheme, `RSA signature but the AK is ${kt}`);
      const padding = sig.sigAlg === TpmAlg.RSAPSS ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
      ok = nodeVerify(h, quote, { key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig.signature);
    }
  } catch (e) {
    if (e instanceof Error && e.name === 'EvidenceError') throw e;
    ok = false;
  }
  const scheme = sig.sigAlg === TpmAlg.ECDSA ? 'ECDSA' : sig.sigAlg === TpmAlg.RSAPSS ? 'RSAPSS' : 'RSASSA';
  if (!ok) fail(Reason.TpmSignature, `quote ${scheme}-${h.toUpperCase()} signature does not verify with the AK`);
  return h;
}

/**
 * `boundBy` names verified evidence that already carries the AK (Azure: `hcl-runtime-data`);
 * without it the AK must be trusted by pin or certificate chain (ak-trust.ts).
 */
export function checkTpmQuote(ev: TpmEvidence, opts: VerifyOptions, claims: Claims, boundBy?: 'hcl-runtime-data'): void {
  const attest = parseTpmsAttest(ev.quote);
  claims.nonce = hex(attest.extraData);
  claims.pcr_digest = hex(attest.pcrDigest);
  claims.pcr_selection = attest.pcrSelections.map((s) => ({ hash: hashName(s.hash) ?? `0x${s.hash.toString(16)}`, pcrs: s.pcrs }));
  claims.clock = { clock: attest.clock.toString(), reset_count: attest.resetCount, restart_count: attest.restartCount, safe: attest.safe };
  claims.firmware_version = `0x${attest.firmwareVersion.toString(16)}`;
  claims.qualified_signer = hex(attest.qualifiedSigner);
  const key = ev.ak instanceof Uint8Array ? akFrom(ev.ak) : ev.ak;
  if (boundBy) claims.ak_trust = boundBy;
  else checkAkTrust(ev.ak, key, ev.akChain, opts, claims);
  const sig = parseSignature(ev.signature, key);
  const h = checkSignature(ev.quote, sig, key, opts.allowSha1 === true);
  claims.signature = { hash: h, scheme: sig.sigAlg === TpmAlg.ECDSA ? 'ecdsa' : sig.sigAlg === TpmAlg.RSAPSS ? 'rsapss' : 'rsassa' };
  for (const sel of attest.pcrSelections) {
    if (sel.hash === TpmAlg.SHA1 && sel.pcrs.length > 0 && opts.allowSha1 !== true) fail(Reason.TpmSha1, 'quote covers the SHA-1 PCR bank and SHA-1 is not allowed');
  }
  const want = opts.nonce ?? new Uint8Array(0);
  if (!equalBytes(want, attest.extraData)) fail(Reason.TpmNonce, `qualifying data ${hex(attest.extraData) || '(empty)'} differs from the expected nonce ${hex(want) || '(empty)'}`);
  if (ev.pcrs) {
    const bank = ev.pcrs.hash;
    const bankAlg = hashAlgOf(bank);
    if (bankAlg === undefined) fail(Reason.TpmPcrSelection, `PCR bank ${bank} is not supported`);
    const values = new Map<number, Uint8Array>();
    for (const [k, v] of Object.entries(ev.pcrs.pcrs)) {
      const b = Buffer.from(v, 'hex');
      if (!/^\d+$/.test(k) || b.length !== HASH_SIZE[bank] || b.toString('hex') !== v.toLowerCase()) fail(Reason.TpmPcrSelection, `PCR ${k} is not a ${bank} value`);
      values.set(Number(k), new Uint8Array(b));
    }
    const hash = createHash(h);
    for (const sel of attest.pcrSelections) {
      if (sel.pcrs.length === 0) continue;
      if (sel.hash !== bankAlg) fail(Reason.TpmPcrSelection, `quote selects ${hashName(sel.hash) ?? sel.hash} PCRs but ${bank} values were given`);
      for (const i of sel.pcrs) {
        const v = values.get(i);
        if (!v) fail(Reason.TpmPcrSelection, `quote selects ${bank} PCR ${i} but no value was given for it`);
        hash.update(v);
      }
    }
    const digest = hash.digest();
    if (!equalBytes(digest, attest.pcrDigest)) fail(Reason.TpmPcrDigest, `pcrDigest ${hex(attest.pcrDigest)} differs from ${h}(selected ${bank} PCRs) ${hex(digest)}`);
    claims.pcrs = { hash: bank, values: Object.fromEntries([...values].map(([i, v]) => [String(i), hex(v)])) };
    if (ev.eventLog) {
      const log = parseEventLog(ev.eventLog, 'TPM event log');
      const replayed = replay(log, bank);
      const matched: number[] = [];
      for (const [i, v] of replayed) {
        const got = values.get(i);
        if (!got) continue;
        if (!equalBytes(got, v)) fail(Reason.TpmEventLog, `event log replays ${bank} PCR ${i} to ${hex(v)} but the quoted value is ${hex(got)}`);
        matched.push(i);
      }
      claims.event_log = { events: log.events.length, replayed_pcrs: matched.sort((a, b) => a - b) };
    }
  } else if (ev.eventLog) {
    fail(Reason.MissingInput, 'an event log needs the PCR values it is replayed against');
  }
}

export function verifyTpm(ev: TpmEvidence, opts: VerifyOptions = {}): VerifyResult {
  return runChecks('tpm', opts, (claims) => checkTpmQuote(ev, opts, claims));
}

export const tpmVerifier: Verifier<TpmEvidence> = { tee: 'tpm', verify: verifyTpm };
