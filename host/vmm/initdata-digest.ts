/**
 * The init-data digest a hardware TEE register holds at launch: the document's own `algorithm`
 * (sha256 | sha384 | sha512) over its exact bytes, zero-padded or truncated to the register:
 * SEV-SNP HOSTDATA 32 bytes, TDX MRCONFIGID 48 bytes. QEMU takes both as base64
 * (`sev-snp-guest,host-data=`, `tdx-guest,mrconfigid=`).
 */
import { createHash } from 'node:crypto';
import { parse } from 'smol-toml';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export const HOSTDATA_BYTES = 32;
export const MRCONFIGID_BYTES = 48;
const ALGORITHMS = ['sha256', 'sha384', 'sha512'];

export function initdataRegister(toml: Uint8Array, size: number): Buffer {
  let alg: unknown;
  try {
    alg = (parse(Buffer.from(toml).toString('utf8')) as { algorithm?: unknown }).algorithm;
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `init-data is not TOML: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw new CocoletError(ErrorCode.InvalidArgument, `init-data algorithm must be one of ${ALGORITHMS.join(', ')} (got ${JSON.stringify(alg)})`);
  const digest = createHash(alg).update(toml).digest();
  const out = Buffer.alloc(size);
  digest.copy(out, 0, 0, Math.min(size, digest.length));
  return out;
}
