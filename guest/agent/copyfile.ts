/**
 * CopyFile: the host copies files (config maps, secrets of non-confidential pods, /etc/hosts …)
 * into the guest's shared-container folder, in chunks. The path must be absolute and clean, under
 * the copy root, and never written through a symlink.
 */
import { closeSync, constants, lstatSync, mkdirSync, openSync, symlinkSync, unlinkSync, writeSync, fchmodSync, fchownSync, chownSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { CopyFileRequest } from '../../shared/gen/kata/agent_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { hasTraversal, SHARED_CONTAINERS_DIR } from '../policy/inspect.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const MAX_FILE = 64 * 1024 * 1024;

function denied(msg: string): CocoletError {
  return new CocoletError(ErrorCode.InvalidArgument, `CopyFile: ${msg}`);
}

/**
 * @param guestRoot where SHARED_CONTAINERS_DIR really lives (`/` in the guest; a state folder in
 *   process mode, so the host's /run is never written).
 */
export function copyFile(req: CopyFileRequest, guestRoot: string): void {
  const p = req.path;
  if (hasTraversal(p)) throw denied('path must be absolute without . or .. components');
  if (!p.startsWith(SHARED_CONTAINERS_DIR + '/')) throw denied(`path must be under ${SHARED_CONTAINERS_DIR}`);
  const type0 = req.fileMode & S_IFMT;
  const isRegular = type0 !== S_IFDIR && type0 !== S_IFLNK;
  if (req.fileSize < 0n || req.fileSize > BigInt(MAX_FILE) || req.offset < 0n || (isRegular && req.offset + BigInt(req.data.length) > req.fileSize)) {
    throw denied('size or offset out of range');
  }
  const target = join(guestRoot, p);
  const base = join(guestRoot, SHARED_CONTAINERS_DIR);
  mkdirSync(base, { recursive: true, mode: 0o755 });
  // create parents one by one, refusing symlinks on the way
  let cur = base;
  for (const c of relative(base, dirname(target)).split('/').filter(Boolean)) {
    cur = join(cur, c);
    try {
      const st = lstatSync(cur);
      if (!st.isDirectory()) throw denied('a parent is not a directory');
    } catch (e) {
      if (e instanceof CocoletError) throw e;
      mkdirSync(cur, { mode: req.dirMode & 0o7777 || 0o755 });
    }
  }
  const type = req.fileMode & S_IFMT;
  const uid = req.uid;
  const gid = req.gid;
  if (type === S_IFDIR) {
    try {
      if (!lstatSync(target).isDirectory()) throw denied('exists and is not a directory');
    } catch (e) {
      if (e instanceof CocoletError) throw e;
      mkdirSync(target, { mode: req.fileMode & 0o7777 });
    }
    if (uid >= 0 && gid >= 0) chownSync(target, uid, gid);
    return;
  }
  if (type === S_IFLNK) {
    const link = Buffer.from(req.data).toString('utf8');
    if (link.startsWith('/') || link.split('/').includes('..')) throw denied('symlink target must be relative and inside the folder');
    try {
      unlinkSync(target);
    } catch {
      /* absent */
    }
    symlinkSync(link, target);
    return;
  }
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (req.offset === 0n ? constants.O_TRUNC : 0);
  let fd: number;
  try {
    fd = openSync(target, flags, req.fileMode & 0o7777 || 0o644);
  } catch (e) {
    throw denied(`cannot open target (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    writeSync(fd, req.data, 0, req.data.length, Number(req.offset));
    fchmodSync(fd, req.fileMode & 0o7777 || 0o644);
    if (uid >= 0 && gid >= 0) fchownSync(fd, uid, gid);
  } finally {
    closeSync(fd);
  }
}
