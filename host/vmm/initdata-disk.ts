/**
 * The init-data block device the way Kata's runtime lays it out: bytes 0–7 ASCII `initdata`,
 * bytes 8–15 the little-endian u64 length N of the gzip blob, then gzip(TOML), zero-padded to a
 * whole 512-byte sector.
 */
import { gzipSync } from 'node:zlib';

export const INITDATA_MAGIC = 'initdata';
const SECTOR = 512;

export function initdataDiskImage(toml: Uint8Array): Buffer {
  const gz = gzipSync(toml);
  const len = 16 + gz.length;
  const img = Buffer.alloc(Math.ceil(len / SECTOR) * SECTOR);
  img.write(INITDATA_MAGIC, 0, 'ascii');
  img.writeBigUInt64LE(BigInt(gz.length), 8);
  gz.copy(img, 16);
  return img;
}
