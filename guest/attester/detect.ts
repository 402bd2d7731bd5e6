/**
 * Finds the TEE the guest runs in: configfs-tsm's provider first (`sev_guest` -> SNP, `tdx_guest`
 * -> TDX), else a TPM device (the development TEE: a vTPM with no hardware TEE under it). No
 * TEE is an error, never a silent fallback to `sample`.
 */
import { existsSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { Attester } from './types.js';
import { SnpAttester, TdxAttester } from './tsm/attester.js';
import { tsmProvider, type TsmOptions } from './tsm/report.js';
import { TpmAttester, type TpmAttesterOptions } from './tpm/attester.js';
import { DeviceTransport, type TpmTransport } from './tpm/transport.js';

export const TPM_DEVICES = ['/dev/tpmrm0', '/dev/tpm0'];

export interface DetectOptions {
  tsm?: TsmOptions;
  /** TPM device paths to try, in order. */
  tpmDevices?: string[];
  /** A TPM transport to use instead of a device (tests: swtpm's socket). */
  tpmTransport?: () => Promise<TpmTransport>;
  tpm?: TpmAttesterOptions;
}

export async function detectAttester(opts: DetectOptions = {}): Promise<Attester> {
  const provider = await tsmProvider(opts.tsm);
  if (provider === 'sev_guest') return new SnpAttester(opts.tsm);
  if (provider === 'tdx_guest') return new TdxAttester(opts.tsm);
  if (opts.tpmTransport) return new TpmAttester(await opts.tpmTransport(), opts.tpm);
  const dev = (opts.tpmDevices ?? TPM_DEVICES).find((d) => existsSync(d));
  if (dev) return new TpmAttester(await DeviceTransport.open(dev), opts.tpm);
  const why = provider ? `configfs-tsm provider ${JSON.stringify(provider)} is not SNP or TDX, and` : 'no configfs-tsm report interface and';
  throw new CocoletError(ErrorCode.FailedPrecondition, `no TEE found: ${why} no TPM device (${(opts.tpmDevices ?? TPM_DEVICES).join(', ')})`);
}
