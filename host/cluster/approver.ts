/**
 * An approver for kubelet serving certificates (`kubernetes.io/kubelet-serving`): the
 * controller-manager signs such CSRs but approves none (the requester's identity alone does not say
 * which names it may claim), so `cocolet cluster up` runs this with admin credentials, as a cluster
 * would run kubelet-csr-approver. A CSR is approved only when everything in it belongs to the node
 * that sent it:
 *   - sent by `system:node:<name>` in group `system:nodes`, signer kubelet-serving;
 *   - a PKCS#10 request whose self-signature verifies, subject exactly O=system:nodes,
 *     CN=system:node:<name>;
 *   - usages `server auth` plus at most `digital signature` / `key encipherment`;
 *   - at least one subject alternative name, only DNS names and IPs, each one of the Node's own
 *     addresses (DNS names from Hostname / InternalDNS / ExternalDNS, IPs from InternalIP /
 *     ExternalIP) — so a node cannot get a certificate for another node's name or address.
 * Anything else is denied with the reason; a CSR whose Node does not exist yet waits (the kubelet
 * asks for its certificate while it registers). CSRs are listed every `intervalMs` (1 s).
 */
import { createPublicKey, verify } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn from '@peculiar/asn1-x509';
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import { loadKubeconfig } from '../kubelet/client/kubeconfig.js';
import { isNotFound, restClient, type RestClient } from '../kubelet/client/rest.js';
import { KUBELET_SERVING_SIGNER } from '../kubelet/node/bootstrap.js';

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const ALLOWED_USAGES = new Set(['digital signature', 'key encipherment', 'server auth']);
const OID_SAN = '2.5.29.17';
const OID_O = '2.5.4.10';
const OID_CN = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
/** Signature algorithms a CSR may use, with the hash node:crypto verifies with. */
const SIGNATURE_HASH: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
};

/** What the approver reads from a PKCS#10 request. */
export interface ParsedCsr {
  /** Subject attributes in order, `O=...` / `CN=...` (others by OID). */
  subject: string[];
  /** Subject alternative names; `type` other than dns / ip names the GeneralName kind. */
  names: { type: string; value: string }[];
  /** Whether the self-signature verifies with the request's own key. */
  signatureValid: boolean;
}

/** Parses a PEM PKCS#10 request (throws naming what is malformed). */
export function parseCsr(pem: string): ParsedCsr {
  const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(pem);
  if (!m) throw new Error('no PEM CERTIFICATE REQUEST block');
  const der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  const top = asn1js.fromBER(new Uint8Array(der).buffer);
  if (top.offset === -1 || !(top.result instanceof asn1js.Sequence)) throw new Error('not a DER SEQUENCE');
  const [info, alg, sig] = top.result.valueBlock.value;
  if (!(info instanceof asn1js.Sequence) || !(alg instanceof asn1js.Sequence) || !(sig instanceof asn1js.BitString)) throw new Error('not a CertificationRequest (info, algorithm, signature)');
  const [, subjectBlock, spkiBlock, attrsBlock] = info.valueBlock.value;
  if (!subjectBlock || !spkiBlock) throw new Error('CertificationRequestInfo lacks subject or key');
  const subject = [...AsnConvert.parse(subjectBlock.toBER(false), asn.Name)].flatMap((rdn) =>
    [...rdn].map((atv) => `${atv.type === OID_O ? 'O' : atv.type === OID_CN ? 'CN' : atv.type}=${atv.value.toString()}`),
  );
  const algOid = alg.valueBlock.value[0] instanceof asn1js.ObjectIdentifier ? alg.valueBlock.value[0].valueBlock.toString() : '';
  const hash = SIGNATURE_HASH[algOid];
  let signatureValid = false;
  if (hash) {
    try {
      const key = createPublicKey({ key: Buffer.from(spkiBlock.toBER(false)), format: 'der', type: 'spki' });
      signatureValid = verify(hash, Buffer.from(info.toBER(false)), key, Buffer.from(sig.valueBlock.valueHexView));
    } catch {
      signatureValid = false;
    }
  }
  const names: ParsedCsr['names'] = [];
  const attrs = attrsBlock instanceof asn1js.Constructed ? attrsBlock.valueBlock.value : [];
  for (const a of attrs) {
    const attr = AsnConvert.parse(a.toBER(false), asn.Attribute);
    if (attr.type !== OID_EXTENSION_REQUEST) continue;
    for (const v of attr.values) {
      for (const ext of AsnConvert.parse(v, asn.Extensions)) {
        if (ext.extnID !== OID_SAN) continue;
        for (const g of AsnConvert.parse(ext.extnValue.buffer, asn.SubjectAlternativeName)) {
          if (g.dNSName !== undefined) names.push({ type: 'dns', value: g.dNSName });
          else if (g.iPAddress !== undefined) names.push({ type: 'ip', value: g.iPAddress });
          else names.push({ type: g.rfc822Name !== undefined ? 'email' : g.uniformResourceIdentifier !== undefined ? 'uri' : 'other', value: '' });
        }
      }
    }
  }
  return { subject, names, signatureValid };
}

