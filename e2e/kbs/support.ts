/**
 * e2e support for the broker: `cocolet-kbs serve` and `cocolet-kbs admin` as real processes,
 * an Ed25519 admin key pair and a self-signed loopback TLS certificate made with openssl.
 */
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Harness, RunningProcess } from '../../shared/testing/harness.js';

export const KBS_BIN = fileURLToPath(new URL('../../kbs/cmd/cocolet-kbs.js', import.meta.url));

export interface AdminKeys {
  privateKey: KeyObject;
  privateFile: string;
  publicFile: string;
}

export function adminKeys(dir: string, name = 'admin'): AdminKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privateFile = join(dir, `${name}.key`);
  const publicFile = join(dir, `${name}.pub`);
  writeFileSync(privateFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  writeFileSync(publicFile, publicKey.export({ format: 'pem', type: 'spki' }));
  return { privateKey, privateFile, publicFile };
}

/** A self-signed P-256 certificate for 127.0.0.1 (also its own CA). */
export function tlsCert(dir: string): { cert: string; key: string; pem: Buffer } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key, pem: readFileSync(cert) };
}

export interface ServedBroker {
  proc: RunningProcess;
  url: string;
}

/** Starts `cocolet-kbs serve` with `args` on a free loopback port; waits for its listening line. */
export async function serveBroker(h: Harness, args: string[]): Promise<ServedBroker> {
  const proc = h.start(process.execPath, [KBS_BIN, 'serve', '--listen', '127.0.0.1:0', ...args], { env: { ...process.env, COCOLET_LOG_LEVEL: 'info' } });
  const m = await proc.waitForOutput(/"url":"(https?:\/\/127\.0\.0\.1:\d+)"/, { timeoutMs: 30_000 });
  return { proc, url: m[1]! };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function kbsCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [KBS_BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
