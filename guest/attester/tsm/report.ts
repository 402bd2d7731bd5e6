/**
 * The kernel's configfs-tsm report interface (Documentation/ABI/testing/configfs-tsm-report):
 * mkdir an entry under /sys/kernel/config/tsm/report, write up to 64 bytes to `inblob`, read
 * `outblob` (SNP: the attestation report; TDX: the quote), `auxblob` (SNP: the certificate
 * table, when the host provides one), `provider` (`sev_guest`, `tdx_guest`) and `generation`
 * (how many times inblob was written: more than one means another writer raced us).
 */
import * as fsp from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';

export const TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';
export const TSM_INBLOB_MAX = 64;

export type TsmProvider = 'sev_guest' | 'tdx_guest';

export interface TsmReport {
  provider: string;
  outblob: Buffer;
  /** Present when the provider has one (SNP with a host-supplied certificate table). */
  auxblob?: Buffer;
}

/** The file operations configfs-tsm is driven with (a fake in unit tests: configfs makes files appear). */
export interface TsmFs {
  exists(path: string): boolean;
  mkdir(path: string): Promise<unknown>;
  rmdir(path: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
}

export const nodeTsmFs: TsmFs = {
  exists: existsSync,
  mkdir: (p) => fsp.mkdir(p),
  rmdir: (p) => fsp.rmdir(p),
  readFile: (p) => fsp.readFile(p),
  writeFile: (p, d) => fsp.writeFile(p, d),
};

export interface TsmOptions {
  /** The configfs-tsm report folder. */
  root?: string;
  fs?: TsmFs;
  /** SNP only: the VMPL the report is requested for (default: the kernel's, 0). */
  privlevel?: number;
}

function tsmError(what: string, cause?: unknown): CocoletError {
  return new CocoletError(ErrorCode.Unavailable, `configfs-tsm: ${what}`, { cause, context: { tsm: 'report' } });
}

export function tsmAvailable(opts: TsmOptions = {}): boolean {
  return (opts.fs ?? nodeTsmFs).exists(opts.root ?? TSM_REPORT_DIR);
}

async function readOptional(fs: TsmFs, path: string): Promise<Buffer | undefined> {
  try {
    const b = await fs.readFile(path);
    return b.length > 0 ? b : undefined;
  } catch {
    return undefined;
  }
}

/** The provider name of this machine's TSM, or undefined when there is none. */
export async function tsmProvider(opts: TsmOptions = {}): Promise<string | undefined> {
  const root = opts.root ?? TSM_REPORT_DIR;
  const fs = opts.fs ?? nodeTsmFs;
  if (!fs.exists(root)) return undefined;
  const dir = join(root, `cocolet-probe-${randomBytes(6).toString('hex')}`);
  try {
    await fs.mkdir(dir);
  } catch {
    return undefined;
  }
  try {
    return (await fs.readFile(join(dir, 'provider'))).toString('utf8').trim() || undefined;
  } catch {
    return undefined;
  } finally {
    await fs.rmdir(dir).catch(() => undefined);
  }
}

/** One report over `inblob` (at most 64 bytes, zero-padded to 64). */
export async function tsmReport(inblob: Uint8Array, want: TsmProvider, opts: TsmOptions = {}): Promise<TsmReport> {
  if (inblob.length > TSM_INBLOB_MAX) throw new CocoletError(ErrorCode.InvalidArgument, `configfs-tsm: report data of ${inblob.length} bytes is longer than ${TSM_INBLOB_MAX}`);
  const root = opts.root ?? TSM_REPORT_DIR;
  const fs = opts.fs ?? nodeTsmFs;
  if (!fs.exists(root)) throw tsmError(`${root} does not exist (no TEE, or the kernel lacks CONFIG_TSM_REPORTS)`);
  const dir = join(root, `cocolet-${randomBytes(6).toString('hex')}`);
  try {
    await fs.mkdir(dir);
  } catch (e) {
    throw tsmError(`cannot create a report entry (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
  }
  try {
    const provider = (await fs.readFile(join(dir, 'provider'))).toString('utf8').trim();
    if (provider !== want) throw tsmError(`provider is ${JSON.stringify(provider)}, not ${want}`);
    if (opts.privlevel !== undefined) await fs.writeFile(join(dir, 'privlevel'), String(opts.privlevel));
    const data = Buffer.alloc(TSM_INBLOB_MAX);
    data.set(inblob);
    await fs.writeFile(join(dir, 'inblob'), data);
    const outblob = await fs.readFile(join(dir, 'outblob'));
    const auxblob = await readOptional(fs, join(dir, 'auxblob'));
    const generation = Number.parseInt((await fs.readFile(join(dir, 'generation'))).toString('utf8').trim(), 10);
    if (generation !== 1) throw tsmError(`report entry generation is ${generation}, not 1: another writer raced this request`);
    if (outblob.length === 0) throw tsmError('outblob is empty');
    return { provider, outblob, ...(auxblob ? { auxblob } : {}) };
  } catch (e) {
    if (e instanceof CocoletError) throw e;
    throw tsmError(`report request failed (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
  } finally {
    await fs.rmdir(dir).catch(() => undefined);
  }
}
