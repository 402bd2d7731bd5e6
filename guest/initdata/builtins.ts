/**
 * Node built-ins the agent needs only on some start paths (init-data present, compressed,
 * measured), loaded on first use: each built-in costs start-up time under emulation, and a static
 * `import` would load it before any agent code runs.
 */
import { createRequire } from 'node:module';

const lazyRequire = createRequire(import.meta.url);

export function nodeCrypto(): typeof import('node:crypto') {
  return lazyRequire('node:crypto') as typeof import('node:crypto');
}

export function nodeZlib(): typeof import('node:zlib') {
  return lazyRequire('node:zlib') as typeof import('node:zlib');
}

/** `alg` digest of the concatenated parts. */
export function digestOf(alg: string, ...parts: Uint8Array[]): Buffer {
  const h = nodeCrypto().createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}
