/**
 * From `tee-evidence` to verified facts: the TEE-specific evidence is parsed in the shape
 * trustee's attesters send, checked by the shared verifiers (strict by default) against the
 * binding digest, and the broker-wide gates are applied (development TEE, sample TEE, debug).
 * Every refusal is an AttestationFailure with a stable reason and a precise, non-secret detail.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { verifyTpm } from '../../shared/attestation/index.js';
import { padReportData } from '../../shared/kbs/binding.js';
import { akPinOf, initDataPcrValue, INIT_DATA_PCR, parseSampleEvidence, parseTpmEvidence, TPM_REPORT_DATA_SIZE } from '../../shared/kbs/evidence.js';
import { KbsProtocolError, type InitData, type TeeName } from '../../shared/kbs/protocol.js';
import type { EvidenceFacts } from './reference-values.js';
import { verifyAzSnpEvidence, verifyAzTdxEvidence, verifySnpEvidence, verifyTdxEvidence, type HardwareTrust } from './hardware.js';

export class AttestationFailure extends Error {
  constructor(
    /** Stable code: a shared verifier reason (`tpm.nonce`) or a broker one (`kbs.development-tee`). */
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'AttestationFailure';
  }
}

export interface Gates {
  allowDebug: boolean;
  allowDevelopmentTee: boolean;
  allowSample: boolean;
}

export interface TrustAnchors extends HardwareTrust {
  /** SHA-256 (hex) of the DER SPKI of each TPM attestation key the broker trusts. */
  tpmAkPins: ReadonlySet<string>;
}

export interface EvidenceInput {
  tee: TeeName;
  primary: unknown;
  /** The binding digest the evidence must carry. */
  reportData: Uint8Array;
  initData?: InitData | null;
  gates: Gates;
  trust: TrustAnchors;
  at?: Date;
}

export interface VerifiedEvidence {
  facts: EvidenceFacts;
  teeClaims: Record<string, unknown>;
  initData?: { digest: string; claims?: unknown };
  /** Checks waived for this evidence, as the token shows them. */
  waivers: string[];
}

export const Waiver = {
  DevelopmentTee: 'development-tee: a TPM quote without a CPU TEE proves the protocol, not memory confidentiality',
  Sample: 'sample-tee: no hardware evidence at all (trustee sample attester)',
  Debug: 'debug: debug-enabled guests accepted',
} as const;

const INIT_DATA_ALGS = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' } as const;

/** The init-data digest (its TOML `algorithm` over the exact body bytes) and its claims. */
export function digestInitData(initData: InitData): { digest: Uint8Array; alg: string; claims: unknown } {
  if (initData.format !== 'toml') throw new AttestationFailure('kbs.init-data', `init-data format ${JSON.stringify(initData.format.slice(0, 20))} is not toml`);
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(initData.body) as Record<string, unknown>;
  } catch (e) {
    throw new AttestationFailure('kbs.init-data', `init-data is not valid TOML (${e instanceof Error ? e.message.split('\n')[0] : 'parse error'})`);
  }
  const alg = doc.algorithm;
  if (typeof alg !== 'string' || !(alg in INIT_DATA_ALGS)) throw new AttestationFailure('kbs.init-data', `init-data algorithm ${JSON.stringify(String(alg).slice(0, 20))} is not sha256, sha384 or sha512`);
  const digest = new Uint8Array(createHash(alg).update(initData.body, 'utf8').digest());
  return { digest, alg, claims: doc.data ?? {} };
}

const AK_CACHE_MAX = 256;
const akCache = new Map<string, KeyObject>();

function cachedAk(pin: string, der: Uint8Array): KeyObject {
  let k = akCache.get(pin);
  if (!k) {
    k = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
    if (akCache.size >= AK_CACHE_MAX) akCache.delete(akCache.keys().next().value!);
    akCache.set(pin, k);
  }
  return k;
}

