/** Where the guest image lives and where the repository is. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: `$COCOLET_ROOT`, else the nearest folder above this file with a package.json. */
export function repoRoot(): string {
  if (process.env.COCOLET_ROOT) return process.env.COCOLET_ROOT;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 12; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the repository root (no package.json above this file); set COCOLET_ROOT');
}

/** Output folder of the guest image: `$COCOLET_GUEST_DIR`, else `<root>/.cache/guest`. */
export function guestImageDir(): string {
  return process.env.COCOLET_GUEST_DIR ?? join(repoRoot(), '.cache', 'guest');
}

/** File names inside the image folder. */
export const IMAGE_FILES = {
  kernel: 'vmlinuz',
  initramfs: 'initramfs.cpio',
  cmdline: 'cmdline',
  manifest: 'manifest.json',
  /** The agent's ESM entry (the process hypervisor starts it): requires `agentMain`. */
  bundle: 'cocolet-agent.mjs',
  /** The agent bundle (CommonJS, one file; the VM's /init starts it). */
  agentMain: 'cocolet-agent.cjs',
} as const;
