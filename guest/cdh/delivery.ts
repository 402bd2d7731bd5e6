/**
 * Putting secrets into containers without the host seeing them: environment values that are
 * `sealed.` secrets are replaced by their values (in the OCI spec the guest builds, never sent
 * back), and secret files are written only onto a guest-memory file system (tmpfs/ramfs inside
 * the TEE), never onto a host-shared mount. Errors name the variable or file, never the value.
 */
import { constants, promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { isSealedSecret } from './sealed.js';

/** statfs f_type of the guest-memory file systems a secret file may live on. */
const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

export interface Unsealer {
  unsealSecret(sealed: string): Promise<Buffer>;
}

/** `NAME=sealed.…` entries replaced by `NAME=<value>`; other entries unchanged. */
export async function unsealEnv(env: readonly string[], hub: Unsealer): Promise<string[]> {
  const out: string[] = [];
  for (const e of env) {
    const eq = e.indexOf('=');
    const name = eq < 0 ? e : e.slice(0, eq);
    const value = eq < 0 ? '' : e.slice(eq + 1);
    if (!isSealedSecret(value)) {
      out.push(e);
      continue;
    }
    let plain: Buffer;
    try {
      plain = await hub.unsealSecret(value);
    } catch (err) {
      if (err instanceof CocoletError) throw err.withContext({ env: name });
      throw err;
    }
    const text = plain.toString('utf8');
    const usable = !plain.includes(0) && Buffer.from(text, 'utf8').equals(plain);
    plain.fill(0);
    if (!usable) throw new CocoletError(ErrorCode.InvalidArgument, `environment variable ${name}: its secret is not NUL-free UTF-8 text; deliver it as a file`, { context: { env: name, check: 'cdh.env-value' } });
    out.push(`${name}=${text}`);
  }
  return out;
}

/** Throws unless `dir` is on tmpfs or ramfs (guest memory). */
export async function requireGuestMemory(dir: string): Promise<void> {
  const st = await fsp.statfs(dir);
  if (st.type !== TMPFS_MAGIC && st.type !== RAMFS_MAGIC) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `secret directory ${dir} is not on guest memory (tmpfs/ramfs; f_type 0x${st.type.toString(16)})`, { context: { check: 'cdh.guest-memory' } });
  }
}

/**
 * Writes `value` to `dir/name` (mode 0400 by default), refusing to follow a symlink or replace a
 * file, and only when `dir` is guest memory. The caller zeroes `value` afterwards if it wants.
 */
export async function writeSecretFile(dir: string, name: string, value: Uint8Array, mode = 0o400): Promise<string> {
  if (name !== basename(name) || name === '.' || name === '..' || name === '' || name.includes('\0')) {
    throw new CocoletError(ErrorCode.InvalidArgument, `secret file name ${JSON.stringify(name.slice(0, 100))} is not a plain file name`, { context: { check: 'cdh.file-name' } });
  }
  await requireGuestMemory(dir);
  const path = join(dir, name);
  const fh = await fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(value);
  } finally {
    await fh.close();
  }
  return path;
}