export interface CsrObject {
  metadata: { name: string; resourceVersion?: string };
  spec: { request: string; signerName: string; usages?: string[]; username?: string; groups?: string[] };
  status?: { conditions?: { type: string; status?: string; reason?: string; message?: string }[]; certificate?: string };
}

export interface NodeAddressesOf {
  status?: { addresses?: { type: string; address: string }[] };
}

export type ServingCsrVerdict = { verdict: 'approve' } | { verdict: 'deny'; reason: string } | { verdict: 'wait'; reason: string };

/** The node a CSR's requester is (`system:node:<name>` in `system:nodes`), if it is one. */
export function requestingNode(csr: CsrObject): string | undefined {
  const m = /^system:node:(.+)$/.exec(csr.spec.username ?? '');
  return m && (csr.spec.groups ?? []).includes('system:nodes') ? m[1] : undefined;
}

/**
 * Whether a kubelet-serving CSR may be approved. `node` is the requester's Node (undefined: not
 * registered yet).
 */
export async function judgeServingCsr(csr: CsrObject, node: NodeAddressesOf | undefined): Promise<ServingCsrVerdict> {
  const deny = (reason: string): ServingCsrVerdict => ({ verdict: 'deny', reason });
  if (csr.spec.signerName !== KUBELET_SERVING_SIGNER) return deny(`signer ${csr.spec.signerName} is not ${KUBELET_SERVING_SIGNER}`);
  const name = requestingNode(csr);
  if (!name) return deny(`requester ${JSON.stringify(csr.spec.username ?? '')} is not a node (system:node:<name> in system:nodes)`);
  const usages = csr.spec.usages ?? [];
  if (!usages.includes('server auth')) return deny('usages lack "server auth"');
  const extra = usages.filter((u) => !ALLOWED_USAGES.has(u));
  if (extra.length) return deny(`usages ${extra.map((u) => JSON.stringify(u)).join(', ')} are not those of a serving certificate`);
  let req: ParsedCsr;
  try {
    req = parseCsr(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
  } catch (e) {
    return deny(`the request is not a PKCS#10 certificate request: ${(e as Error).message}`);
  }
  if (!req.signatureValid) return deny("the request's self-signature does not verify");
  const want = ['O=system:nodes', `CN=system:node:${name}`];
  if (req.subject.length !== 2 || !want.every((w) => req.subject.includes(w))) return deny(`subject ${JSON.stringify(req.subject.join(', '))} is not O=system:nodes, CN=system:node:${name}`);
  const names = req.names;
  if (!names.length) return deny('the request names no DNS name or IP address');
  const other = names.filter((n) => n.type !== 'dns' && n.type !== 'ip');
  if (other.length) return deny(`subject alternative names of type ${[...new Set(other.map((n) => n.type))].join(', ')} are not allowed`);
  if (!node) return { verdict: 'wait', reason: `Node ${name} does not exist yet` };
  const addrs = node.status?.addresses ?? [];
  const own = (types: string[]): Set<string> => new Set(addrs.filter((a) => types.includes(a.type)).map((a) => a.address.toLowerCase()));
  const dns = own(['Hostname', 'InternalDNS', 'ExternalDNS']);
  const ips = own(['InternalIP', 'ExternalIP']);
  const foreign = names.filter((n) => !(n.type === 'dns' ? dns : ips).has(n.value.toLowerCase()));
  if (foreign.length) return deny(`${foreign.map((n) => `${n.type === 'dns' ? 'DNS name' : 'IP'} ${n.value}`).join(', ')} ${foreign.length === 1 ? 'is' : 'are'} not an address of Node ${name}`);
  return { verdict: 'approve' };
}

const decided = (csr: CsrObject): boolean => (csr.status?.conditions ?? []).some((c) => c.type === 'Approved' || c.type === 'Denied' || c.type === 'Failed');

export interface ServingCsrApprover {
  /** Approved and denied so far, by CSR name (tests, logs). */
  readonly approved: string[];
  readonly denied: Map<string, string>;
  /** One pass over the pending CSRs (also what the loop runs). */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the approval loop with `adminKubeconfig`'s credentials. */
export function startServingCsrApprover(o: { adminKubeconfig?: string; api?: RestClient; intervalMs?: number; logger?: Logger }): ServingCsrApprover {
  const api = o.api ?? restClient(loadKubeconfig(o.adminKubeconfig ?? ''));
  const log = (o.logger ?? silentLogger()).child({ component: 'serving-csr-approver' });
  const approved: string[] = [];
  const denied = new Map<string, string>();
  const waiting = new Set<string>();
  const decide = async (csr: CsrObject, type: 'Approved' | 'Denied', reason: string, message: string): Promise<void> => {
    const conditions = [...(csr.status?.conditions ?? []), { type, status: 'True', reason, message, lastUpdateTime: new Date().toISOString() }];
    await api.update(`${CSR_PATH}/${csr.metadata.name}/approval`, { ...csr, status: { ...csr.status, conditions } });
  };
  const pass = async (): Promise<void> => {
    const list = await api.get<{ items: CsrObject[] }>(CSR_PATH);
    for (const csr of list.items) {
      if (csr.spec.signerName !== KUBELET_SERVING_SIGNER || decided(csr)) continue;
      const name = requestingNode(csr);
      const node = name ? await api.get<NodeAddressesOf>(`/api/v1/nodes/${encodeURIComponent(name)}`).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e))) : undefined;
      const v = await judgeServingCsr(csr, node);
      const ctx = { csr: csr.metadata.name, requester: csr.spec.username };
      if (v.verdict === 'wait') {
        if (!waiting.has(csr.metadata.name)) log.info({ ...ctx, reason: v.reason }, 'serving CSR waits');
        waiting.add(csr.metadata.name);
      } else if (v.verdict === 'approve') {
        await decide(csr, 'Approved', 'CocoletServingApproved', `the names requested are Node ${name}'s own addresses`);
        approved.push(csr.metadata.name);
        log.info(ctx, 'serving CSR approved');
      } else {
        await decide(csr, 'Denied', 'CocoletServingDenied', v.reason);
        denied.set(csr.metadata.name, v.reason);
        log.warn({ ...ctx, reason: v.reason }, 'serving CSR denied');
      }
    }
  };
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      await pass().catch((e: unknown) => log.warn({ err: e }, 'serving CSR pass failed'));
      if (!running) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, o.intervalMs ?? 1000);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  return {
    approved,
    denied,
    pass,
    stop: async () => {
      running = false;
      wake?.();
      await loop;
    },
  };
}
