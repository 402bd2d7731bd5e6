/**
 * CoCo init-data: a TOML document (`version = "0.1.0"`, `algorithm`, `[data]` of named files)
 * delivered by the host, measured by the guest BEFORE any host request is served. Sources: the
 * Kata init-data block device (magic `initdata`, LE u64 length, gzip(TOML)), or a file in
 * process mode (raw TOML or the same block layout).
 *
 * cocolet reads these `[data]` keys: `policy.json` (the agent policy document), and
 * `cocolet-agent.json` (agent settings: `insecureRegistries`). A `policy.rego` is refused (no
 * Rego engine): failing closed beats silently ignoring the pod author's policy.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { digestOf, nodeZlib } from './builtins.js';

export const INITDATA_MAGIC = Buffer.from('initdata', 'ascii');
export const INITDATA_VERSION = '0.1.0';
export const INITDATA_ALGORITHMS = ['sha256', 'sha384', 'sha512'] as const;
export type InitdataAlgorithm = (typeof INITDATA_ALGORITHMS)[number];
/** Upper bound for the gzip blob and the TOML (the policy lives in it; keep it bounded). */
const MAX_INITDATA_BYTES = 4 * 1024 * 1024;

export interface Initdata {
  /** The TOML bytes exactly as delivered (what is measured). */
  raw: Buffer;
  algorithm: InitdataAlgorithm;
  /** algorithm(raw), raw bytes. */
  digest: Buffer;
  data: Record<string, string>;
}

function bad(msg: string): CocoletError {
  return new CocoletError(ErrorCode.ConfigInvalid, `initdata: ${msg}`);
}

export function parseInitdata(raw: Buffer): Initdata {
  if (raw.length > MAX_INITDATA_BYTES) throw bad('too large');
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(raw.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw bad(`not TOML (${(e as Error).message.split('\n')[0]})`);
  }
  if (doc.version !== INITDATA_VERSION) throw bad(`version must be "${INITDATA_VERSION}"`);
  const alg = doc.algorithm;
  if (typeof alg !== 'string' || !(INITDATA_ALGORITHMS as readonly string[]).includes(alg)) throw bad('algorithm must be sha256, sha384 or sha512');
  const dataIn = doc.data ?? {};
  if (typeof dataIn !== 'object' || Array.isArray(dataIn)) throw bad('[data] must be a table');
  // no prototype: a `__proto__` key is a file name like any other, never the object's prototype
  const data = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(dataIn as Record<string, unknown>)) {
    if (typeof v !== 'string') throw bad(`data.${k} must be a string`);
    data[k] = v;
  }
  return { raw, algorithm: alg as InitdataAlgorithm, digest: digestOf(alg, raw), data };
}

/** Decodes the block-device layout; undefined when the magic is absent. */
export function decodeInitdataBlock(block: Buffer): Buffer | undefined {
  if (block.length < 16 || !block.subarray(0, 8).equals(INITDATA_MAGIC)) return undefined;
  const len = block.readBigUInt64LE(8);
  if (len > BigInt(MAX_INITDATA_BYTES) || Number(len) > block.length - 16) throw bad('block length out of range');
  try {
    return nodeZlib().gunzipSync(block.subarray(16, 16 + Number(len)), { maxOutputLength: MAX_INITDATA_BYTES });
  } catch (e) {
    throw bad(`gzip payload unreadable (${(e as Error).message})`);
  }
}

/** Reads a file holding raw TOML or the block layout. */
export function readInitdataFile(path: string): Initdata {
  const b = readFileSync(path);
  return parseInitdata(decodeInitdataBlock(b) ?? b);
}

/** Scans virtio/SCSI block devices for the init-data magic (guest). */
export function findInitdataDevice(devDir = '/dev', sysBlock = '/sys/block'): Initdata | undefined {
  let names: string[] = [];
  try {
    names = readdirSync(sysBlock).filter((n) => /^(vd|sd)[a-z]+$/.test(n)).sort();
  } catch {
    return undefined;
  }
  for (const n of names) {
    let fd: number | undefined;
    try {
      fd = openSync(`${devDir}/${n}`, 'r');
      const head = Buffer.alloc(16);
      if (readSync(fd, head, 0, 16, 0) < 16 || !head.subarray(0, 8).equals(INITDATA_MAGIC)) continue;
      const len = Number(head.readBigUInt64LE(8));
      if (len > MAX_INITDATA_BYTES) throw bad('block length out of range');
      const all = Buffer.alloc(16 + len);
      readSync(fd, all, 0, all.length, 0);
      return parseInitdata(decodeInitdataBlock(all)!);
    } catch (e) {
      if (e instanceof CocoletError) throw e;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return undefined;
}

/** The digest a TEE field holds: truncated or zero-padded to `size` bytes (HOSTDATA 32, MRCONFIGID 48). */
export function adjustDigest(digest: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  digest.copy(out, 0, 0, Math.min(size, digest.length));
  return out;
}
