/**
 * Finds the guest image built by `npm run guest-image` (`$COCOLET_GUEST_DIR`, else
 * `<repo>/.cache/guest`). The host only reads the image's files and manifest; it never imports
 * guest code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export interface GuestImage {
  dir: string;
  kernel: string;
  initramfs: string;
  /** Kernel command line the image was measured with. */
  cmdline: string;
  /** The one-file agent bundle (runs under plain Node too). */
  bundle: string;
  manifest: Record<string, unknown>;
}

export function repoRoot(): string {
  if (process.env.COCOLET_ROOT) return process.env.COCOLET_ROOT;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 12; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new CocoletError(ErrorCode.ConfigInvalid, 'cannot find the repository root; set COCOLET_ROOT');
}

export function guestImageDir(): string {
  return process.env.COCOLET_GUEST_DIR ?? join(repoRoot(), '.cache', 'guest');
}

export function loadGuestImage(dir = guestImageDir()): GuestImage {
  const mpath = join(dir, 'manifest.json');
  if (!existsSync(mpath)) {
    throw new CocoletError(ErrorCode.FailedPrecondition, 'guest image not built; run `npm run guest-image`', { context: { dir } });
  }
  const manifest = JSON.parse(readFileSync(mpath, 'utf8')) as { cmdline: string; files: { kernel: string; initramfs: string; bundle: string } };
  return {
    dir,
    kernel: join(dir, manifest.files.kernel),
    initramfs: join(dir, manifest.files.initramfs),
    bundle: join(dir, manifest.files.bundle),
    cmdline: manifest.cmdline,
    manifest: manifest as unknown as Record<string, unknown>,
  };
}
