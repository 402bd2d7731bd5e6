/** Reads Intel PCS collateral for a TDX quote from a directory of conventionally named files. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TdxCollateral } from '../../shared/attestation/index.js';

export const COLLATERAL_FILES = {
  tcbInfo: 'tcb_info.json',
  tcbInfoIssuerChain: 'tcb_info_issuer_chain.pem',
  qeIdentity: 'qe_identity.json',
  qeIdentityIssuerChain: 'qe_identity_issuer_chain.pem',
  pckCrl: ['pck_crl_platform.der', 'pck_crl_processor.der', 'pck_crl.der'],
  pckCrlIssuerChain: 'pck_crl_issuer_chain.pem',
  rootCrl: 'root_ca_crl.der',
} as const;

export function readCollateralDir(dir: string): TdxCollateral {
  const text = (name: string): string | undefined => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined);
  const bin = (names: readonly string[]): Uint8Array | undefined => {
    for (const n of names) if (existsSync(join(dir, n))) return new Uint8Array(readFileSync(join(dir, n)));
    return undefined;
  };
  const out: TdxCollateral = {};
  const set = <K extends keyof TdxCollateral>(k: K, v: TdxCollateral[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('tcbInfo', text(COLLATERAL_FILES.tcbInfo));
  set('tcbInfoIssuerChain', text(COLLATERAL_FILES.tcbInfoIssuerChain));
  set('qeIdentity', text(COLLATERAL_FILES.qeIdentity));
  set('qeIdentityIssuerChain', text(COLLATERAL_FILES.qeIdentityIssuerChain));
  set('pckCrl', bin(COLLATERAL_FILES.pckCrl));
  set('pckCrlIssuerChain', text(COLLATERAL_FILES.pckCrlIssuerChain));
  set('rootCrl', bin([COLLATERAL_FILES.rootCrl]));
  return out;
}
