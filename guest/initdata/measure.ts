/**
 * Fail-closed measurement of init-data into a TEE register the guest can prove, before the agent
 * serves anything but Health and GetGuestDetails (see agent/lock.ts):
 *
 * 1. configfs-tsm (`/sys/kernel/config/tsm/report`). A provider (sev_guest, tdx_guest) answers on
 *    SEV-SNP / TDX: HOSTDATA / MRCONFIGID must hold the init-data digest as the host set it at
 *    launch, or all zeros when no init-data was delivered (the host declared none).
 * 2. No provider (or no configfs-tsm): the development TEE. PCR 8 of the vTPM must still be zero
 *    (nothing extended it before the agent), is extended with the init-data's SHA-256 digest (or,
 *    without init-data, the built-in default policy's digest), and must read back as expected.
 *    The host runs that vTPM (swtpm) and can forge PCR 8: this path proves the protocol, not the
 *    protection, and says so.
 * 3. Anything else (no register at all, a report that cannot be read, a mismatch, a TPM error, a
 *    CPU that says SEV-SNP/TDX while configfs-tsm has no provider) throws: the agent stops.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { checkInitdataBinding, probeTsm, TSM_REPORT_DIR, type TsmProbe } from './bind.js';
import { digestOf } from './builtins.js';
import type { Initdata } from './initdata.js';
import { extendedValue, INITDATA_PCR, pcrExtend, pcrRead, tpmDevice } from './tpm.js';

export interface InitdataMeasurement {
  /** `dev`: QEMU without SNP/TDX and a host-run vTPM (NOT confidential against the host). */
  tee: 'snp' | 'tdx' | 'dev';
  register: 'HOSTDATA' | 'MRCONFIGID' | 'PCR8';
  /** Whether init-data was delivered (else the built-in default policy was bound). */
  initdata: boolean;
  /** Hex of what the register was checked against / extended with. */
  digest: string;
  /** PCR 8 after the extend (development TEE only). */
  pcr8?: string;
}

/** The TPM operations the development TEE path needs (a seam for unit tests). */
export interface TpmPort {
  device: string;
  read(pcr: number): Buffer;
  extend(pcr: number, sha256Digest: Buffer): void;
}

export function deviceTpm(): TpmPort | undefined {
  const device = tpmDevice();
  return device ? { device, read: (p) => pcrRead(device, p), extend: (p, d) => pcrExtend(device, p, d) } : undefined;
}

export interface MeasureOptions {
  /** What is bound when no init-data was delivered: the SHA-256 digest of the built-in policy document. */
  builtinPolicyDigest: Buffer;
  logger: Logger;
  tsmRoot?: string;
  /** configfs mkdir (test seam; see bind.ts). */
  tsmMkdir?: (dir: string) => void;
  tpm?: () => TpmPort | undefined;
  /** CPU flags (`/proc/cpuinfo`), to catch an SNP/TDX guest whose configfs-tsm gives no report. */
  cpuFlags?: () => Set<string>;
}

/** Flags of the first CPU in /proc/cpuinfo (empty when unreadable). */
export function cpuinfoFlags(text?: string): Set<string> {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return new Set();
    }
  }
  const m = t.match(/^flags\s*:\s*(.*)$/m);
  return new Set(m ? m[1]!.trim().split(/\s+/) : []);
}

function refuse(msg: string): CocoletError {
  return new CocoletError(ErrorCode.FailedPrecondition, `init-data cannot be measured: ${msg}`);
}

/** Measures (or checks) init-data; returns what was bound or throws with the reason. */
export function measureInitdata(id: Initdata | undefined, o: MeasureOptions): InitdataMeasurement {
  const log = o.logger;
  const probe: TsmProbe = probeTsm(o.tsmRoot ?? TSM_REPORT_DIR, Buffer.alloc(64), o.tsmMkdir);
  if (probe.state === 'report') {
    const expected = id?.digest ?? Buffer.alloc(0);
    let b;
    try {
      b = checkInitdataBinding(probe.provider, probe.outblob, expected);
    } catch (e) {
      const why = id ? (e as Error).message : `no init-data was delivered but the TEE report's init-data field is not zero (${(e as Error).message})`;
      throw refuse(why);
    }
    log.info({ tsm: probe.root, provider: probe.provider, tee: b.tee, field: b.field, initdata: Boolean(id), digest: expected.toString('hex') }, 'init-data bound to the TEE report');
    return { tee: b.tee, register: b.field, initdata: Boolean(id), digest: expected.toString('hex') };
  }
  if (probe.state === 'no-provider') log.info({ tsm: probe.root }, 'configfs-tsm found, no provider answers (not an SEV-SNP or TDX guest): falling back to the development TEE vTPM (PCR 8)');
  else log.warn({ tsm: probe.root }, 'configfs-tsm absent (no report interface): falling back to the development TEE vTPM (PCR 8)');
  const flags = (o.cpuFlags ?? cpuinfoFlags)();
  const hw = ['sev_snp', 'tdx_guest'].find((f) => flags.has(f));
  if (hw) throw refuse(`the CPU reports ${hw} but configfs-tsm gives no report (${probe.state})`);
  const tpm = (o.tpm ?? deviceTpm)();
  if (!tpm) throw refuse(`no TEE register: configfs-tsm ${probe.state === 'absent' ? 'absent' : 'has no provider'} and no TPM (/dev/tpmrm0, /dev/tpm0)`);
  // vTPM attesters bind init-data by extending PCR 8 with a SHA-256 digest of the TOML.
  const d = id ? (id.algorithm === 'sha256' ? id.digest : digestOf('sha256', id.raw)) : o.builtinPolicyDigest;
  let before: Buffer;
  let after: Buffer;
  try {
    before = tpm.read(INITDATA_PCR);
    if (!before.equals(Buffer.alloc(before.length))) throw refuse(`PCR ${INITDATA_PCR} is not zero before the agent measured (${before.toString('hex')}): something else extended it`);
    tpm.extend(INITDATA_PCR, d);
    after = tpm.read(INITDATA_PCR);
  } catch (e) {
    throw e instanceof CocoletError && e.message.startsWith('init-data cannot be measured') ? e : refuse(`TPM ${tpm.device}: ${(e as Error).message}`);
  }
  if (!after.equals(extendedValue(before, d))) throw refuse(`PCR ${INITDATA_PCR} did not take the digest (reads ${after.toString('hex')})`);
  log.info({ algorithm: id?.algorithm ?? 'sha256', digest: d.toString('hex'), initdata: Boolean(id), pcr: INITDATA_PCR, pcrValue: after.toString('hex') }, 'init-data measured');
  log.warn({ tee: 'dev', tpm: tpm.device }, 'development TEE: the host runs this vTPM and can forge PCR 8; NOT confidential against the host');
  return { tee: 'dev', register: 'PCR8', initdata: Boolean(id), digest: d.toString('hex'), pcr8: after.toString('hex') };
}
