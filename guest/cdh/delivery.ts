/**
 * Putting secrets into containers without the host seeing them: environment values that are
 * `sealed.` secrets are replaced by their values (in the OCI spec the guest builds, never sent
 * back), and secret files are written only onto a guest-memory file system (tmpfs/ramfs inside
 * the TEE), never onto a host-shared mount. Errors name the variable or file, never the value.
 */
import { constants, promises as fsp } from 'node:fs';
import { basename, join, sep } from 'node:path';
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

/** Largest file read from a host-provided secret volume (sealed secrets are small). */
export const MAX_VOLUME_FILE = 256 * 1024;

/**
 * A Kubernetes secret volume whose files hold `sealed.` secrets (the host's copy, as the kubelet
 * wrote it: `key -> ..data/key` symlinks) re-created in `dst` on guest memory with the unsealed
 * values; files that are not sealed are copied as they are (the host has them anyway). Links are
 * followed only inside `src`; dot-dot entries (the kubelet's `..data`, `..2024_…`) are skipped as
 * entries. Returns the file names written.
 */
export async function unsealVolume(src: string, dst: string, hub: Unsealer): Promise<string[]> {
  await requireGuestMemory(dst);
  const root = await fsp.realpath(src);
  const written: string[] = [];
  for (const name of (await fsp.readdir(root)).sort()) {
    if (name.startsWith('..')) continue;
    const real = await fsp.realpath(join(root, name)).catch(() => undefined);
    if (!real || !real.startsWith(root + sep)) throw new CocoletError(ErrorCode.PermissionDenied, `secret volume entry ${name} points outside the volume`, { context: { file: name, check: 'cdh.volume-escape' } });
    // The host owns this tree: open without following a link swapped in since realpath, check what was opened.
    const fh = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    let content: Buffer;
    try {
      const st = await fh.stat();
      if (!st.isFile()) continue;
      if (st.size > MAX_VOLUME_FILE) throw new CocoletError(ErrorCode.ResourceExhausted, `secret volume file ${name} is larger than ${MAX_VOLUME_FILE} bytes`, { context: { file: name, check: 'cdh.volume-size' } });
      content = await fh.readFile();
    } finally {
      await fh.close();
    }
    const text = content.toString('utf8').trim();
    let value: Buffer = content;
    if (text.startsWith('sealed.')) {
      try {
        value = await hub.unsealSecret(text);
      } catch (err) {
        if (err instanceof CocoletError) throw err.withContext({ file: name });
        throw err;
      }
    }
    try {
      await writeSecretFile(dst, name, value, 0o440);
    } finally {
      if (value !== content) value.fill(0);
    }
    written.push(name);
  }
  return written;
}