function verifyTpmEvidence(input: EvidenceInput): VerifiedEvidence {
  const waivers: string[] = [];
  if (!input.gates.allowDevelopmentTee) {
    throw new AttestationFailure('kbs.development-tee', 'tee tpm is the development TEE (a TPM quote without a CPU TEE, e.g. QEMU + swtpm) and this broker does not accept development-TEE evidence');
  }
  waivers.push(Waiver.DevelopmentTee);
  let ev;
  try {
    ev = parseTpmEvidence(input.primary);
  } catch (e) {
    if (e instanceof KbsProtocolError) throw new AttestationFailure('evidence.malformed', e.detail);
    throw e;
  }
  const pin = akPinOf(ev.akDer);
  // The AK must be one the broker pinned (the shared verifier's akPins; no waiver is ever passed).
  // Pinned AKs are parsed once: the same few keys come back on every attestation.
  const ak = input.trust.tpmAkPins.has(pin) ? cachedAk(pin, ev.akDer) : ev.akDer;
  const r = verifyTpm(
    { quote: ev.quote, signature: ev.signature, ak, pcrs: { hash: 'sha256', pcrs: ev.pcrs } },
    { nonce: padReportData(input.reportData, TPM_REPORT_DATA_SIZE), akPins: [...input.trust.tpmAkPins], ...(input.at ? { at: input.at } : {}) },
  );
  if (!r.verified) throw new AttestationFailure(r.reasonCode ?? 'evidence.unverified', r.reason ?? 'tpm evidence did not verify');
  const teeClaims: Record<string, unknown> = { ...r.claims, ak_pin: pin, init_data: ev.pcrs[String(INIT_DATA_PCR)] };
  const facts: EvidenceFacts = { tee: 'tpm', pcrs: ev.pcrs };
  const out: VerifiedEvidence = { facts, teeClaims, waivers };
  if (input.initData) {
    const { digest, alg, claims } = digestInitData(input.initData);
    if (digest.length !== 32) throw new AttestationFailure('kbs.init-data', `the TPM binds init-data into PCR ${INIT_DATA_PCR} with a SHA-256 digest; this init-data uses ${alg}`);
    const want = initDataPcrValue(digest);
    const got = ev.pcrs[String(INIT_DATA_PCR)];
    if (got !== want) throw new AttestationFailure('kbs.init-data', `PCR ${INIT_DATA_PCR} is ${got}, not the value one extend of the init-data digest gives (${want})`);
    const hex = Buffer.from(digest).toString('hex');
    facts.initDataDigest = hex;
    out.initData = { digest: hex, claims };
  }
  return out;
}

function verifySampleEvidence(input: EvidenceInput): VerifiedEvidence {
  if (!input.gates.allowSample) throw new AttestationFailure('kbs.sample-tee', 'tee sample carries no hardware evidence and this broker does not accept it');
  let ev;
  try {
    ev = parseSampleEvidence(input.primary);
  } catch (e) {
    if (e instanceof KbsProtocolError) throw new AttestationFailure('evidence.malformed', e.detail);
    throw e;
  }
  // The sample attester sends base64 of the digest; compare the decoded bytes, as trustee does.
  const got = Buffer.from(ev.report_data, 'base64');
  if (!got.equals(Buffer.from(input.reportData))) throw new AttestationFailure('sample.report-data', 'sample evidence report_data is not the binding of this nonce, TEE key and additional evidence');
  return { facts: { tee: 'sample' }, teeClaims: { svn: ev.svn, report_data: ev.report_data }, waivers: [Waiver.Sample] };
}

const ADAPTERS: Partial<Record<TeeName, (input: EvidenceInput) => VerifiedEvidence>> = {
  tpm: verifyTpmEvidence,
  sample: verifySampleEvidence,
  snp: verifySnpEvidence,
  tdx: (input) => verifyTdxEvidence(input, input.trust),
  'az-snp-vtpm': verifyAzSnpEvidence,
  'az-tdx-vtpm': (input) => verifyAzTdxEvidence(input, input.trust),
};

/** TEEs whose evidence this broker can verify. */
export const SUPPORTED_TEES = Object.keys(ADAPTERS) as TeeName[];

export function verifyEvidence(input: EvidenceInput): VerifiedEvidence {
  const adapter = ADAPTERS[input.tee];
  if (!adapter) throw new AttestationFailure('kbs.tee-unsupported', `tee ${input.tee} is not supported by this broker (supported: ${SUPPORTED_TEES.join(', ')})`);
  return adapter(input);
}
