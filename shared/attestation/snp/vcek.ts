/**
 * What a VCEK / VLEK certificate says about the chip and TCB it was issued for (AMD "Versioned
 * Chip Endorsement Key (VCEK) Certificate and KDS Interface Specification", extension OIDs
 * 1.3.6.1.4.1.3704.1.x), and which product a chain belongs to.
 */
import type { Cert } from '../certs.js';
import { derInteger, derString } from '../der.js';
import type { SnpProduct, TcbVersion } from './report.js';

export const OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const;

const PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

/** Product named in a CN such as `SEV-Milan`, `ARK-Genoa`, `SEV-VLEK-Turin`. */
export function productFromName(cn: string): SnpProduct | undefined {
  return PRODUCTS.find((p) => new RegExp(`(^|-)${p}($|-)`).test(cn));
}

export interface EndorsementKeyInfo {
  kind: 'vcek' | 'vlek' | 'unknown';
  product?: SnpProduct;
  productName?: string;
  tcb?: TcbVersion;
  hwId?: Uint8Array;
  cspId?: string;
}

export function endorsementKeyInfo(c: Cert): EndorsementKeyInfo {
  const ext = c.extensions;
  const info: EndorsementKeyInfo = { kind: c.cn === 'SEV-VCEK' ? 'vcek' : c.cn === 'SEV-VLEK' ? 'vlek' : 'unknown' };
  const pn = ext.get(OID.productName);
  if (pn) {
    info.productName = derString(pn, `${c.role} productName extension`);
    const p = productFromName(info.productName.split('-')[0]!);
    if (p) info.product = p;
  }
  if (!info.product) {
    const p = productFromName(/CN=([^\n]*)/.exec(c.x509.issuer)?.[1] ?? '');
    if (p) info.product = p;
  }
  const int = (oid: string, name: string): number | undefined => {
    const v = ext.get(oid);
    return v ? derInteger(v, `${c.role} ${name} extension`) : undefined;
  };
  const bl = int(OID.blSpl, 'blSPL');
  const tee = int(OID.teeSpl, 'teeSPL');
  const snp = int(OID.snpSpl, 'snpSPL');
  const ucode = int(OID.ucodeSpl, 'ucodeSPL');
  const fmc = int(OID.fmcSpl, 'fmcSPL');
  if (bl !== undefined && tee !== undefined && snp !== undefined && ucode !== undefined) {
    info.tcb = { bootloader: bl, tee, snp, microcode: ucode, ...(fmc !== undefined ? { fmc } : {}) };
  }
  const hw = ext.get(OID.hwId);
  if (hw) info.hwId = hw;
  const csp = ext.get(OID.cspId);
  if (csp) info.cspId = derString(csp, `${c.role} cspID extension`);
  return info;
}
