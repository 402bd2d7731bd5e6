/**
 * Raw TPM 2.0 commands over /dev/tpmrm0 (or /dev/tpm0): PCR_Extend and PCR_Read of the SHA-256
 * bank. Enough to measure init-data into PCR 8 without a TPM library in the guest.
 */
import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { digestOf } from './builtins.js';

const TPM_ST_NO_SESSIONS = 0x8001;
const TPM_ST_SESSIONS = 0x8002;
const TPM_CC_PCR_EXTEND = 0x00000182;
const TPM_CC_PCR_READ = 0x0000017e;
const TPM_RS_PW = 0x40000009;
const TPM_ALG_SHA256 = 0x000b;
/** The PCR CoCo uses for init-data on vTPM attesters. */
export const INITDATA_PCR = 8;

export function pcrExtendCommand(pcr: number, sha256Digest: Buffer): Buffer {
  if (sha256Digest.length !== 32) throw new Error('PCR_Extend needs a 32-byte SHA-256 digest');
  const b = Buffer.alloc(10 + 4 + 4 + 9 + 4 + 2 + 32);
  let o = 0;
  o = b.writeUInt16BE(TPM_ST_SESSIONS, o);
  o = b.writeUInt32BE(b.length, o);
  o = b.writeUInt32BE(TPM_CC_PCR_EXTEND, o);
  o = b.writeUInt32BE(pcr, o);
  o = b.writeUInt32BE(9, o); // authorization area size: one password session
  o = b.writeUInt32BE(TPM_RS_PW, o);
  o = b.writeUInt16BE(0, o); // nonce
  o = b.writeUInt8(0x01, o); // continueSession
  o = b.writeUInt16BE(0, o); // empty password
  o = b.writeUInt32BE(1, o); // TPML_DIGEST_VALUES count
  o = b.writeUInt16BE(TPM_ALG_SHA256, o);
  sha256Digest.copy(b, o);
  return b;
}

export function pcrReadCommand(pcr: number): Buffer {
  const sel = Buffer.alloc(3);
  sel[pcr >> 3] = 1 << (pcr & 7);
  const b = Buffer.alloc(10 + 4 + 2 + 1 + 3);
  let o = 0;
  o = b.writeUInt16BE(TPM_ST_NO_SESSIONS, o);
  o = b.writeUInt32BE(b.length, o);
  o = b.writeUInt32BE(TPM_CC_PCR_READ, o);
  o = b.writeUInt32BE(1, o);
  o = b.writeUInt16BE(TPM_ALG_SHA256, o);
  o = b.writeUInt8(3, o);
  sel.copy(b, o);
  return b;
}

/** The value PCR `old` becomes after extending with `digest` (SHA-256 bank). */
export function extendedValue(old: Buffer, digest: Buffer): Buffer {
  return digestOf('sha256', old, digest);
}

export function tpmDevice(): string | undefined {
  for (const d of ['/dev/tpmrm0', '/dev/tpm0']) if (existsSync(d)) return d;
  return undefined;
}

function transact(dev: string, cmd: Buffer): Buffer {
  const fd = openSync(dev, 'r+');
  try {
    writeSync(fd, cmd);
    const resp = Buffer.alloc(4096);
    const n = readSync(fd, resp, 0, resp.length, null);
    const r = resp.subarray(0, n);
    const rc = r.length >= 10 ? r.readUInt32BE(6) : -1;
    if (rc !== 0) throw new CocoletError(ErrorCode.Internal, `TPM command 0x${cmd.readUInt32BE(6).toString(16)} failed with rc 0x${rc.toString(16)}`);
    return r;
  } finally {
    closeSync(fd);
  }
}

export function pcrRead(dev: string, pcr: number): Buffer {
  const r = transact(dev, pcrReadCommand(pcr));
  // header 10, updateCounter 4, selection (count 4 + hash 2 + size 1 + 3), digests count 4, size 2
  const off = 10 + 4 + 10 + 4;
  const size = r.readUInt16BE(off);
  return Buffer.from(r.subarray(off + 2, off + 2 + size));
}

export function pcrExtend(dev: string, pcr: number, sha256Digest: Buffer): void {
  transact(dev, pcrExtendCommand(pcr, sha256Digest));
}
