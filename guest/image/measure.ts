/**
 * Launch measurement of a direct-boot guest (kernel + initramfs + kernel command line), the
 * reference value a key broker compares against. Defined as
 *   H( H(kernel) || H(initramfs) || H(cmdline as UTF-8) )
 * with H = SHA-256 or SHA-384, all digests raw bytes. Each component digest is reported too.
 */
import { createHash } from 'node:crypto';

export type MeasurementAlgorithm = 'sha256' | 'sha384';

export interface LaunchMeasurement {
  algorithm: MeasurementAlgorithm;
  kernel: string;
  initramfs: string;
  cmdline: string;
  /** The combined launch measurement, hex. */
  launch: string;
}

export function launchMeasurement(alg: MeasurementAlgorithm, kernel: Uint8Array, initramfs: Uint8Array, cmdline: string): LaunchMeasurement {
  const h = (b: Uint8Array | string): Buffer => createHash(alg).update(b).digest();
  const k = h(kernel);
  const i = h(initramfs);
  const c = h(Buffer.from(cmdline, 'utf8'));
  return {
    algorithm: alg,
    kernel: k.toString('hex'),
    initramfs: i.toString('hex'),
    cmdline: c.toString('hex'),
    launch: h(Buffer.concat([k, i, c])).toString('hex'),
  };
}
