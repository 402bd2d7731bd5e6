/**
 * The development TEE's attester: a TPM 2.0 quote over all 24 SHA-256 PCRs (PCR 8 holds the
 * init-data digest) with the binding digest as qualifying data, in trustee's TPM evidence shape:
 *
 *   { "ak_public": base64(DER SubjectPublicKeyInfo of the AK),
 *     "tpm_quote": { "signature": base64(TPMT_SIGNATURE), "message": base64(TPMS_ATTEST),
 *                    "pcrs": [24 x hex SHA-256 PCR value, PCR 0 first] } }
 *
 * Qualifying data = the binding digest truncated / zero-padded to shared/kbs's
 * TPM_REPORT_DATA_SIZE (trustee v0.21's TPM attester and verifier use 32 bytes).
 *
 * The attestation key: the key at the persistent handle (guest-components' convention,
 * 0x81010002) when one is there and has an AK's attributes; otherwise a primary key created from
 * the endorsement seed with a fixed template (RSA-2048 RSASSA-SHA256 by default, the only scheme
 * trustee's TPM verifier takes). A primary key is a function of the seed and the template, so
 * the AK, and its pin (SHA-256 of the DER SPKI), stay the same for a TPM across boots without
 * writing anything to its NV memory. The AK is created once per attester and flushed on close.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';
import { parseTpmsAttest } from '../../../shared/attestation/tpm/structures.js';
import { TPM_REPORT_DATA_SIZE, type TpmPrimaryEvidence } from '../../../shared/kbs/evidence.js';
import type { Attester } from '../types.js';
import {
  AK_REQUIRED,
  ALG,
  createPrimary,
  eccAkTemplate,
  flushContext,
  OBJECT,
  PCR_COUNT,
  pcrReadAll,
  quote,
  readPublic,
  rsaAkTemplate,
  TpmCommandError,
  type PublicArea,
} from './commands.js';
import type { TpmTransport } from './transport.js';

/** guest-components' default persistent AK handle. */
export const DEFAULT_AK_HANDLE = 0x81010002;
/** Bytes of the binding digest that go into the quote's qualifying data: the broker's constant. */
export { TPM_REPORT_DATA_SIZE };
const ALL_PCRS = Array.from({ length: PCR_COUNT }, (_, i) => i);
/** Attempts when the PCRs move between the quote and the read-back. */
const PCR_RACE_ATTEMPTS = 3;

export type TpmEvidenceJson = TpmPrimaryEvidence;

export interface TpmAttesterOptions {
  /** Persistent handle to take the AK from when it holds one; `null`: always create the AK. */
  akHandle?: number | null;
  /** Key type of a created AK. Default `rsa` (trustee's verifier takes RSASSA only). */
  akAlgorithm?: 'rsa' | 'ecc';
  /** Whether this TPM is the development TEE (no hardware TEE under it). Default true. */
  development?: boolean;
}

