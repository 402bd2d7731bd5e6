/**
 * The Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1): FMSPC, PCE-ID and
 * the TCB the PCK was issued for (16 SGX component SVNs, PCESVN, CPUSVN). Intel "SGX PCK
 * Certificate and Certificate Revocation List Profile Specification".
 */
import * as asn1js from 'asn1js';
import type { Cert } from '../certs.js';
import { parseDer, oidOf } from '../der.js';
import { fail, Reason } from '../errors.js';

export const SGX_EXTENSIONS_OID = '1.2.840.113741.1.13.1';

export interface PckInfo {
  fmspc: Uint8Array;
  pceId: Uint8Array;
  sgxTcbComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
}

function pairs(seq: asn1js.AsnType, what: string): Map<string, asn1js.AsnType> {
  if (!(seq instanceof asn1js.Sequence)) return fail(Reason.CertMalformed, `${what}: expected a SEQUENCE`);
  const out = new Map<string, asn1js.AsnType>();
  for (const item of seq.valueBlock.value) {
    if (!(item instanceof asn1js.Sequence) || item.valueBlock.value.length < 2) return fail(Reason.CertMalformed, `${what}: expected SEQUENCE { OID, value }`);
    const oid = oidOf(item.valueBlock.value[0]!);
    if (!oid) return fail(Reason.CertMalformed, `${what}: entry without an OID`);
    out.set(oid, item.valueBlock.value[1]!);
  }
  return out;
}

function octets(v: asn1js.AsnType | undefined, what: string): Uint8Array {
  if (!(v instanceof asn1js.OctetString)) return fail(Reason.CertMalformed, `${what}: expected an OCTET STRING`);
  return new Uint8Array(v.valueBlock.valueHexView);
}

function int(v: asn1js.AsnType | undefined, what: string): number {
  if (!(v instanceof asn1js.Integer)) return fail(Reason.CertMalformed, `${what}: expected an INTEGER`);
  return v.valueBlock.valueDec;
}

export function pckInfo(c: Cert): PckInfo {
  const raw = c.extensions.get(SGX_EXTENSIONS_OID);
  if (!raw) return fail(Reason.CertMalformed, `PCK (CN=${c.cn}) has no SGX extensions (${SGX_EXTENSIONS_OID})`);
  const top = pairs(parseDer(raw, 'PCK SGX extensions'), 'PCK SGX extensions');
  const base = SGX_EXTENSIONS_OID;
  const tcb = pairs(top.get(`${base}.2`) ?? new asn1js.Null(), 'PCK SGX TCB');
  const comps: number[] = [];
  for (let i = 1; i <= 16; i++) comps.push(int(tcb.get(`${base}.2.${i}`), `PCK SGX TCB comp ${i}`));
  return {
    fmspc: octets(top.get(`${base}.4`), 'PCK FMSPC'),
    pceId: octets(top.get(`${base}.3`), 'PCK PCE-ID'),
    sgxTcbComponents: comps,
    pceSvn: int(tcb.get(`${base}.2.17`), 'PCK PCESVN'),
    cpuSvn: octets(tcb.get(`${base}.2.18`), 'PCK CPUSVN'),
  };
}
