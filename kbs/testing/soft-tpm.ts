/**
 * A TPM quote maker in software, for unit tests and the benchmark's client load: it builds the
 * same TPMS_ATTEST (quote over the 24 SHA-256 PCRs, qualifying data = report_data cut to 32
 * bytes) and TPMT_SIGNATURE (RSASSA-SHA256) a TPM produces, signed by an RSA-2048 key standing in
 * for the AK. The e2e tests use real swtpm quotes instead (e2e/kbs/swtpm-attester.ts).
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { padReportData } from '../../shared/kbs/binding.js';
import { akPinOf, initDataPcrValue, INIT_DATA_PCR, TPM_REPORT_DATA_SIZE, type TpmPrimaryEvidence } from '../../shared/kbs/evidence.js';
import type { Attester } from '../../shared/kbs/client.js';

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function tpm2b(data: Uint8Array): Buffer {
  return Buffer.concat([u16(data.length), data]);
}

export class SoftTpm implements Attester {
  readonly tee = 'tpm' as const;
  readonly akDer: Uint8Array;
  readonly pcrs: Buffer[];
  private readonly key: KeyObject;
  private clock = 1000n;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.key = privateKey;
    this.akDer = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
    this.pcrs = Array.from({ length: 24 }, (_, i) => createHash('sha256').update(`pcr${i}`).digest());
  }

  get akPin(): string {
    return akPinOf(this.akDer);
  }

  /** Sets PCR 8 as one extend of a fresh PCR with the init-data digest. */
  bindInitData(digest: Uint8Array): void {
    this.pcrs[INIT_DATA_PCR] = Buffer.from(initDataPcrValue(digest), 'hex');
  }

  quote(reportData: Uint8Array): { message: Buffer; signature: Buffer } {
    const select = Buffer.from([0xff, 0xff, 0xff]);
    const pcrDigest = createHash('sha256').update(Buffer.concat(this.pcrs)).digest();
    const clock = Buffer.alloc(8);
    clock.writeBigUInt64BE(this.clock++);
    const message = Buffer.concat([
      u32(0xff544347), u16(0x8018),
      tpm2b(Buffer.concat([u16(0x000b), createHash('sha256').update(this.akDer).digest()])),
      tpm2b(padReportData(reportData, TPM_REPORT_DATA_SIZE)),
      clock, u32(1), u32(0), Buffer.from([1]),
      Buffer.alloc(8),
      u32(1), u16(0x000b), Buffer.from([3]), select,
      tpm2b(pcrDigest),
    ]);
    const sig = sign('sha256', message, this.key);
    return { message, signature: Buffer.concat([u16(0x0014), u16(0x000b), tpm2b(sig)]) };
  }

  evidence(reportData: Uint8Array): TpmPrimaryEvidence {
    const q = this.quote(reportData);
    return {
      ak_public: Buffer.from(this.akDer).toString('base64'),
      tpm_quote: { signature: q.signature.toString('base64'), message: q.message.toString('base64'), pcrs: this.pcrs.map((p) => p.toString('hex')) },
    };
  }
}
