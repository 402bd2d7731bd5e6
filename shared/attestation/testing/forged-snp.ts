/**
 * The forged SEV-SNP evidence the review used: a self-made ARK -> ASK -> VCEK chain carrying the
 * real certificates' names and the real VCEK's extensions (product, TCB, hwID), and a real
 * report with its debug bit cleared, re-signed with the forged VCEK key. Everything about it is
 * consistent except that its ARK is not AMD's, so only the trust anchor check can refuse it.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extension, Extensions, id_ce_basicConstraints, BasicConstraints, SubjectPublicKeyInfo, TBSCertificate, Validity, Version, type Name } from '@peculiar/asn1-x509';
import { splitCertificates } from '../certs.js';
import { derToPem } from './fixtures.js';

const SIG_OFFSET = 0x2a0;
const POLICY_DEBUG_BYTE = 0x08 + 2; // policy bit 19
const POLICY_DEBUG_MASK = 0x08;

export interface ForgedSnp {
  /** The report, debug cleared, signed by the forged VCEK. */
  report: Uint8Array;
  /** Forged VCEK, DER. */
  vcek: Uint8Array;
  /** Forged ASK then ARK, PEM (KDS order). */
  chain: string;
  /** Forged ARK, PEM: as a --trust-roots file it makes the forged evidence verify. */
  arkPem: string;
}

const ECDSA_SHA384 = '1.2.840.10045.4.3.3';

interface Issuer {
  name: Name;
  key: KeyObject;
}

/** A v3 certificate for `subjectKey` named `subject`, signed ECDSA-SHA384 by `issuer` (itself when absent). */
function certificate(serial: number, subject: Name, subjectKey: KeyObject, issuer: Issuer, extensions: Extension[]): Uint8Array {
  const alg = new AlgorithmIdentifier({ algorithm: ECDSA_SHA384 });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array([serial]).buffer,
    signature: alg,
    issuer: issuer.name,
    validity: new Validity({ notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2045-01-01T00:00:00Z') }),
    subject,
    subjectPublicKeyInfo: AsnConvert.parse(subjectKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    extensions: new Extensions(extensions),
  });
  const signature = sign('sha384', Buffer.from(AsnConvert.serialize(tbs)), { key: issuer.key, dsaEncoding: 'der' });
  return new Uint8Array(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: alg, signatureValue: new Uint8Array(signature).buffer })));
}

/** Re-signs `report` (ECDSA P-384 / SHA-384 over bytes 0..0x29F; r and s little-endian in 72-byte fields). */
export function resignSnpReport(report: Uint8Array, key: KeyObject): Uint8Array {
  const rep = new Uint8Array(report);
  const sig = sign('sha384', rep.subarray(0, SIG_OFFSET), { key, dsaEncoding: 'ieee-p1363' });
  rep.fill(0, SIG_OFFSET, SIG_OFFSET + 144);
  for (let i = 0; i < 48; i++) {
    rep[SIG_OFFSET + i] = sig[47 - i]!;
    rep[SIG_OFFSET + 72 + i] = sig[95 - i]!;
  }
  return rep;
}

/**
 * Forges the chain for `realVcek` (DER) under the names of `realChain` (ASK, ARK PEM) and re-signs
 * `report`. `bareVcek` leaves the real VCEK's extensions (product, TCB, hwID) out.
 */
export function forgeSnp(report: Uint8Array, realVcek: Uint8Array, realChain: Uint8Array, opts: { bareVcek?: boolean } = {}): ForgedSnp {
  const [askDer, arkDer] = splitCertificates(realChain, 'real chain');
  const parse = (d: Uint8Array): TBSCertificate => AsnConvert.parse(d, Certificate).tbsCertificate;
  const real = { vcek: parse(realVcek), ask: parse(askDer!), ark: parse(arkDer!) };
  const key = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const [arkKey, askKey, vcekKey] = [key(), key(), key()];
  const ca = [new Extension({ extnID: id_ce_basicConstraints, critical: true, extnValue: new OctetString(AsnConvert.serialize(new BasicConstraints({ cA: true }))) })];
  const ark = certificate(1, real.ark.subject, arkKey.publicKey, { name: real.ark.subject, key: arkKey.privateKey }, ca);
  const ask = certificate(2, real.ask.subject, askKey.publicKey, { name: real.ark.subject, key: arkKey.privateKey }, ca);
  const vcek = certificate(0, real.vcek.subject, vcekKey.publicKey, { name: real.ask.subject, key: askKey.privateKey }, opts.bareVcek ? [] : [...(real.vcek.extensions ?? [])]);
  const cleared = new Uint8Array(report);
  cleared[POLICY_DEBUG_BYTE] = cleared[POLICY_DEBUG_BYTE]! & ~POLICY_DEBUG_MASK;
  return { report: resignSnpReport(cleared, vcekKey.privateKey), vcek, chain: derToPem(ask) + derToPem(ark), arkPem: derToPem(ark) };
}