/** DER SubjectPublicKeyInfo of a TPM public area. */
export function spkiOf(pub: PublicArea): Buffer {
  if (pub.rsa) {
    const e = Buffer.alloc(4);
    e.writeUInt32BE(pub.rsa.exponent);
    const key = createPublicKey({ key: { kty: 'RSA', n: pub.rsa.modulus.toString('base64url'), e: e.subarray(e.findIndex((x) => x !== 0)).toString('base64url') }, format: 'jwk' });
    return key.export({ type: 'spki', format: 'der' });
  }
  const crv = { 0x0003: 'P-256', 0x0004: 'P-384', 0x0005: 'P-521' }[pub.ecc!.curve];
  if (!crv) throw new CocoletError(ErrorCode.Unimplemented, `AK curve 0x${pub.ecc!.curve.toString(16)} is not a NIST curve`);
  return createPublicKey({ key: { kty: 'EC', crv, x: pub.ecc!.x.toString('base64url'), y: pub.ecc!.y.toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

function isAk(pub: PublicArea): boolean {
  return (pub.attributes & AK_REQUIRED) === AK_REQUIRED && (pub.attributes & OBJECT.decrypt) === 0 && (pub.scheme === ALG.RSASSA || pub.scheme === ALG.RSAPSS || pub.scheme === ALG.ECDSA);
}

interface Ak {
  handle: number;
  /** Created by this attester (flushed on close), as opposed to found at a persistent handle. */
  transient: boolean;
  spki: Buffer;
}

export class TpmAttester implements Attester {
  readonly tee = 'tpm' as const;
  readonly development: boolean;
  private ak: Promise<Ak> | undefined;

  constructor(
    readonly transport: TpmTransport,
    private readonly opts: TpmAttesterOptions = {},
  ) {
    this.development = opts.development ?? true;
  }

  private async loadAk(): Promise<Ak> {
    const persistent = this.opts.akHandle === undefined ? DEFAULT_AK_HANDLE : this.opts.akHandle;
    if (persistent !== null) {
      try {
        const pub = await readPublic(this.transport, persistent);
        if (isAk(pub)) return { handle: persistent, transient: false, spki: spkiOf(pub) };
      } catch (e) {
        if (!(e instanceof TpmCommandError)) throw e;
      }
    }
    const template = this.opts.akAlgorithm === 'ecc' ? eccAkTemplate() : rsaAkTemplate();
    const k = await createPrimary(this.transport, template);
    return { handle: k.handle, transient: true, spki: spkiOf(k.public) };
  }

  private akKey(): Promise<Ak> {
    this.ak ??= this.loadAk().catch((e: unknown) => {
      this.ak = undefined;
      throw e instanceof CocoletError ? e.withContext({ tee: 'tpm' }) : e;
    });
    return this.ak;
  }

  /** The AK's TPM handle (loads or creates it). */
  async akHandle(): Promise<number> {
    return (await this.akKey()).handle;
  }

  /** DER SPKI of the attestation key. */
  async akPublic(): Promise<Buffer> {
    return (await this.akKey()).spki;
  }

  /** The AK pin a broker is configured with: SHA-256 (hex) of the DER SPKI. */
  async akPin(): Promise<string> {
    return createHash('sha256').update(await this.akPublic()).digest('hex');
  }

  async evidence(reportData: Uint8Array): Promise<TpmEvidenceJson> {
    if (reportData.length > 64) throw new CocoletError(ErrorCode.InvalidArgument, `report data of ${reportData.length} bytes is longer than 64`, { context: { tee: 'tpm' } });
    const qualifying = Buffer.alloc(TPM_REPORT_DATA_SIZE);
    qualifying.set(reportData.subarray(0, TPM_REPORT_DATA_SIZE));
    const ak = await this.akKey();
    for (let attempt = 1; ; attempt++) {
      const q = await quote(this.transport, ak.handle, qualifying, ALL_PCRS);
      const pcrs = await pcrReadAll(this.transport);
      const digest = createHash('sha256').update(Buffer.concat(pcrs)).digest();
      if (digest.equals(Buffer.from(parseTpmsAttest(q.attest).pcrDigest))) {
        return {
          ak_public: ak.spki.toString('base64'),
          tpm_quote: { signature: q.signature.toString('base64'), message: q.attest.toString('base64'), pcrs: pcrs.map((p) => p.toString('hex')) },
        };
      }
      // A PCR was extended between the quote and the read-back: quote again.
      if (attempt >= PCR_RACE_ATTEMPTS) throw new CocoletError(ErrorCode.Aborted, `TPM PCRs kept changing during ${attempt} quotes`, { context: { tee: 'tpm' } });
    }
  }

  async close(): Promise<void> {
    const ak = this.ak;
    this.ak = undefined;
    try {
      const k = ak ? await ak.catch(() => undefined) : undefined;
      if (k?.transient) await flushContext(this.transport, k.handle).catch(() => undefined);
    } finally {
      await this.transport.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
